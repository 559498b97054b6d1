"""Videos played in the browser: the file by photo id, in byte ranges, straight from disk.

A ``<video>`` element asks for ranges (the start, the index at the end, wherever the user
seeks); Werkzeug's conditional ``send_file`` answers them with 206 and ``Content-Range``
(416 with ``Content-Range: bytes */size`` for a range outside the file, in Hachi's error
shape) and streams the bytes, so a 4 GB video is never read into memory. Only items the
catalog knows as videos are served here, inline, with their container's type.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from hachi.errors import NotFound
from hachi.server.context import library
from hachi.server.params import parse_id
from hachi.server.routes.photos import ORIGINAL_MAX_AGE_S, send_from_disk

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
