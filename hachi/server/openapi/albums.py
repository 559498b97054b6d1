"""OpenAPI paths of albums and of acting on a selection of photos (paths, zip download)."""

from __future__ import annotations

from hachi.library_albums import MAX_ALBUM_NAME, MAX_PHOTOS_PER_CALL
from hachi.server.openapi.parts import (
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
    text,
)
from hachi.server.routes.albums import MAX_IDS_PARAM, MAX_NAME_FIELD
from hachi.server.routes.search import MAX_QUERY_LENGTH

ALBUM: Schema = obj(
    ("id", "name", "kind", "query", "photos", "created_at", "updated_at"),
    id=INT,
    name=STR,
    kind={"enum": ["smart", "plain"]},
    query=nullable("string"),
    photos=nullable("integer"),
    created_at=STR,
    updated_at=STR,
)
# A name as library_albums checks it, once trimmed: not blank, at most MAX_ALBUM_NAME
# characters, no control characters.
NAME: Schema = {
    "type": "string",
    "maxLength": MAX_NAME_FIELD,
    "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
    "[^\\u0000-\\u001f\\u007f-\\u009f]*$",
    "description": f"At most {MAX_ALBUM_NAME} characters once trimmed; unique, case aside.",
}
IDS: Schema = {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_PHOTOS_PER_CALL}
QUERY: Schema = {
    **text(MAX_QUERY_LENGTH),
    "description": "A query line; checked by the query parser.",
}
SELECTION: Schema = {
    "oneOf": [
        {**obj(("ids",), ids=IDS), "additionalProperties": False},
        {
            **obj(
                ("query",),
                query=text(MAX_QUERY_LENGTH),
                **{"except": {**IDS, "description": "Left out of what the query finds."}},
            ),
            "additionalProperties": False,
        },
    ],
    "description": "Photos chosen by id, or every photo a query finds but those in `except` "
    '(a "select all" with some unselected since).',
}


def album_links(at: str) -> dict[str, Schema]:
    album_id = f"$response.body#{at}/id"
    return {
        "GetAlbum": link("getAlbum", album_id=album_id),
        "UpdateAlbum": link("updateAlbum", album_id=album_id),
        "AddToAlbum": link("addToAlbum", album_id=album_id),
    }


def album_paths() -> dict[str, Schema]:
    album_id = path_id("album_id")
    album = linked(json_content(ALBUM, "The album."), **album_links(""))
    counted = {**ALBUM, "properties": {**ALBUM["properties"], "added": INT, "removed": INT}}
    return {
        "/api/albums": {
            "get": operation(
                "listAlbums",
                "Every album, by name.",
                "albums",
                {
                    "200": linked(
                        json_content(
                            obj(("albums",), albums={"type": "array", "items": ALBUM}), "Albums."
                        ),
                        **album_links("/albums/0"),
                    )
                },
            ),
            "post": operation(
                "createAlbum",
                "A plain album, or a smart one with `query` (a search that stays live).",
                "albums",
                {"201": album},
                body={
                    **obj(("name",), name=NAME, query=QUERY),
                    "additionalProperties": False,
                },
                errors=(400, 409),
            ),
        },
        "/api/albums/{album_id}": {
            "get": operation(
                "getAlbum",
                "One album.",
                "albums",
                {"200": album},
                params=(album_id,),
                errors=(400, 404),
            ),
            "patch": operation(
                "updateAlbum",
                "Rename an album, or change a smart album's query.",
                "albums",
                {"200": album},
                params=(album_id,),
                body={
                    **obj((), name=NAME, query=QUERY),
                    "minProperties": 1,
                    "additionalProperties": False,
                },
                errors=(400, 404, 409),
            ),
            "delete": operation(
                "deleteAlbum",
                "Delete an album (never its photos).",
                "albums",
                {"204": {"description": "Deleted."}},
                params=(album_id,),
                errors=(400, 404),
            ),
        },
        "/api/albums/{album_id}/photos": {
            "post": operation(
                "addToAlbum",
                "Add photos to a plain album; ids that are no photo are a 404 naming them.",
                "albums",
                {"200": json_content(counted, "The album, and how many photos were new.")},
                params=(album_id,),
                body=SELECTION,
                errors=(400, 404, 409, 503),
            )
        },
        "/api/albums/{album_id}/photos/remove": {
            "post": operation(
                "removeFromAlbum",
                "Take photos out of a plain album (the photos stay in the library).",
                "albums",
                {"200": json_content(counted, "The album, and how many photos left it.")},
                params=(album_id,),
                body={**obj(("ids",), ids=IDS), "additionalProperties": False},
                errors=(400, 404, 409),
            )
        },
    }


def selection_paths() -> dict[str, Schema]:
    listing = obj(
        ("photos",),
        photos={"type": "array", "items": obj(("id", "path"), id=INT, path=STR)},
    )
    download = operation(
        "downloadSelection",
        "The photos as one zip (stored, zip64 when large), streamed as it is made. A file "
        "gone from disk meanwhile is named in `hachi-missing.txt` inside the zip.",
        "albums",
        {
            "200": {
                "description": "The zip.",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        body=SELECTION,
        errors=(400, 404, 413, 503),
    )
    link_download = operation(
        "downloadSelectionLink",
        "The same zip as a link a browser can save: `ids` (comma-separated) or `query` "
        "(and `except`).",
        "albums",
        {"200": download["responses"]["200"]},
        params=(
            query(
                "ids",
                {
                    "type": "string",
                    "pattern": "^[0-9]{1,19}(,[0-9]{1,19})*$",
                    "maxLength": MAX_IDS_PARAM,
                },
                "Photo ids, comma-separated.",
            ),
            query("query", text(MAX_QUERY_LENGTH), "Every photo this query finds."),
            query(
                "except",
                {
                    "type": "string",
                    "pattern": "^[0-9]{1,19}(,[0-9]{1,19})*$",
                    "maxLength": MAX_IDS_PARAM,
                },
                "With `query`: photo ids (comma-separated) left out of what it finds.",
            ),
        ),
        errors=(400, 404, 503),
    )
    return {
        "/api/selection/paths": {
            "post": operation(
                "selectionPaths",
                "Where the selected photos are on disk.",
                "albums",
                {"200": json_content(listing, "In the selection's order.")},
                body=SELECTION,
                errors=(400, 404, 503),
            )
        },
        "/api/selection/download": {"post": download, "get": link_download},
    }
