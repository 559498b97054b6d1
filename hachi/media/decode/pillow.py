"""The Pillow-family formats (and HEIC through libheif), plus the size checks, reduction,
orientation and colour helpers that ``raw`` builds on: bytes to a small upright RGB image,
as cheaply as the format allows.

The indexer needs pixels only for a grid thumbnail (~320 px) and the models (~224 px), so
nothing here materialises a full 12-48 MP bitmap when it can be avoided: JPEG is decoded
at 1/2, 1/4 or 1/8 scale straight from the DCT, RAW files give up their embedded preview,
and other formats are decoded and then box-reduced by an integer factor.

Every failure becomes ``UnreadableFile`` with a short reason a person can act on, because
one bad file among a hundred thousand must never stop an indexing job. Sizes are checked
from the header before any pixel is decoded, so a decompression bomb costs nothing.
Pillow's global settings are left alone: its plugins are called directly (``Image.open``
would warn on large images, and pytest turns warnings into errors), and EXIF orientation
is read from the raw EXIF bytes rather than through Pillow's warning-prone EXIF parser.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from hachi.errors import UnreadableFile
from hachi.media.exif.bmff import claimed_length
from hachi.media.formats import RAW_MIMES

MAX_PIXELS = 200_000_000
"""Largest image accepted at all; JPEG and RAW previews stay cheap up to this size."""

MAX_BITMAP_PIXELS = 89_000_000
"""Largest image decoded at full size (PNG, TIFF, WebP, HEIC, ...): ~360 MB as RGBA.

Kept below Pillow's own decompression-bomb warning threshold, so Pillow never warns."""

MAX_EXIF_ENTRIES = 512
"""IFD entries scanned for the orientation tag; real IFD0s hold a few dozen."""

BACKGROUND = (255, 255, 255)
"""Transparent pixels are shown on white, as an image viewer would."""

ICC_TRANSFORMS_CACHED = 16
"""Distinct colour profiles whose sRGB transform is kept; cameras and phones share few."""

ORIENTATION_TAG = 0x0112

JPEG_SCALES = (8, 4, 2)
"""Denominators of the DCT scales Pillow's JPEG reader offers, smallest image first."""

# EXIF orientation -> the transpose that makes the stored pixels upright.
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class JpegImageFile(JpegImagePlugin.JpegImageFile):
    """Pillow's JPEG reader without its DPI-from-EXIF guess.

    Pillow parses the whole EXIF block on open just to fill ``info["dpi"]``, which photos
    never need: skipping it saves time per photo and keeps a corrupt maker note from
    raising warnings (pytest makes those errors; users would see them on stderr).
    """

    def _read_dpi_from_exif(self) -> None:
        return None


_PILLOW_PLUGINS: dict[str, Callable[[io.BytesIO], ImageFile.ImageFile]] = {
    "image/jpeg": JpegImageFile,
    "image/png": PngImagePlugin.PngImageFile,
    "image/webp": WebPImagePlugin.WebPImageFile,
    "image/tiff": TiffImagePlugin.TiffImageFile,
    "image/gif": GifImagePlugin.GifImageFile,
    "image/bmp": BmpImagePlugin.BmpImageFile,
}

# How Pillow, libheif and LibRaw say "the data stopped early".
_TRUNCATION_SIGNS = ("truncated", "end of file", "input/output error")


@dataclass(frozen=True)
class DecodedImage:
    """A reduced, upright RGB rendition plus the size a viewer would show at full resolution."""

    image: Image.Image
    width: int
    height: int
    mime: str


def label(mime: str) -> str:
    if mime in RAW_MIMES:
        return f"RAW ({mime.rsplit('-', 1)[-1].upper()})"
    return mime.removeprefix("image/").upper()


def reason(exc: BaseException, mime: str) -> str:
    text = _message(exc)
    lowered = text.lower()
    if isinstance(exc, EOFError) or any(sign in lowered for sign in _TRUNCATION_SIGNS):
        return f"truncated {label(mime)}"
    if isinstance(exc, Image.DecompressionBombError):
        return f"image too large: {label(mime)} refused by the decoder"
    return f"corrupt {label(mime)}: {text[:120]}"


def _message(exc: BaseException) -> str:
    """LibRaw's errors carry bytes (``b'Input/output error'``); show them as plain text."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace").strip() or type(exc).__name__
    return str(exc).strip() or type(exc).__name__


# ---------------------------------------------------------------- Pillow-family formats


def decode_with_pillow(data: bytes, mime: str, min_side: int) -> DecodedImage:
    if mime in ("image/heic", "image/heif"):
        return _decode_heif(data, mime, min_side)
    with _open_pillow(data, mime) as im:
        limit = MAX_PIXELS if mime == "image/jpeg" else MAX_BITMAP_PIXELS
        check_size(im.size, limit)
        full_size = im.size
        if mime == "image/jpeg":
            draft_jpeg(im, min_side)
            # One read and one decoder call for the whole stream: fed in Pillow's 64 KiB
            # pieces, libjpeg suspends and resumes ~25 times per 12 MP photo (2-4 % slower).
            im.decodermaxblock = max(len(data), ImageFile.MAXBLOCK)
        im.load()
        orientation = _pillow_orientation(im)
        image = _to_srgb(reduce(to_rgb(im), min_side), im.info.get("icc_profile"))
    return _finish(image, full_size, orientation, mime)


def _open_pillow(data: bytes, mime: str) -> ImageFile.ImageFile:
    """Open with the one plugin the magic bytes named, skipping ``Image.open``'s guesswork."""
    if mime == "image/avif":
        from PIL import AvifImagePlugin  # imported on demand: absent from minimal Pillow builds

        return AvifImagePlugin.AvifImageFile(io.BytesIO(data))
    return _PILLOW_PLUGINS[mime](io.BytesIO(data))


def check_size(size: tuple[int, int], limit: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise UnreadableFile(f"invalid image size {width}x{height}")
    if width * height > limit:
        raise UnreadableFile(f"image too large: {width}x{height} exceeds {limit // 1_000_000} MP")


def draft_jpeg(im: ImageFile.ImageFile, min_side: int) -> None:
    """Ask libjpeg for the smallest DCT scale (1/8, 1/4, 1/2) that keeps the short side >= min_side.

    libjpeg rounds scaled sides up, so 1/s is enough when ``ceil(short / s) >= min_side``.
    Pillow derives its scale by floor-dividing the full size by the requested one: asking
    for the sides floor-divided by s makes it pick exactly s, where a rounded-up request
    can make it settle for the next larger image near the thresholds.
    """
    width, height = im.size
    shorter = min(width, height)
    if shorter <= min_side:
        return
    for denominator in JPEG_SCALES:
        if shorter >= denominator and -(-shorter // denominator) >= min_side:
            im.draft("RGB", (width // denominator, height // denominator))
            return


def _pillow_orientation(im: ImageFile.ImageFile) -> int:
    if isinstance(im, TiffImagePlugin.TiffImageFile):
        value = im.tag_v2.get(ORIENTATION_TAG, 1)
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    exif = im.info.get("exif")
    return exif_orientation(exif) if isinstance(exif, bytes) else 1


def reduce(image: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce by the largest integer factor that keeps the short side >= min_side."""
    factor = min(image.size) // min_side
    return image.reduce(factor) if factor >= 2 else image


def _finish(
    image: Image.Image, full_size: tuple[int, int], orientation: int, mime: str
) -> DecodedImage:
    width, height = oriented_size(full_size, orientation)
    return DecodedImage(upright(image, orientation), width, height, mime)


def upright(image: Image.Image, orientation: int) -> Image.Image:
    transpose = _TRANSPOSE.get(orientation)
    return image if transpose is None else image.transpose(transpose)


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Orientations 5-8 turn the picture a quarter, so a viewer swaps width and height."""
    return (size[1], size[0]) if orientation >= 5 else size


# ---------------------------------------------------------------- pixel modes


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; 16-bit data is scaled (not clipped), alpha goes on white."""
    if im.mode.startswith("I") or im.mode == "F":
        im = _high_depth_to_l(im)
    if im.mode == "RGB":
        return im
    if _has_alpha(im):
        return _flatten_alpha(im.convert("RGBA"))
    return im.convert("RGB")


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit grey -> 8-bit: Pillow's own convert clips at 255, which turns photos white."""
    values = np.asarray(im)
    if im.mode == "F":
        top = float(values.max()) if values.size else 1.0
        scaled = values / (top if top > 1.0 else 1.0) * 255.0
        return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
    return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8), "L")


def _to_srgb(image: Image.Image, icc: object) -> Image.Image:
    """Convert wide-gamut RGB (Adobe RGB, Display P3) to sRGB, which thumbnails and CLIP assume.

    Thumbnails carry no profile, so without this they look washed out. Done after the
    reduction, on a few hundred thousand pixels; an unusable profile leaves pixels as they are.
    """
    if not isinstance(icc, bytes) or not icc:
        return image
    try:
        transform = _srgb_transform(icc)
        return image if transform is None else transform.apply(image)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


@functools.lru_cache(maxsize=ICC_TRANSFORMS_CACHED)
def _srgb_transform(icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """One transform per distinct profile (a library holds a handful): building one costs
    about as much as decoding a photo. NOCACHE makes a transform safe to share across
    threads (LittleCMS otherwise keeps a one-pixel cache inside it)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    description = (profile.profile.profile_description or "").lower()
    if profile.profile.xcolor_space.strip() != "RGB" or "srgb" in description:
        return None
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return ImageCms.ImageCmsTransform(profile, srgb, "RGB", "RGB", flags=ImageCms.Flags.NOCACHE)


# ---------------------------------------------------------------- EXIF orientation


def exif_orientation(exif: bytes) -> int:
    """Orientation (1-8) from raw EXIF bytes; 1 when absent or malformed.

    Reads only IFD0's tag 0x0112, so corrupt maker notes or GPS blocks elsewhere in the
    EXIF cannot make orientation (or Pillow's warnings) fail a decode.
    """
    body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    order = {b"II": "<", b"MM": ">"}.get(body[:2])
    if order is None or len(body) < 8:
        return 1
    (offset,) = struct.unpack(order + "I", body[4:8])
    if offset + 2 > len(body):
        return 1
    (count,) = struct.unpack(order + "H", body[offset : offset + 2])
    for index in range(min(count, MAX_EXIF_ENTRIES)):
        entry = offset + 2 + 12 * index
        if entry + 12 > len(body):
            break
        tag, kind = struct.unpack(order + "HH", body[entry : entry + 4])
        if tag == ORIENTATION_TAG:
            fmt = "I" if kind == 4 else "H"
            (value,) = struct.unpack_from(order + fmt, body, entry + 8)
            return value if 1 <= value <= 8 else 1
    return 1


# ---------------------------------------------------------------- HEIC / HEIF


def _decode_heif(data: bytes, mime: str, min_side: int) -> DecodedImage:
    """libheif applies the container's rotation and mirroring itself, so EXIF is ignored."""
    import pillow_heif  # loaded on first HEIC only; registers nothing with Pillow

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        check_size(heif.size, MAX_BITMAP_PIXELS)
        pixels = heif.to_pillow()
    except (ValueError, RuntimeError, OSError) as exc:
        if claimed_length(data) > len(data):
            raise UnreadableFile(f"truncated {label(mime)}") from exc
        raise
    image = reduce(to_rgb(pixels), min_side)
    image = _to_srgb(image, heif.info.get("icc_profile"))
    return DecodedImage(image=image, width=heif.size[0], height=heif.size[1], mime=mime)
