"""The RAW path of ``decode_image``: camera raw files to a small upright RGB image.

A RAW file's pixels need demosaicing, which is slow, but nearly every camera also stores its
own JPEG rendering: that preview is used whenever it is big enough, and a half-size demosaic
only when it is not. When LibRaw gives up, TIFF-based RAWs (DNG, NEF, ...) may still hold an
ordinary TIFF image that Pillow can read.

This module builds on ``hachi.media.decode.pillow``'s size checks, reduction and orientation
helpers.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from hachi.errors import UnreadableFile
from hachi.media.decode.pillow import (
    MAX_PIXELS,
    DecodedImage,
    JpegImageFile,
    check_size,
    decode_with_pillow,
    draft_jpeg,
    oriented_size,
    reason,
    reduce,
    to_rgb,
    upright,
)

# LibRaw's ``sizes.flip`` (dcraw bit flags) -> the equivalent EXIF orientation.
_LIBRAW_FLIP_TO_EXIF: dict[int, int] = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def decode_raw(data: bytes, mime: str, min_side: int) -> DecodedImage:
    """``decode_image`` for RAW mimes: LibRaw first, the TIFF container if LibRaw refuses."""
    try:
        return _decode_with_libraw(data, mime, min_side)
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 - LibRaw gave up; the TIFF container may not
        return _raw_fallback_tiff(data, mime, min_side, exc)


def _decode_with_libraw(data: bytes, mime: str, min_side: int) -> DecodedImage:
    """Embedded preview first; a half-size demosaic only when no preview is big enough."""
    import rawpy

    with rawpy.imread(io.BytesIO(data)) as raw:
        sizes = raw.sizes
        check_size((sizes.raw_width, sizes.raw_height), MAX_PIXELS)
        orientation = _LIBRAW_FLIP_TO_EXIF.get(sizes.flip, 1)
        width, height = oriented_size((sizes.width, sizes.height), orientation)
        preview = _raw_preview(raw, min_side)
        if preview is not None and min(preview.size) >= min(min_side, width, height):
            image = upright(preview, orientation)
        else:
            image = _raw_demosaic(raw, min_side, preview, orientation)
    return DecodedImage(image=image, width=width, height=height, mime=mime)


def _raw_preview(raw: Any, min_side: int) -> Image.Image | None:
    """The camera's own JPEG (or bitmap) rendering, unrotated; None if missing or broken."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with JpegImageFile(io.BytesIO(thumb.data)) as im:
                check_size(im.size, MAX_PIXELS)
                draft_jpeg(im, min_side)
                im.load()
                return reduce(to_rgb(im), min_side)
        array = np.ascontiguousarray(thumb.data)
        return reduce(to_rgb(Image.fromarray(array)), min_side)
    except Exception:  # noqa: BLE001 - a broken preview just means demosaicing instead
        return None


def _raw_demosaic(
    raw: Any, min_side: int, preview: Image.Image | None, orientation: int
) -> Image.Image:
    """Half-size demosaic (LibRaw rotates it itself); a too-small preview beats nothing."""
    try:
        rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except Exception:
        if preview is None:
            raise
        return upright(preview, orientation)
    return reduce(Image.fromarray(np.ascontiguousarray(rgb)), min_side)


def _raw_fallback_tiff(data: bytes, mime: str, min_side: int, exc: Exception) -> DecodedImage:
    """LibRaw refused the file; TIFF-based RAWs (DNG, NEF, ...) may still hold a TIFF image."""
    if not data.startswith((b"II*\x00", b"MM\x00*")):
        raise UnreadableFile(reason(exc, mime)) from exc
    try:
        decoded = decode_with_pillow(data, "image/tiff", min_side)
    except Exception:  # noqa: BLE001 - report LibRaw's reason, the more telling one
        raise UnreadableFile(reason(exc, mime)) from exc
    return DecodedImage(decoded.image, decoded.width, decoded.height, mime)
