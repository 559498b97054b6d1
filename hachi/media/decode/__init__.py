"""Decoding photos: bytes in, a small upright sRGB image out.

``decode_image`` tells the format from the bytes and hands the file to ``pillow`` (JPEG,
PNG, WebP, TIFF, GIF, BMP, HEIC, AVIF) or ``raw`` (camera raw files, which build on
``pillow``'s helpers); it turns any decoder's failure into an ``UnreadableFile`` with a
reason a person can read.
"""

from __future__ import annotations

from hachi.errors import HachiError, NotAPhoto, UnreadableFile
from hachi.media.decode.pillow import (
    MAX_BITMAP_PIXELS,
    MAX_PIXELS,
    DecodedImage,
    decode_with_pillow,
    exif_orientation,
    label,
    reason,
)
from hachi.media.decode.raw import decode_raw
from hachi.media.formats import RAW_MIMES, SNIFF_BYTES, describe_non_image, sniff_mime

__all__ = ["MAX_BITMAP_PIXELS", "MAX_PIXELS", "DecodedImage", "decode_image", "exif_orientation"]


def decode_image(data: bytes, min_side: int, name: str = "") -> DecodedImage:
    """Decode by content (``name`` only hints TIFF-based RAWs); shorter side >= ``min_side``.

    The returned image's shorter side is at least ``min(min_side, original shorter side)``
    and less than about twice that, so callers resize a small image, never a huge one.
    """
    if not data:
        raise UnreadableFile("zero-byte file")
    mime = sniff_mime(data[:SNIFF_BYTES], name)
    if mime is None:
        raise _unrecognised(data)
    try:
        if mime in RAW_MIMES:
            return decode_raw(data, mime, max(1, min_side))
        return decode_with_pillow(data, mime, max(1, min_side))
    except HachiError:
        raise
    except MemoryError as exc:
        raise UnreadableFile(f"out of memory decoding {label(mime)}") from exc
    except Exception as exc:  # noqa: BLE001 - C decoders raise anything; one file never kills a job
        if _lacks_end_marker(data, mime):
            raise UnreadableFile(f"truncated {label(mime)}") from exc
        raise UnreadableFile(reason(exc, mime)) from exc


# Where a format has an end marker, a failed decode of a file without it was cut short:
# told from the bytes, so the reason does not depend on a decoder's wording.
_END_MARKERS = {"image/jpeg": b"\xff\xd9", "image/png": b"IEND"}


def _lacks_end_marker(data: bytes, mime: str) -> bool:
    marker = _END_MARKERS.get(mime)
    return marker is not None and marker not in data[-4096:]


def _unrecognised(data: bytes) -> UnreadableFile:
    what = describe_non_image(data[:SNIFF_BYTES])
    if what is not None:
        return NotAPhoto(f"not an image: looks like {what}")
    return UnreadableFile("unrecognised image format")
