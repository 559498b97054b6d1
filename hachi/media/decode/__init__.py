"""Decoding photos: bytes in, a small upright sRGB image out."""

from hachi.media.decode.pillow import (
    MAX_BITMAP_PIXELS,
    MAX_PIXELS,
    DecodedImage,
    decode_image,
    exif_orientation,
)

__all__ = ["MAX_BITMAP_PIXELS", "MAX_PIXELS", "DecodedImage", "decode_image", "exif_orientation"]
