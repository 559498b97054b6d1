"""Choose each metadata field from the sources a file offers, in a fixed order of trust.

Sources are the EXIF tags read by exifread (keys such as 'EXIF DateTimeOriginal'), the XMP
packet and the IPTC record. EXIF comes first because cameras write it at capture time; XMP
and IPTC are what editors and agency tools add, so they fill gaps rather than override.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hachi.media.exif.values import (
    Moment,
    altitude,
    clean_text,
    dms_to_degrees,
    parse_moment,
    signed_coordinate,
    to_float,
    valid_position,
)
from hachi.media.exif.xmp import XmpPacket, parse_xmp_coordinate

EXIF_IFDS = ("EXIF", "Image")  # CR3 keeps some EXIF tags in IFD0; exifread names them 'Image'


@dataclass(frozen=True)
class Sources:
    tags: Mapping[str, Any]
    xmp: XmpPacket | None
    iptc_moment: Moment | None

    def tag(self, name: str, ifds: tuple[str, ...] = EXIF_IFDS) -> Any:
        """Values of the first IFD that has the tag; exifread keeps them in ``.values``."""
        for ifd in ifds:
            entry = self.tags.get(f"{ifd} {name}")
            if entry is not None:
                return getattr(entry, "values", entry)
        return None

    def xmp_value(self, *names: str) -> str | None:
        if self.xmp is None:
            return None
        for name in names:
            value = self.xmp.get(name)
            if value is not None:
                return value
        return None


def choose_taken(src: Sources) -> tuple[Moment, str] | None:
    """The capture time, preferring a source that has a time of day over a bare date."""
    fallback: tuple[Moment, str] | None = None
    for label, moment in _taken_candidates(src):
        if moment is None:
            continue
        if not moment.date_only:
            return _with_xmp_offset(moment, label, src), label
        fallback = fallback or (moment, label)
    return fallback


def _taken_candidates(src: Sources) -> Iterator[tuple[str, Moment | None]]:
    original, digitized = src.tag("OffsetTimeOriginal"), src.tag("OffsetTimeDigitized")
    yield (
        "DateTimeOriginal",
        parse_moment(
            src.tag("DateTimeOriginal"), src.tag("SubSecTimeOriginal"), original or digitized
        ),
    )
    yield "XMP:DateTimeOriginal", parse_moment(src.xmp_value("exif:DateTimeOriginal"))
    yield (
        "CreateDate",
        parse_moment(
            src.tag("DateTimeDigitized"), src.tag("SubSecTimeDigitized"), digitized or original
        ),
    )
    yield "XMP:CreateDate", parse_moment(src.xmp_value("xmp:CreateDate", "exif:DateTimeDigitized"))
    yield "XMP:DateCreated", parse_moment(src.xmp_value("photoshop:DateCreated"))
    yield "IPTC:DateCreated", src.iptc_moment
    yield "GPSDateTime", _gps_moment(src)
    yield (
        "ModifyDate",
        parse_moment(src.tag("DateTime", ("Image",)), src.tag("SubSecTime"), src.tag("OffsetTime")),
    )
    yield "XMP:ModifyDate", parse_moment(src.xmp_value("xmp:ModifyDate", "tiff:DateTime"))


def _with_xmp_offset(moment: Moment, label: str, src: Sources) -> Moment:
    """Borrow the zone from XMP when it states the same wall-clock time with an offset.

    Lightroom and other editors copy the EXIF date into XMP with the zone attached, while
    cameras from before EXIF 2.31 had no field for it in EXIF itself.
    """
    if moment.offset is not None or label.startswith(("XMP", "IPTC", "GPS")):
        return moment
    names = ("exif:DateTimeOriginal", "xmp:CreateDate", "exif:DateTimeDigitized")
    for name in names:
        other = parse_moment(src.xmp_value(name))
        if other and other.offset is not None and other.local[:19] == moment.local[:19]:
            return Moment(moment.local, other.offset)
    return moment


def _gps_moment(src: Sources) -> Moment | None:
    """GPSDateStamp + GPSTimeStamp are UTC, so they give a time with a zero offset."""
    date = clean_text(src.tag("GPSDate", ("GPS",)))
    parts = src.tag("GPSTimeStamp", ("GPS",))
    if not date or not isinstance(parts, list) or len(parts) != 3:
        return None
    numbers = [n for n in (to_float(part) for part in parts) if n is not None and n >= 0]
    if len(numbers) != 3:
        return None
    hour, minute, second = (int(n) for n in numbers)
    return parse_moment(f"{date} {hour:02d}:{minute:02d}:{second:02d}Z")


def choose_position(src: Sources) -> tuple[float, float] | None:
    lat = signed_coordinate(
        dms_to_degrees(src.tag("GPSLatitude", ("GPS",))), src.tag("GPSLatitudeRef", ("GPS",)), "S"
    )
    lon = signed_coordinate(
        dms_to_degrees(src.tag("GPSLongitude", ("GPS",))),
        src.tag("GPSLongitudeRef", ("GPS",)),
        "W",
    )
    if lat is None or lon is None:
        lat = parse_xmp_coordinate(src.xmp_value("exif:GPSLatitude"))
        lon = parse_xmp_coordinate(src.xmp_value("exif:GPSLongitude"))
    return valid_position(lat, lon)


def choose_altitude(src: Sources) -> float | None:
    value = src.tag("GPSAltitude", ("GPS",))
    if value is not None:
        return altitude(value, src.tag("GPSAltitudeRef", ("GPS",)))
    return altitude(src.xmp_value("exif:GPSAltitude"), src.xmp_value("exif:GPSAltitudeRef"))


def first_iso(src: Sources) -> float | None:
    """ISOSpeedRatings may hold several values (and 65535 for 'above range'); take the first."""
    for value in (
        src.tag("ISOSpeedRatings"),
        src.xmp_value("exif:ISOSpeedRatings", "exifEX:PhotographicSensitivity"),
    ):
        number = to_float(value)
        if number is not None:
            return number
    return None
