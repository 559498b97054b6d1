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
* ``duplicate:`` is any, identical, edited or burst (the tiers of near-duplicate groups);
  ``stack:`` is on (the default: a group shows as one hit) or off.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
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
_ID_RE = re.compile(r"[0-9]{1,19}")


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


Value = str | int | DateRange | FacesCount


def value_to_json(value: Value) -> Any:
    if isinstance(value, DateRange):
        return {"start": value.start, "end": value.end}
    if isinstance(value, FacesCount):
        return {"count": value.count, "or_more": value.or_more}
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


def parse_within(item: Span, token: FilterToken) -> Value:
    return DateRange(*_parse_period(item, token))


def parse_faces(item: Span, token: FilterToken) -> Value:
    match = _FACES_RE.fullmatch(item.text)
    if not match or int(match[1]) > MAX_FACES:
        fail(f'"{token.key_span.text}" expects a number like 0, 2 or 3+', item)
    return FacesCount(int(match[1]), bool(match[2]))


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
