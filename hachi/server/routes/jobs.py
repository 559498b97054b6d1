"""The background indexing job: watch it, cancel it."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hachi.server.context import library
from hachi.server.params import parse_id

bp = Blueprint("jobs", __name__)


@bp.get("/jobs/current")
def current_job() -> ResponseReturnValue:
    lib = library()
    job = lib.current_job()
    return jsonify({"job": None if job is None else lib.job_dict(job)})


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    lib = library()
    return jsonify(lib.job_dict(lib.get_job(parse_id(job_id, "job"))))


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    lib = library()
    return jsonify(lib.job_dict(lib.cancel_job(parse_id(job_id, "job"))))
