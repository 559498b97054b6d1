"""Photo metadata (capture time, camera, exposure, position, size) from a file's bytes.

The indexer calls :func:`read_metadata` from its reader threads with the file already in
memory. Metadata is untrusted and frequently broken, so this never raises and never warns:
whatever cannot be read cleanly is ``None``. ExifTool is the reference for what each field
means; ``tests/test_exif_vs_exiftool.py`` keeps the two in step over the test corpus.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import exifread

from hachi.media.exif.containers import Located, locate
from hachi.media.exif.fields import Sources, choose_altitude, choose_position, choose_taken
from hachi.media.exif.fields import first_iso as _first_iso
from hachi.media.exif.iptc import iptc_created
from hachi.media.exif.tiff import canon_lens_model
from hachi.media.exif.values import clean_text, orientation, positive, positive_int
from hachi.media.exif.xmp import XmpPacket, parse_xmp

IMAGE_IFDS = ("Image", "EXIF")
MAX_DIMENSION = 1 << 20  # no real image is a million pixels on a side; bigger is corruption


@dataclass(frozen=True)
class PhotoMetadata:
    taken_at: str | None = None  # local wall-clock 'YYYY-MM-DDTHH:MM:SS[.fraction]'
    tz_offset: int | None = None  # minutes east of UTC, only when the file states it
    taken_source: str | None = None  # which field gave taken_at, e.g. 'DateTimeOriginal'
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    focal_length: float | None = None  # mm
    aperture: float | None = None  # f-number
    exposure_time: float | None = None  # seconds
    iso: int | None = None
    latitude: float | None = None  # signed decimal degrees, south negative
    longitude: float | None = None  # signed decimal degrees, west negative
    altitude: float | None = None  # metres, negative below sea level
    orientation: int | None = None  # EXIF orientation 1..8
    width: int | None = None  # pixels as stored, before orientation is applied
    height: int | None = None


def read_metadata(data: bytes, name: str = "") -> PhotoMetadata:
    """Read what the file says about itself; ``name`` is only a hint for diagnostics.

    The format is recognised from the bytes, so a HEIC saved as '.jpg' still reads.
    """
    _silence_exifread()
    try:
        located = locate(data)
    except Exception:  # noqa: BLE001 - a malformed container must not cost the photo
        located = Located()
    sources = Sources(_exif_tags(located.tiffs), _first_xmp(located.xmps), _iptc(located))
    try:
        return _assemble(sources, located)
    except Exception:  # noqa: BLE001 - last line of defence; each reader is already guarded
        return PhotoMetadata()


def _silence_exifread() -> None:
    """exifread logs every oddity of a file as a WARNING, which would flood the terminal
    during indexing. Quiet it unless someone configured that logger on purpose."""
    logger = logging.getLogger("exifread")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


def _exif_tags(tiffs: list[bytes]) -> dict[str, Any]:
    """Tags of every TIFF block, the first block winning when two name the same tag."""
    merged: dict[str, Any] = {}
    for tiff in tiffs:
        if tiff[:4] not in (b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"IIU\x00"):
            continue
        try:
            tags = exifread.process_file(io.BytesIO(tiff), details=False, extract_thumbnail=False)
        except Exception:  # noqa: BLE001 - exifread raises many types on corrupt IFDs
            continue
        for key, value in tags.items():
            merged.setdefault(key, value)
    return merged


def _first_xmp(packets: list[bytes]) -> XmpPacket | None:
    for raw in packets:
        try:
            packet = parse_xmp(raw)
        except Exception:  # noqa: BLE001
            continue
        if packet is not None:
            return packet
    return None


def _iptc(located: Located) -> Any:
    try:
        return iptc_created(located.iptc)
    except Exception:  # noqa: BLE001
        return None


def _assemble(src: Sources, located: Located) -> PhotoMetadata:
    taken = choose_taken(src)
    position = choose_position(src)
    width, height = located.size or _exif_size(src)
    tiffs = located.tiffs
    return PhotoMetadata(
        taken_at=taken[0].local if taken else None,
        tz_offset=taken[0].offset if taken else None,
        taken_source=taken[1] if taken else None,
        make=clean_text(src.tag("Make", IMAGE_IFDS)) or clean_text(src.xmp_value("tiff:Make")),
        model=clean_text(src.tag("Model", IMAGE_IFDS)) or clean_text(src.xmp_value("tiff:Model")),
        lens=_lens(src, tiffs),
        focal_length=_number(src, "FocalLength"),
        aperture=_number(src, "FNumber"),
        exposure_time=_number(src, "ExposureTime"),
        iso=positive_int(_first_iso(src)),
        latitude=position[0] if position else None,
        longitude=position[1] if position else None,
        altitude=choose_altitude(src),
        orientation=orientation(src.tag("Orientation", ("Image",)))
        or orientation(src.xmp_value("tiff:Orientation")),
        width=_dimension(width),
        height=_dimension(height),
    )


def _lens(src: Sources, tiffs: list[bytes]) -> str | None:
    """EXIF LensModel, its XMP copy, Canon's maker note, then XMP's free-form aux:Lens."""
    lens = clean_text(src.tag("LensModel")) or clean_text(src.xmp_value("exifEX:LensModel"))
    make = clean_text(src.tag("Make", IMAGE_IFDS)) or ""
    if lens is None and make.lower().startswith("canon") and tiffs:
        try:
            lens = clean_text(canon_lens_model(tiffs[0]))
        except Exception:  # noqa: BLE001 - maker notes are the least trustworthy part
            lens = None
    return lens or clean_text(src.xmp_value("aux:Lens"))


def _number(src: Sources, name: str) -> float | None:
    """A positive exposure value from EXIF, else from XMP's copy of the same EXIF tag."""
    value = positive(src.tag(name))
    return value if value is not None else positive(src.xmp_value(f"exif:{name}"))


def _exif_size(src: Sources) -> tuple[Any, Any]:
    """Containers without their own size field (CR3, bare EXIF): trust the EXIF tags."""
    width, height = src.tag("ImageWidth", ("Image",)), src.tag("ImageLength", ("Image",))
    if width is None or height is None:
        width, height = src.tag("ExifImageWidth"), src.tag("ExifImageLength")
    return width, height


def _dimension(value: Any) -> int | None:
    number = positive_int(value)
    return number if number is not None and number <= MAX_DIMENSION else None
