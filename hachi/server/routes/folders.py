"""Indexed folders and the files that failed in them."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hachi.server import browse as folder_picker
from hachi.server.context import library
from hachi.server.params import (
    MAX_ID,
    MAX_OFFSET,
    body_text,
    json_object,
    parse_id,
    query_int,
    query_text,
)

MAX_PATH_LENGTH = 4096
MAX_FAILED_PAGE = 1000
DEFAULT_FAILED_PAGE = 100

bp = Blueprint("folders", __name__)


@bp.get("/folders")
def list_folders() -> ResponseReturnValue:
    return jsonify({"folders": library().folder_dicts()})


@bp.post("/folders")
def add_folder() -> ResponseReturnValue:
    path = body_text(json_object(), "path", MAX_PATH_LENGTH)
    folder, job = library().add_folder(path)
    return jsonify({"folder": folder.to_dict(), "job": library().job_dict(job)}), 201


@bp.get("/browse")
def browse() -> ResponseReturnValue:
    """Sub-folders for the folder picker (home and indexed folders only)."""
    path = query_text("path", max_length=MAX_PATH_LENGTH) or None
    indexed = [Path(f.path) for f in library().list_folders()]
    return jsonify(folder_picker.browse(path, Path.home(), indexed, library().rules))


@bp.delete("/folders/<folder_id>")
def remove_folder(folder_id: str) -> ResponseReturnValue:
    library().remove_folder(parse_id(folder_id, "folder"))
    return "", 204


@bp.post("/folders/<folder_id>/rescan")
def rescan_folder(folder_id: str) -> ResponseReturnValue:
    job = library().rescan([parse_id(folder_id, "folder")])
    return jsonify({"job": library().job_dict(job)}), 202


@bp.get("/failed")
def failed_files() -> ResponseReturnValue:
    folder_id = query_int("folder_id", 0, 1, MAX_ID) or None
    limit = query_int("limit", DEFAULT_FAILED_PAGE, 1, MAX_FAILED_PAGE)
    offset = query_int("offset", 0, 0, MAX_OFFSET)
    items = library().failed_files(folder_id, limit, offset)
    return jsonify({"failed": items, "limit": limit, "offset": offset})
