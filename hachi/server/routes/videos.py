"""Videos played in the browser: the file by photo id, in byte ranges, straight from disk,
and the pictures of its moments for the strip under the player.

A ``<video>`` element asks for ranges (the start, the index at the end, wherever the user
seeks); Werkzeug's conditional ``send_file`` answers them with 206 and ``Content-Range``
(416 with ``Content-Range: bytes */size`` for a range outside the file, in Hachi's error
shape) and streams the bytes, so a 4 GB video is never read into memory. Only items the
catalog knows as videos are served here, inline, with their container's type.
"""

from __future__ import annotations

import re

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from hachi.errors import NotFound
from hachi.server.context import library
from hachi.server.params import parse_id
from hachi.server.routes.photos import ORIGINAL_MAX_AGE_S, VERSIONED_MAX_AGE_S, send_from_disk

MOMENT_NAME = re.compile(r"(0|[1-9][0-9]{0,5})\.webp")
"""A moment's number, as a file name; no video has a million moments (120 at most)."""

bp = Blueprint("videos", __name__)


@bp.get("/photos/<photo_id>/video")
def video(photo_id: str) -> ResponseReturnValue:
    pid = parse_id(photo_id, "photo")
    lib = library()
    mime = lib.video_mime(pid)
    if mime is None:
        raise NotFound(f"photo {pid} is not a video")
    response = send_from_disk(lib.original_path(pid), pid, mimetype=mime)
    response.headers["Accept-Ranges"] = "bytes"
    response.cache_control.private = True
    response.cache_control.max_age = ORIGINAL_MAX_AGE_S
    return response


@bp.get("/photos/<photo_id>/moments/<name>")
def moment_thumbnail(photo_id: str, name: str) -> ResponseReturnValue:
    """The picture of a video's moment (``<n>.webp``, n counting from 0 in the order of the
    photo's ``moments``): cached for good when ``v`` is the version its page links."""
    pid = parse_id(photo_id, "photo")
    match = MOMENT_NAME.fullmatch(name)
    if match is None:
        raise NotFound("no such moment picture: names are <n>.webp, n counting from 0")
    path, version = library().moment_thumbnail(pid, int(match[1]))
    response = send_from_disk(path, pid, mimetype="image/webp")
    response.cache_control.private = True
    if request.args.get("v") == version:
        response.cache_control.max_age = VERSIONED_MAX_AGE_S
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return response
