"""People and faces: list, name, merge, hide, and per-face corrections."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, send_file
from flask.typing import ResponseReturnValue

from hachi.errors import BadRequest
from hachi.server.context import library
from hachi.server.params import MAX_ID, json_object, parse_id, query_choice
from hachi.server.urls import with_face_url

bp = Blueprint("people", __name__)


def _optional_name(body: dict[str, Any]) -> str | None:
    value = body.get("name")
    if value is not None and not isinstance(value, str):
        raise BadRequest("field 'name' must be a string or null", {"field": "name"})
    return value


def _body_id(body: dict[str, Any], field: str, required: bool) -> int | None:
    """An id field of a JSON body: a positive integer (JSON true is not 1 here; 7.0 is 7,
    as JSON has one number type)."""
    value = body.get(field)
    if value is None and not required:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID:
        raise BadRequest(f"field {field!r} must be a person id", {"field": field})
    return value


@bp.get("/people")
def list_people() -> ResponseReturnValue:
    everyone = query_choice("all", ("0", "1", "true", "false"), "0") in ("1", "true")
    found = library().people.listed(include_hidden=everyone, min_faces=1 if everyone else 2)
    return jsonify({"people": found})


@bp.get("/people/<person_id>")
def get_person(person_id: str) -> ResponseReturnValue:
    return jsonify(library().people.get(parse_id(person_id, "person")))


@bp.patch("/people/<person_id>")
def update_person(person_id: str) -> ResponseReturnValue:
    pid = parse_id(person_id, "person")
    person = library().people.get(pid)
    body = json_object()
    unknown = set(body) - {"name", "hidden"}
    if unknown or not body:
        raise BadRequest("send 'name' and/or 'hidden'", {"field": ", ".join(sorted(unknown))})
    if "hidden" in body and not isinstance(body["hidden"], bool):
        raise BadRequest("field 'hidden' must be true or false", {"field": "hidden"})
    if "name" in body:
        person = library().people.rename(pid, _optional_name(body))
    if "hidden" in body:
        person = library().people.hide(pid, body["hidden"])
    return jsonify(person)


@bp.post("/people/<person_id>/merge")
def merge_person(person_id: str) -> ResponseReturnValue:
    pid = parse_id(person_id, "person")
    library().people.get(pid)
    into = _body_id(json_object(), "into", required=True)
    assert into is not None
    return jsonify(library().people.merge(pid, into))


@bp.post("/people/merges/<merge_id>/undo")
def undo_merge(merge_id: str) -> ResponseReturnValue:
    return jsonify(library().people.unmerge(parse_id(merge_id, "merge")))


@bp.get("/people/<person_id>/faces")
def person_faces(person_id: str) -> ResponseReturnValue:
    pid = parse_id(person_id, "person")
    library().people.get(pid)
    return jsonify({"faces": [with_face_url(f) for f in library().people.faces(person_id=pid)]})


@bp.post("/people/recluster")
def recluster() -> ResponseReturnValue:
    return jsonify({"changed": library().people.update(full=True)})


@bp.get("/faces/<face_id>/thumbnail")
def face_thumbnail(face_id: str) -> ResponseReturnValue:
    path = library().people.face_thumbnail(parse_id(face_id, "face"))
    response = send_file(path, mimetype="image/webp", conditional=True, etag=True)
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response


@bp.post("/faces/<face_id>/assign")
def assign_face(face_id: str) -> ResponseReturnValue:
    fid = parse_id(face_id, "face")
    library().people.face(fid)
    body = json_object()
    person = _body_id(body, "person_id", required=False)
    return jsonify(library().people.assign_face(fid, person_id=person, name=_optional_name(body)))


@bp.post("/faces/<face_id>/reject")
def reject_face(face_id: str) -> ResponseReturnValue:
    return jsonify(library().people.reject_face(parse_id(face_id, "face")))


@bp.post("/faces/<face_id>/unreject")
def unreject_face(face_id: str) -> ResponseReturnValue:
    fid = parse_id(face_id, "face")
    library().people.face(fid)
    body = json_object()
    person = _body_id(body, "person_id", required=True)
    assert person is not None
    locked = body.get("was_locked", False)
    if not isinstance(locked, bool):
        raise BadRequest("field 'was_locked' must be true or false", {"field": "was_locked"})
    return jsonify(library().people.unreject_face(fid, person, locked))
