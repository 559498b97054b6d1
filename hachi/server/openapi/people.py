"""OpenAPI paths of people, faces and search by photo (see openapi.py for the rest)."""

from __future__ import annotations

from hachi.library_people import MAX_NAME
from hachi.server.openapi.parts import (
    BOOL,
    ID,
    INT,
    STR,
    Schema,
    json_content,
    link,
    linked,
    nullable,
    obj,
    operation,
    path_id,
    query,
    ref,
    text,
)
from hachi.server.routes.folders import MAX_PATH_LENGTH
from hachi.server.routes.overview import MAX_PLACE_LENGTH
from hachi.server.routes.search import (
    DEFAULT_SEARCH_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_QUERY_LENGTH,
    MAX_SEARCH_LIMIT,
)
from hachi.server.security import MAX_UPLOAD_LENGTH

PERSON: Schema = obj(
    ("id", "name", "hidden", "faces", "photos", "cover_face_id"),
    id=INT,
    name=nullable("string"),
    hidden=BOOL,
    faces=INT,
    photos=INT,
    cover_face_id=nullable("integer"),
)
FACE: Schema = obj(
    ("id", "photo_id", "path", "box", "score", "person_id", "person_name"),
    id=INT,
    photo_id=INT,
    path=STR,
    box={"type": "array", "items": INT},
    box_fraction={"type": "array", "items": {"type": "number"}},
    score={"type": "number"},
    person_id=nullable("integer"),
    person_name=nullable("string"),
    assigned_by=STR,
    thumbnail_url=STR,
)
MERGED: Schema = {
    **PERSON,
    "required": [*PERSON["required"], "merge_id"],
    "properties": {**PERSON["properties"], "merge_id": INT},
}
CURSOR = query("cursor", text(MAX_CURSOR_LENGTH), "`next_cursor` of the previous page.")
# A name as library_people checks it: at most MAX_NAME characters, none of them a control.
NAME = {"type": "string", "maxLength": MAX_NAME, "pattern": "^[^\\u0000-\\u001f]*$"}
SOME_NAME = {**NAME, "pattern": "^[^\\u0000-\\u001f]*[^\\s\\u0000-\\u001f][^\\u0000-\\u001f]*$"}
MORE = query(
    "more",
    {"type": "integer", "minimum": 0, "maximum": 2, "default": 0},
    "Loosen the relevance cutoff: 1 looser, 2 everything ranked.",
)


def face_links(at: str) -> dict[str, Schema]:
    """Links from a face object at JSON pointer ``at`` of an answer ("" for the root)."""
    face_id = f"$response.body#{at}/id"
    return {
        "FaceThumbnail": link("faceThumbnail", face_id=face_id),
        "AssignFace": link("assignFace", face_id=face_id),
        "RejectFace": link("rejectFace", face_id=face_id),
    }


def person_links(at: str) -> dict[str, Schema]:
    """Links from a person object at ``at``: read, rename, list faces, merge into another."""
    person_id = f"$response.body#{at}/id"
    return {
        "GetPerson": link("getPerson", person_id=person_id),
        "UpdatePerson": link("updatePerson", person_id=person_id),
        "PersonFaces": link("personFaces", person_id=person_id),
    }


def assign_body() -> Schema:
    """A person by id, or a name (new or existing) that is not blank."""
    return {
        **obj((), person_id=ID, name={**NAME, "type": ["string", "null"]}),
        "anyOf": [
            {"required": ["person_id"]},
            {"required": ["name"], "properties": {"name": SOME_NAME}},
        ],
    }


def search_image_paths() -> dict[str, Schema]:
    op = operation(
        "searchByImage",
        "Photos like the uploaded one (body: the image file).",
        "search",
        {"200": json_content(ref("SearchResponse"), "One page of results.")},
        params=(
            query("q", text(MAX_QUERY_LENGTH), "Filters to apply."),
            query(
                "limit",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SEARCH_LIMIT,
                    "default": DEFAULT_SEARCH_LIMIT,
                },
                "Page size.",
            ),
            CURSOR,
            MORE,
        ),
        errors=(400, 413, 422, 503),
    )
    op["requestBody"] = {
        "required": True,
        "description": f"The photo, at most {MAX_UPLOAD_LENGTH} bytes.",
        "content": {
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "minLength": 1}
            }
        },
    }
    return {"/api/search/image": {"post": op}}


def people_paths() -> dict[str, Schema]:
    person_id, face_id = path_id("person_id"), path_id("face_id")
    person = linked(json_content(PERSON, "The person."), **person_links(""))
    return {
        "/api/people": {
            "get": operation(
                "listPeople",
                "People with two or more faces, or a name.",
                "people",
                {
                    "200": linked(
                        json_content(
                            obj(("people",), people={"type": "array", "items": PERSON}),
                            "Named first, then by number of faces.",
                        ),
                        **person_links("/people/0"),
                        MergePeople=link(
                            "mergePerson",
                            {"into": "$response.body#/people/0/id"},
                            person_id="$response.body#/people/1/id",
                        ),
                    )
                },
                params=(
                    query(
                        "all",
                        {"enum": ["0", "1", "true", "false"]},
                        "Include hidden people and single faces.",
                    ),
                ),
                errors=(400,),
            )
        },
        "/api/people/recluster": {
            "post": operation(
                "reclusterPeople",
                "Re-cluster every face the user has not placed.",
                "people",
                {"200": json_content(obj(("changed",), changed=INT), "Faces that changed person.")},
            )
        },
        "/api/people/{person_id}": {
            "get": operation(
                "getPerson",
                "One person.",
                "people",
                {"200": person},
                params=(person_id,),
                errors=(400, 404),
            ),
            "patch": operation(
                "updatePerson",
                "Rename (null clears the name) or hide a person.",
                "people",
                {"200": person},
                params=(person_id,),
                body={
                    **obj((), name={**NAME, "type": ["string", "null"]}, hidden=BOOL),
                    "minProperties": 1,
                    "additionalProperties": False,
                },
                errors=(400, 404),
            ),
        },
        "/api/people/{person_id}/merge": {
            "post": operation(
                "mergePerson",
                "Merge this person into `into`; decisions are kept. `merge_id` undoes it.",
                "people",
                {
                    "200": linked(
                        json_content(MERGED, "The person merged into."),
                        UndoMerge=link("undoMerge", merge_id="$response.body#/merge_id"),
                    )
                },
                params=(person_id,),
                body=obj(("into",), into=ID),
                errors=(400, 404, 409),
            )
        },
        "/api/people/merges/{merge_id}/undo": {
            "post": operation(
                "undoMerge",
                "Undo a merge: the merged person comes back with the faces and decisions it "
                "brought (once; a later merge of the target forgets it).",
                "people",
                {
                    "200": json_content(
                        obj(("restored", "target"), restored=PERSON, target=PERSON),
                        "The person restored, and the one it had been merged into.",
                    )
                },
                params=(path_id("merge_id"),),
                errors=(400, 404),
            )
        },
        "/api/people/{person_id}/faces": {
            "get": operation(
                "personFaces",
                "A person's faces.",
                "people",
                {
                    "200": linked(
                        json_content(
                            obj(("faces",), faces={"type": "array", "items": FACE}), "Faces."
                        ),
                        **face_links("/faces/0"),
                    )
                },
                params=(person_id,),
                errors=(400, 404),
            )
        },
        "/api/faces/{face_id}/thumbnail": {
            "get": operation(
                "faceThumbnail",
                "A WebP crop around the face.",
                "people",
                {
                    "200": {
                        "description": "The crop.",
                        "content": {
                            "image/webp": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "304": {"description": "Unchanged."},
                },
                params=(face_id,),
                errors=(400, 404),
            )
        },
        "/api/faces/{face_id}/assign": {
            "post": operation(
                "assignFace",
                "This face is a person (by id, or a name, new or existing).",
                "people",
                {"200": person},
                params=(face_id,),
                body=assign_body(),
                errors=(400, 404),
            )
        },
        "/api/faces/{face_id}/reject": {
            "post": operation(
                "rejectFace",
                "Not this person: never put back there automatically.",
                "people",
                {
                    "200": linked(
                        json_content(
                            obj(
                                ("face_id", "rejected_person_id", "was_locked"),
                                face_id=INT,
                                rejected_person_id=INT,
                                was_locked=BOOL,
                            ),
                            "Done; `was_locked` tells `unrejectFace` how to put it back.",
                        ),
                        UnrejectFace=link(
                            "unrejectFace",
                            {
                                "person_id": "$response.body#/rejected_person_id",
                                "was_locked": "$response.body#/was_locked",
                            },
                            face_id="$response.body#/face_id",
                        ),
                    )
                },
                params=(face_id,),
                errors=(400, 404, 409),
            )
        },
        "/api/faces/{face_id}/unreject": {
            "post": operation(
                "unrejectFace",
                'Undo "not this person": the face goes back to the person, locked as it was.',
                "people",
                {"200": person},
                params=(face_id,),
                body=obj(("person_id",), person_id=ID, was_locked=BOOL),
                errors=(400, 404, 409),
            )
        },
    }


def browse_paths() -> dict[str, Schema]:
    entry = obj(("name", "path", "indexed"), name=STR, path=STR, indexed=BOOL)
    listing = obj(
        ("path", "parent", "entries", "truncated"),
        path=STR,
        parent=nullable("string"),
        entries={"type": "array", "items": entry},
        truncated=BOOL,
    )
    return {
        "/api/browse": {
            "get": operation(
                "browseFolders",
                "Sub-folders of the home folder or an indexed folder (folder picker). Outside "
                "those (links resolved), every path gets the same 403, existing or not.",
                "folders",
                {"200": json_content(listing, "Folders only, sorted.")},
                params=(
                    query(
                        "path",
                        text(MAX_PATH_LENGTH),
                        "An absolute folder; default: the home folder.",
                    ),
                ),
                errors=(400, 403, 404),
            )
        }
    }


def overview_paths() -> dict[str, Schema]:
    """The Years and Places pages' cards."""
    card = obj(
        ("value", "count", "cover_id", "cover_url"),
        value=STR,
        count=INT,
        cover_id=nullable("integer"),
        cover_url=nullable("string"),
    )
    level = {"enum": ["country", "region", "city"]}
    place = text(MAX_PLACE_LENGTH)
    return {
        "/api/years": {
            "get": operation(
                "listYears",
                "Every year with photos, newest first; `count` is what `year:<value>` finds; "
                "the cover is the year's newest photo.",
                "search",
                {
                    "200": json_content(
                        obj(("years",), years={"type": "array", "items": card}), "The years."
                    )
                },
            )
        },
        "/api/places": {
            "get": operation(
                "listPlaces",
                "Countries; with `country`, its regions (its cities if it has none); with "
                "`region` too, that region's cities. `count` is what `place:<value>` finds.",
                "search",
                {
                    "200": json_content(
                        obj(
                            ("level", "country", "region", "places"),
                            level=level,
                            country=nullable("string"),
                            region=nullable("string"),
                            places={"type": "array", "items": card},
                        ),
                        "Most photos first.",
                    )
                },
                params=(
                    query("country", place, "A country, as a card of the first level names it."),
                    query("region", place, "A region of `country` (ignored without `country`)."),
                ),
                errors=(400,),
            )
        },
    }
