"""The OpenAPI paths of videos: the file in byte ranges, for the browser's player, and the
pictures of its moments."""

from __future__ import annotations

from hachi.server.openapi.parts import STR, Schema, operation, path_id, query

RANGE_HEADER: Schema = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "A byte range (`bytes=0-`, `bytes=100-199`, `bytes=-500`); without one "
    "the whole file is sent.",
    "schema": {"type": "string"},
}

MOMENT_NAME: Schema = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "`<n>.webp`: the moment's place in the photo's `moments`, from 0; a "
    "number past the last moment, or a photo that is not a video, is a 404.",
    "schema": {"type": "string", "pattern": "^(0|[1-9][0-9]{0,5})\\.webp$"},
}
MOMENT_VERSION: Schema = query(
    "v", STR, "The picture's version (content and time), as `moment_urls` give it."
)


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
        },
        "/api/photos/{photo_id}/moments/{name}": {
            "get": operation(
                "getMomentThumbnail",
                "A small WebP picture (160 px long side) of one of a video's moments, as "
                "the photo's `moment_urls` link it: decoded on first view, then kept.",
                "photos",
                {
                    "200": {
                        "description": "The picture; `private, immutable` when `v` is the "
                        "version `moment_urls` gives.",
                        "content": {"image/webp": binary},
                    },
                    "304": {"description": "Unchanged."},
                },
                params=(photo_id, MOMENT_NAME, MOMENT_VERSION),
                errors=(400, 404, 422),
            )
        },
    }
