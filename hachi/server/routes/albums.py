"""Albums (list, create, read, rename or re-query, delete, add and remove photos), and
acting on a selection of photos: their paths, or all of them as a streamed zip.

A selection is ``{"ids": [...]}`` (photos chosen one by one) or ``{"query": "..."}``
(every photo the query finds: "select all N results" without sending N ids), with
``"except": [...]`` for the ones unselected after that.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from hachi.errors import BadRequest
from hachi.library_albums import MAX_ALBUM_NAME, MAX_PHOTOS_PER_CALL
from hachi.server.context import library
from hachi.server.params import MAX_ID, json_object, parse_id, query_text
from hachi.server.routes.search import MAX_QUERY_LENGTH
from hachi.server.zipstream import Member, stream_zip

MAX_NAME_FIELD = 4 * MAX_ALBUM_NAME  # spaces around a name are trimmed, so allow some
MAX_IDS_PARAM = 20 * MAX_PHOTOS_PER_CALL  # ?ids=1,2,3 of a download link
ZIP_NAME = "hachi-photos.zip"

bp = Blueprint("albums", __name__)


def _text_field(body: dict[str, Any], name: str, max_length: int) -> str | None:
    """A text field, None when absent (null is not text: it is refused, as documented)."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string", {"field": name})
    if len(value) > max_length:
        raise BadRequest(f"field {name!r} is longer than {max_length} characters", {"field": name})
    return value


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}", {"field": unknown[0]})


def _ids(value: object, field: str = "ids") -> list[int]:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"field {field!r} must be a non-empty list of photo ids", {"field": field})
    if len(value) > MAX_PHOTOS_PER_CALL:
        raise BadRequest(f"at most {MAX_PHOTOS_PER_CALL} photo ids at a time", {"field": field})
    ids = []
    for item in value:
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        if not isinstance(item, int) or isinstance(item, bool) or not 0 < item <= MAX_ID:
            raise BadRequest(
                f"field {field!r} must hold photo ids (positive integers)", {"field": field}
            )
        ids.append(item)
    return ids


def _ids_param(raw: str, field: str) -> list[int]:
    """``1,2,3`` of a link's query string."""
    parts = raw.split(",") if len(raw) <= MAX_IDS_PARAM else []
    if not all(p.isascii() and p.isdigit() and 0 < len(p) <= 19 for p in parts):
        raise BadRequest(f"{field} must be photo ids separated by commas", {"field": field})
    return _ids([int(p) for p in parts], field)


def _selection(body: dict[str, Any]) -> list[int]:
    """``ids``, or ``query`` with the ``except`` ids unselected after "select all"."""
    _only(body, {"ids", "query", "except"})
    ids = _ids(body["ids"]) if "ids" in body else None
    query = _text_field(body, "query", MAX_QUERY_LENGTH)
    excluded = _ids(body["except"], "except") if "except" in body else []
    return library().albums.selection(ids, query, excluded)


@bp.get("/albums")
def list_albums() -> ResponseReturnValue:
    return jsonify({"albums": library().albums.listed()})


@bp.post("/albums")
def create_album() -> ResponseReturnValue:
    body = json_object()
    _only(body, {"name", "query"})
    if "name" not in body:
        raise BadRequest("field 'name' is required", {"field": "name"})
    name = _text_field(body, "name", MAX_NAME_FIELD)
    query = _text_field(body, "query", MAX_QUERY_LENGTH)
    return jsonify(library().albums.create(name, query)), 201


@bp.get("/albums/<album_id>")
def get_album(album_id: str) -> ResponseReturnValue:
    return jsonify(library().albums.get(parse_id(album_id, "album")))


@bp.patch("/albums/<album_id>")
def update_album(album_id: str) -> ResponseReturnValue:
    aid = parse_id(album_id, "album")
    library().albums.get(aid)
    body = json_object()
    _only(body, {"name", "query"})
    if not body:
        raise BadRequest("send 'name' and/or 'query'", {"field": "name"})
    name = _text_field(body, "name", MAX_NAME_FIELD)
    query = _text_field(body, "query", MAX_QUERY_LENGTH)
    return jsonify(library().albums.update(aid, name=name, query=query))


@bp.delete("/albums/<album_id>")
def delete_album(album_id: str) -> ResponseReturnValue:
    library().albums.delete(parse_id(album_id, "album"))
    return "", 204


@bp.post("/albums/<album_id>/photos")
def add_to_album(album_id: str) -> ResponseReturnValue:
    aid = parse_id(album_id, "album")
    library().albums.get(aid)
    return jsonify(library().albums.add(aid, _selection(json_object())))


@bp.post("/albums/<album_id>/photos/remove")
def remove_from_album(album_id: str) -> ResponseReturnValue:
    aid = parse_id(album_id, "album")
    library().albums.get(aid)
    body = json_object()
    _only(body, {"ids"})
    return jsonify(library().albums.remove(aid, _ids(body.get("ids"))))


@bp.post("/selection/paths")
def selection_paths() -> ResponseReturnValue:
    """Where the selected photos are on disk (the UI's "copy paths")."""
    ids = _selection(json_object())
    rows = library().albums.paths(ids)
    return jsonify({"photos": [{"id": i, "path": p} for i, p in rows]})


@bp.post("/selection/download")
def download() -> ResponseReturnValue:
    """The selected photos as one zip, streamed as it is made (for scripts: a JSON body)."""
    return _zip(_selection(json_object()))


@bp.get("/selection/download")
def download_link() -> ResponseReturnValue:
    """The same as a link (``?ids=1,2,3`` or ``?query=...``), which a browser saves as it
    arrives. A GET changes nothing, and the session cookie is SameSite=Strict, so another
    site cannot have it fetched with the user's session."""
    args = request.args
    _only(dict(args), {"ids", "query", "except"})
    if ("ids" in args) == ("query" in args):
        raise BadRequest("send either 'ids' or 'query'", {"field": "ids"})
    excluded = _ids_param(args["except"], "except") if "except" in args else []
    if "query" in args:
        query = query_text("query", max_length=MAX_QUERY_LENGTH)
        return _zip(library().albums.selection(None, query, excluded))
    return _zip(library().albums.selection(_ids_param(args["ids"], "ids"), None, excluded))


def _zip(ids: list[int]) -> Response:
    originals = library().originals(ids)  # read as the zip is written
    members = (Member(i, name, path) for i, name, path in originals)
    response = Response(stream_zip(members), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{ZIP_NAME}"'
    response.headers["Cache-Control"] = "no-store"
    return response
