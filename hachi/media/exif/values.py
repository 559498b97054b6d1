"""Turn raw metadata values (EXIF tags, XMP strings) into clean Python values.

Every function here accepts whatever a camera, phone or editing tool happened to write and
returns ``None`` rather than raising: metadata is untrusted input, and one odd field must never
cost the user the rest of a photo's metadata.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

MIN_YEAR = 1800  # older dates are placeholders (e.g. '0000:00:00'), not photographs
MAX_YEAR = 2200
MAX_OFFSET_MINUTES = 14 * 60  # UTC+14 is the furthest any zone reaches
MAX_TEXT_LENGTH = 256  # longer "camera model" strings are garbage or abuse

_DATE_RE = re.compile(
    r"\s*(\d{4})[:\-./](\d{1,2})[:\-./](\d{1,2})"
    r"(?:[T\s]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+\-]\d{2}(?::?\d{2})?)?\s*$"
)
_OFFSET_RE = re.compile(r"\s*(?:(Z)|([+\-])(\d{1,2})(?::?(\d{2}))?)\s*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True)
class Moment:
    """A wall-clock time as written in the file, plus the UTC offset when the file gives one."""

    local: str  # 'YYYY-MM-DDTHH:MM:SS' with an optional '.digits' fraction
    offset: int | None  # minutes east of UTC
    date_only: bool = False  # the file gave a day but no time; local says midnight


def parse_offset(text: object) -> int | None:
    """Parse '+02:00', '-0530', '+09' or 'Z' into minutes east of UTC."""
    value = clean_text(text)
    if value is None:
        return None
    match = _OFFSET_RE.match(value)
    if match is None:
        return None
    if match.group(1):
        return 0
    hours, minutes = int(match.group(3)), int(match.group(4) or 0)
    if minutes >= 60:
        return None
    total = hours * 60 + minutes
    if total > MAX_OFFSET_MINUTES:
        return None
    return -total if match.group(2) == "-" else total


def parse_moment(text: object, subsec: object = None, offset: object = None) -> Moment | None:
    """Parse an EXIF ('2001:08:01 12:57:23') or XMP ('2001-08-01T12:57:23.5+02:00') date.

    ``subsec`` and ``offset`` are the separate EXIF SubSecTime* and OffsetTime* tags; an
    offset or fraction written inside the date itself wins because it was written together
    with it. Placeholders such as '0000:00:00 00:00:00' or blanks give None.
    """
    value = clean_text(text)
    match = _DATE_RE.match(value) if value else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
    try:
        stamp = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if not MIN_YEAR <= stamp.year <= MAX_YEAR:
        return None
    fraction = match.group(7) or _digits(subsec)
    local = stamp.isoformat() + (f".{fraction}" if fraction else "")
    zone = parse_offset(match.group(8)) if match.group(8) else parse_offset(offset)
    return Moment(local, zone, date_only=match.group(4) is None)


def _digits(value: object) -> str | None:
    """Sub-second digits exactly as written ('081' stays '081'); anything else is dropped."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.strip()
    return text if text.isdigit() else None


def clean_text(value: object) -> str | None:
    """Decode and tidy a text field: control characters and NUL padding removed, ends stripped."""
    if isinstance(value, list | tuple):
        if not all(isinstance(v, int) and 0 <= v < 256 for v in value):
            return None
        value = bytes(value)
    if isinstance(value, bytes | bytearray):
        value = _decode(bytes(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = _CONTROL_RE.sub(" ", value.split("\x00", 1)[0]).strip()
    return value[:MAX_TEXT_LENGTH].strip() or None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def to_float(value: object) -> float | None:
    """A finite float from an int, float, Fraction-like ratio or numeric string; else None.

    A zero denominator (seen in real files for 'unknown') gives None instead of raising.
    """
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    numerator = getattr(value, "numerator", None)
    denominator = getattr(value, "denominator", None)
    if isinstance(numerator, int) and isinstance(denominator, int):
        result = numerator / denominator if denominator else math.nan
    elif isinstance(value, int | float):
        result = float(value)
    else:
        result = _parse_number(clean_text(value))
    return result if math.isfinite(result) else None


def _parse_number(text: str | None) -> float:
    """Numbers as XMP writes them: '28/10', '2.8' or '400'."""
    if not text:
        return math.nan
    num, slash, den = text.partition("/")
    try:
        if slash:
            denominator = float(den)
            return float(num) / denominator if denominator else math.nan
        return float(text)
    except ValueError:
        return math.nan


def positive(value: object) -> float | None:
    """A strictly positive number; 0 and negatives mean 'unknown' in EXIF exposure fields."""
    number = to_float(value)
    return number if number is not None and number > 0 else None


def positive_int(value: object) -> int | None:
    number = positive(value)
    return round(number) if number is not None and number < 2**31 else None


def orientation(value: object) -> int | None:
    number = to_float(value)
    if number is None or not number.is_integer() or not 1 <= number <= 8:
        return None
    return int(number)


def dms_to_degrees(parts: object) -> float | None:
    """Degrees from EXIF's [degrees, minutes, seconds] rationals (fewer parts allowed)."""
    if not isinstance(parts, list | tuple) or not 1 <= len(parts) <= 3:
        return None
    numbers = [n for n in (to_float(part) for part in parts) if n is not None]
    if len(numbers) != len(parts):
        return None
    return sum(n / 60**i for i, n in enumerate(numbers))


def signed_coordinate(degrees: float | None, ref: object, negative: str) -> float | None:
    """Apply a hemisphere reference: 'S' or 'W' makes the value negative.

    A missing or unreadable reference leaves the number as stored (so a writer that stores
    signed values still works); we cannot know the hemisphere any better than that.
    """
    if degrees is None:
        return None
    letter = (clean_text(ref) or "").upper()[:1]
    return -abs(degrees) if letter == negative else degrees


def valid_position(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    """Both coordinates in range, or no position at all (half a position is useless)."""
    if lat is None or lon is None:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return lat, lon


def altitude(value: object, ref: object) -> float | None:
    """Metres above sea level; GPSAltitudeRef 1 (or 3 in EXIF 3.0) means below."""
    metres = to_float(value)
    if metres is None:
        return None
    ref_number = to_float(ref)
    return -abs(metres) if ref_number in (1.0, 3.0) else metres
