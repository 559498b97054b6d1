"""The OpenAPI paths of videos: the file in byte ranges, for the browser's player."""

from __future__ import annotations

from hachi.server.openapi.parts import Schema, operation, path_id

RANGE_HEADER: Schema = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "A byte range (`bytes=0-`, `bytes=100-199`, `bytes=-500`); without one "
    "the whole file is sent.",
    "schema": {"type": "string"},
}


def video_paths() -> dict[str, Schema]:
    binary = {"schema": {"type": "string", "contentEncoding": "binary"}}
    photo_id = path_id("photo_id")
    ranged = {
        "Accept-Ranges": {"schema": {"type": "string"}},
        "Content-Range": {"schema": {"type": "string"}},
    }
    return {
        "/api/photos/{photo_id}/video": {
            "get": operation(
                "getVideo",
                "A video's file with its container type, in byte ranges (seekable playback).",
                "photos",
                {
                    "200": {"description": "The whole file.", "content": {"video/*": binary}},
                    "206": {
                        "description": "The requested range.",
                        "headers": ranged,
                        "content": {"video/*": binary},
                    },
                    "304": {"description": "Unchanged."},
                },
                params=(photo_id, RANGE_HEADER),
                errors=(400, 404, 416),
            )
        }
    }
