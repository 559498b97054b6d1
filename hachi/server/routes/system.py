"""Health, status and the API's own description."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hachi.server.auth import public
from hachi.server.context import library
from hachi.server.openapi import openapi_document

bp = Blueprint("system", __name__)


@bp.get("/health")
@public
def health() -> ResponseReturnValue:
    """Says only that the process answers: it is public, so it reveals nothing else."""
    return jsonify({"ok": True})


@bp.get("/status")
def status() -> ResponseReturnValue:
    return jsonify(library().status())


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())
