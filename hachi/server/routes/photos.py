"""Photo details and files, reachable only by photo id (never by a path from the client)."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from hachi.errors import NotFound, UnreadableFile
from hachi.media.thumbnails import GRID, KINDS
from hachi.server.context import library
from hachi.server.params import parse_id, query_choice
from hachi.server.urls import photo_page

THUMB_SIZES = KINDS
VERSIONED_MAX_AGE_S = 365 * 24 * 60 * 60
ORIGINAL_MAX_AGE_S = 60 * 60
# Types a browser can show inline; anything else (RAW, HEIC) is offered as a download.
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "image/bmp"}
)
UNSAFE_FILENAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/;]')
# /api/thumbs/<content hash>.<kind>.webp: hex only, so no name can reach outside thumbs/
THUMB_NAME = re.compile(r"([0-9a-f]{32})\.(grid|grid2x|preview)\.webp")
EXTRA_TYPES = {".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif"}

bp = Blueprint("photos", __name__)


def safe_filename(name: str) -> str:
    """A Content-Disposition file name that cannot break out of the header or the folder."""
    cleaned = UNSAFE_FILENAME_CHARS.sub("_", Path(name).name).strip(". ")
    return cleaned or "photo"


def guess_type(path: Path) -> str:
    suffix = path.suffix.lower()
    guessed = EXTRA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
    return guessed or "application/octet-stream"


def send_from_disk(path: Path, photo_id: int, **options: object) -> Response:
    """send_file, with a file that vanished or turned unreadable since indexing named as such."""
    try:
        return send_file(path, conditional=True, etag=True, **options)  # type: ignore[arg-type]
    except FileNotFoundError as exc:
        raise NotFound(f"the file of photo {photo_id} is no longer on disk") from exc
    except OSError as exc:
        raise UnreadableFile(
            f"the file of photo {photo_id} cannot be read: {exc.strerror}"
        ) from exc


def _cache_thumbnail(response: Response) -> None:
    """A URL with ``v`` (a content version) never changes; without it, revalidate by ETag.

    Thumbnails are keyed by content hash, so an edited photo gets a new ETag at once.
    """
    response.cache_control.private = True
    if request.args.get("v"):
        response.cache_control.max_age = VERSIONED_MAX_AGE_S
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True


@bp.get("/thumbs/<name>")
def thumb(name: str) -> ResponseReturnValue:
    """A thumbnail by content (Caddy serves these itself to a browser with a grid key).

    Private: it is one person's photo behind a login, which no shared cache may keep;
    immutable: the name is the content, so the browser never asks again.
    """
    match = THUMB_NAME.fullmatch(name)
    if match is None:
        raise NotFound("no such thumbnail: names are <content hash>.<grid|grid2x|preview>.webp")
    path = library().thumbnail_by_hash(match[1], match[2])
    try:
        response = send_file(path, mimetype="image/webp", conditional=True, etag=True)
    except FileNotFoundError as exc:  # removed between the check and the read
        raise NotFound(f"no thumbnail {name}") from exc
    response.cache_control.private = True
    response.cache_control.max_age = VERSIONED_MAX_AGE_S
    response.cache_control.immutable = True
    return response


@bp.get("/photos/<photo_id>")
def photo(photo_id: str) -> ResponseReturnValue:
    return jsonify(photo_page(library().photo(parse_id(photo_id, "photo"))))


@bp.get("/photos/<photo_id>/thumbnail")
def thumbnail(photo_id: str) -> ResponseReturnValue:
    size = query_choice("size", THUMB_SIZES, GRID) or GRID
    pid = parse_id(photo_id, "photo")
    response = send_from_disk(library().thumbnail_path(pid, size), pid, mimetype="image/webp")
    _cache_thumbnail(response)
    return response


@bp.get("/photos/<photo_id>/original")
def original(photo_id: str) -> ResponseReturnValue:
    pid = parse_id(photo_id, "photo")
    path = library().original_path(pid)
    mimetype = guess_type(path)
    response = send_from_disk(
        path,
        pid,
        mimetype=mimetype,
        as_attachment=mimetype not in INLINE_TYPES,
        download_name=safe_filename(path.name),
    )
    response.cache_control.private = True
    response.cache_control.max_age = ORIGINAL_MAX_AGE_S
    return response
