"""Values of the query language's filters: dates, face counts, photo ids, file types.

Each filter's comma-separated values are parsed here, one at a time, into the typed values the
search engine matches against; a value that does not parse is a QuerySyntaxError pointing at
just that value. The pieces of a typed query that a parser sees (``Span``, ``FilterToken``)
live here too, so that the tokenizer in ``hachi.search.query`` can build on them.

Rules and decisions:

* Dates are ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (``/`` also separates), years 1800 to
  2200. Each names a period: that year, month or day. ``after:X`` means on or after the start
  of X; ``before:X`` means strictly before the start of X; ``year:X`` (or ``date:X``) means
  within X. All become half-open ranges ``[start, end)`` of ``'YYYY-MM-DD'`` strings, which
  compare correctly with timestamps ``'YYYY-MM-DDTHH:MM:SS'`` as plain strings: e.g.
  ``after:2019-06`` is ``['2019-06-01', None)`` and ``year:2020`` is
  ``['2020-01-01', '2021-01-01')``.
* ``faces:N`` means exactly N faces, ``faces:N+`` at least N. ``similar:ID`` takes a photo id.
  ``orientation:`` is portrait, landscape or square. ``type:`` names a file type or extension of a
  format Hachi indexes (``hachi.media.formats``), normalised (``jpg`` -> ``jpeg``, ``tif`` ->
  ``tiff``, ``heif`` -> ``heic``); ``raw`` means any camera raw format.
* ``near:LAT,LON,RADIUS`` and ``near:PLACE,RADIUS`` are one circle each (their commas are not
  "any of"): decimal degrees, latitude -90..90, longitude -180..180, and a radius with its unit
  (``m``, ``km`` or ``mi``) from 1 m to half the Earth's circumference (20,015 km).
  ``within:S,W,N,E`` is one box in degrees (south <= north; west > east crosses the
  antimeridian). Several ``near:``/``within:`` filters must all hold. (``within:`` was never a
  filter before: the date filter that means "within this period" is ``year:``/``date:``.)
* ``duplicate:`` is any, identical, edited or burst (the tiers of near-duplicate groups);
  ``stack:`` is on (the default: a group shows as one hit) or off.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from hachi.errors import QuerySyntaxError
from hachi.media.formats import FILE_TYPE_NAMES

MAX_FACES = 1000
MAX_PHOTO_ID = 2**63 - 1
MIN_YEAR, MAX_YEAR = 1800, 2200
ORIENTATIONS = {
    "portrait": "portrait", "vertical": "portrait", "landscape": "landscape",
    "horizontal": "landscape", "square": "square",
}  # fmt: skip
DUPLICATE_KINDS = {
    "any": ("identical", "edited", "burst"), "identical": ("identical",),
    "edited": ("edited",), "burst": ("burst",),
}  # fmt: skip
STACKING = {"on": "on", "off": "off"}
FILE_TYPES = FILE_TYPE_NAMES  # what type: accepts, from the formats Hachi indexes

_T = TypeVar("_T")
_DATE_RE = re.compile(r"([0-9]{4})(?:([-/])([0-9]{1,2})(?:\2([0-9]{1,2}))?)?")
_FACES_RE = re.compile(r"([0-9]{1,9})(\+?)")
_MONTH_DAY_RE = re.compile(r"([0-9]{1,2})[-/]([0-9]{1,2})")
_LEAP_YEAR = 2000  # checks a month-day against the longest year, so 02-29 is a day
_ID_RE = re.compile(r"[0-9]{1,19}")
_DURATION_RE = re.compile(r"(>=|<=|>|<)([0-9]{1,6}(?:\.[0-9]{1,3})?)(s|sec|m|min|h)?")
_SECONDS_PER_UNIT = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


class Logic(StrEnum):
    """How the values of one ``person:`` filter combine (``hachi.search.query``)."""

    ANY = "any"  # person:a,b     any of them is in the photo
    ALL = "all"  # person:a+b     every one of them is in the photo
    ONLY = "only"  # person:=a,b  they are all there, and no other named person is


@dataclass(frozen=True)
class DateRange:
    """Half-open ``[start, end)`` of ISO dates; None is unbounded on that side."""

    start: str | None
    end: str | None


@dataclass(frozen=True)
class FacesCount:
    count: int
    or_more: bool


@dataclass(frozen=True)
class NearPoint:
    """A circle: every photo within ``radius_km`` of (latitude, longitude)."""

    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True)
class NearPlace:
    """A circle around a named place, resolved by the offline geocoder at search time;
    ``span`` lets an unknown name be pointed at."""

    place: str
    radius_km: float
    span: Span = field(compare=False, hash=False)


@dataclass(frozen=True)
class GeoBox:
    """A latitude/longitude box; ``west > east`` means it crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float


@dataclass(frozen=True)
class DurationBound:
    """``duration:>30s``: a comparison (one of > >= < <=) with a length in seconds."""

    op: str
    seconds: float


Value = str | int | DateRange | FacesCount | NearPoint | NearPlace | GeoBox | DurationBound


def value_to_json(value: Value) -> Any:
    if isinstance(value, DateRange):
        return {"start": value.start, "end": value.end}
    if isinstance(value, FacesCount):
        return {"count": value.count, "or_more": value.or_more}
    if isinstance(value, NearPoint):
        return {"latitude": value.latitude, "longitude": value.longitude,
                "radius_km": value.radius_km}  # fmt: skip
    if isinstance(value, NearPlace):
        return {"place": value.place, "radius_km": value.radius_km}
    if isinstance(value, GeoBox):
        return {"south": value.south, "west": value.west, "north": value.north,
                "east": value.east}  # fmt: skip
    if isinstance(value, DurationBound):
        return {"op": value.op, "seconds": value.seconds}
    return value


# -- what a parser sees ----------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A piece of the query string, so that an error can point at exactly that piece."""

    text: str  # what it means: quotes and escapes resolved
    start: int
    end: int
    raw: str | None = None  # what was typed, when it differs from text


@dataclass(frozen=True)
class FilterToken:
    """One ``key:value,...`` token as typed; parsers quote it in their messages."""

    key: str  # canonical: a FilterKey value or SORT_KEY
    raw: str  # the token as typed, for messages
    negated: bool
    key_span: Span
    values: tuple[Span, ...]
    start: int
    end: int
    logic: Logic = Logic.ANY


def fail(message: str, span: Span) -> NoReturn:
    token = span.text if span.raw is None else span.raw
    raise QuerySyntaxError(message, token, span.start, span.end)


# -- values ----------------------------------------------------------------------------------


def parse_text(item: Span, token: FilterToken) -> Value:
    return item.text


def _parse_period(item: Span, token: FilterToken) -> tuple[str, str]:
    """The period a date names, as ``(first day, first day after)``."""
    match = _DATE_RE.fullmatch(item.text)
    if not match:
        _fail_date(item, token, "use YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(match[1]), int(match[3] or 1), int(match[4] or 1)
    if not MIN_YEAR <= year <= MAX_YEAR:
        _fail_date(item, token, f"years run from {MIN_YEAR} to {MAX_YEAR}")
    if not 1 <= month <= 12:
        _fail_date(item, token, "no such month")
    try:
        start = dt.date(year, month, day)
    except ValueError:
        _fail_date(item, token, "no such day")
    if match[4]:
        end = start + dt.timedelta(days=1)
    elif match[3]:
        end = dt.date(year + month // 12, month % 12 + 1, 1)
    else:
        end = dt.date(year + 1, 1, 1)
    return start.isoformat(), end.isoformat()


def _fail_date(item: Span, token: FilterToken, hint: str) -> NoReturn:
    fail(f'invalid date "{item.text}" in "{token.raw}" ({hint})', item)


def parse_after(item: Span, token: FilterToken) -> Value:
    return DateRange(_parse_period(item, token)[0], None)


def parse_before(item: Span, token: FilterToken) -> Value:
    return DateRange(None, _parse_period(item, token)[0])


def parse_period(item: Span, token: FilterToken) -> Value:
    return DateRange(*_parse_period(item, token))


def parse_month_day(item: Span, token: FilterToken) -> Value:
    """``MM-DD``: a day of the year, in any year (``day:12-25`` is every Christmas)."""
    match = _MONTH_DAY_RE.fullmatch(item.text)
    try:
        if not match:
            raise ValueError
        day = dt.date(_LEAP_YEAR, int(match[1]), int(match[2]))
    except ValueError:
        fail(f'invalid day "{item.text}" in "{token.raw}" (use MM-DD, e.g. 07-14)', item)
    return day.strftime("%m-%d")


def parse_faces(item: Span, token: FilterToken) -> Value:
    match = _FACES_RE.fullmatch(item.text)
    if not match or int(match[1]) > MAX_FACES:
        fail(f'"{token.key_span.text}" expects a number like 0, 2 or 3+', item)
    return FacesCount(int(match[1]), bool(match[2]))


def parse_duration(item: Span, token: FilterToken) -> Value:
    match = _DURATION_RE.fullmatch(item.text.lower())
    if not match:
        fail(f'"{token.key_span.text}" expects a comparison like >30s, <2m or >=1h', item)
    return DurationBound(match[1], float(match[2]) * _SECONDS_PER_UNIT[match[3]])


def parse_photo_id(item: Span, token: FilterToken) -> Value:
    if not _ID_RE.fullmatch(item.text) or not 0 < int(item.text) <= MAX_PHOTO_ID:
        fail(f'"{token.key_span.text}" expects a photo id (a positive whole number)', item)
    return int(item.text)


def parse_orientation(item: Span, token: FilterToken) -> Value:
    return lookup(ORIENTATIONS, item, token, "portrait, landscape or square")


def parse_duplicate(item: Span, token: FilterToken) -> Value:
    lookup(DUPLICATE_KINDS, item, token, "any, identical, edited or burst")
    return item.text.lower()


def parse_stack(item: Span, token: FilterToken) -> Value:
    return lookup(STACKING, item, token, "on or off")


def parse_type(item: Span, token: FilterToken) -> Value:
    name = item.text.lower().removeprefix(".")
    if name in FILE_TYPES:
        return FILE_TYPES[name]
    close = difflib.get_close_matches(name, FILE_TYPES, n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"?' if close else "e.g. jpeg, png, heic, webp, raw, dng"
    fail(f'unknown file type "{item.text}" in "{token.raw}" ({hint})', item)


def lookup(table: dict[str, _T], item: Span, token: FilterToken, expected: str) -> _T:
    name = item.text.lower()
    if name not in table:
        fail(f'"{token.key_span.text}" expects {expected}', item)
    return table[name]


# -- places ----------------------------------------------------------------------------------

MIN_RADIUS_KM = 0.001
MAX_RADIUS_KM = 20_015.0  # half the Earth's circumference: every point on the globe
RADIUS_UNITS = {"m": 0.001, "km": 1.0, "mi": 1.609344}
_RADIUS_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(m|km|mi)", re.IGNORECASE)
_NUMBER_RE = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
NEAR_FORMS = "near:LAT,LON,RADIUS or near:PLACE,RADIUS, e.g. near:48.8566,2.3522,5km"


def _whole(token: FilterToken) -> Span:
    return Span(token.raw, token.start, token.end)


def _degrees(item: Span, token: FilterToken, what: str, limit: float) -> float:
    if not _NUMBER_RE.fullmatch(item.text):
        fail(f'{what} "{item.text}" in "{token.raw}" is not a number of degrees', item)
    value = float(item.text)
    if not -limit <= value <= limit:
        fail(f'{what} "{item.text}" in "{token.raw}" is out of range (-{limit:g} to {limit:g})',
             item)  # fmt: skip
    return value


def _radius(item: Span, token: FilterToken) -> float:
    match = _RADIUS_RE.fullmatch(item.text.strip())
    if not match:
        hint = (
            "add a unit: 500m, 5km or 3mi"
            if _NUMBER_RE.fullmatch(item.text)
            else ("a number with m, km or mi, e.g. 5km")
        )
        fail(f'radius "{item.text}" in "{token.raw}" ({hint})', item)
    km = float(match[1]) * RADIUS_UNITS[match[2].lower()]
    if not math.isfinite(km) or not MIN_RADIUS_KM <= km <= MAX_RADIUS_KM:
        fail(f'radius "{item.text}" in "{token.raw}" must be from 1m to {MAX_RADIUS_KM:,.0f}km',
             item)  # fmt: skip
    return km


def parse_near(token: FilterToken) -> tuple[Value, ...]:
    """The whole ``near:`` token is one circle: a point or a place, then a radius."""
    values = token.values
    if len(values) == 3:
        lat = _degrees(values[0], token, "latitude", 90.0)
        lon = _degrees(values[1], token, "longitude", 180.0)
        return (NearPoint(lat, lon, _radius(values[2], token)),)
    if len(values) == 2:
        if _NUMBER_RE.fullmatch(values[0].text):
            fail(f'"{token.raw}" needs a radius after the longitude, e.g. '
                 f'near:{values[0].text},{values[1].text},5km', _whole(token))  # fmt: skip
        return (NearPlace(values[0].text, _radius(values[1], token), values[0]),)
    fail(f'"{token.raw}" needs a radius; use {NEAR_FORMS}', _whole(token))


def parse_box(token: FilterToken) -> tuple[Value, ...]:
    """``within:S,W,N,E``: one box; west > east crosses the antimeridian."""
    if len(token.values) != 4:
        fail(f'"{token.raw}" expects four numbers: within:SOUTH,WEST,NORTH,EAST', _whole(token))
    south_s, west_s, north_s, east_s = token.values
    south = _degrees(south_s, token, "south", 90.0)
    west = _degrees(west_s, token, "west", 180.0)
    north = _degrees(north_s, token, "north", 90.0)
    east = _degrees(east_s, token, "east", 180.0)
    if south > north:
        fail(f'"{token.raw}": south ({south:g}) is north of north ({north:g})', _whole(token))
    return (GeoBox(south, west, north, east),)
