"""Hachi's one-line query language: free text and filters mixed, parsed into a typed Query.

The parser is pure (no catalog, no models) so that the API can echo exactly what it
understood and point at the offending characters when it understood nothing.

Grammar, informally::

    query   := token (whitespace token)*
    token   := phrase | filter | word
    phrase  := '"' chars '"'                 free text that keeps its spaces
    filter  := ['-'] key ':' value (',' value)*
    value   := '"' chars '"' | chars-without-space-or-comma
    key     := ASCII letters, case-insensitive

Rules and decisions:

* Filters combine with AND; the comma-separated values of one filter with OR; a leading
  ``-`` negates the whole filter (none of its values). ``similar:`` and ``sort:`` cannot be
  negated. Values keep their case; matching them is the search engine's job.
* Inside quotes, ``\\"`` is a quote and ``\\\\`` a backslash; commas and spaces are literal.
  Runs of whitespace in phrases and quoted values collapse to one space.
* A quote opens a phrase or a quoted value only at the start of a token or value; elsewhere
  it is an ordinary character, and quote characters are dropped from free-text words.
* A bare ``-word`` is just free text (CLIP cannot rank by absence); only ``-key:`` negates.
* A token is a filter only if the part before its first ``:`` is ASCII letters, so
  ``10:30`` and ``日本:東京`` are free text. Of letter-keyed tokens, ``word:`` with nothing
  after the colon and anything followed by ``//`` (URLs) stay free text; any other unknown
  key is an error with a suggestion, because a mistyped filter silently searched as text
  would return confusing results.
* Aliases: ``people:`` = ``person:``, ``make:`` and ``model:`` = ``camera:`` (the EXIF field
  names), ``ext:`` = ``type:``, ``date:`` = ``year:``.
* Dates are ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (``/`` also separates), years 1800 to
  2200. Each names a period: that year, month or day. ``after:X`` means on or after the start
  of X; ``before:X`` means strictly before the start of X; ``year:X`` (or ``date:X``) means
  within X. All become half-open ranges ``[start, end)`` of ``'YYYY-MM-DD'`` strings, which
  compare correctly with timestamps ``'YYYY-MM-DDTHH:MM:SS'`` as plain strings: e.g.
  ``after:2019-06`` is ``['2019-06-01', None)`` and ``year:2020`` is
  ``['2020-01-01', '2021-01-01')``.
* ``faces:N`` means exactly N faces, ``faces:N+`` at least N. ``similar:ID`` takes a photo id.
  ``orientation:`` is portrait, landscape or square. ``type:`` names a file type or extension,
  normalised (``jpg`` -> ``jpeg``, ``tif`` -> ``tiff``, ``heif`` -> ``heic``); ``raw`` means any
  camera raw format. ``sort:`` is relevance, date/newest (newest first) or date-asc/oldest,
  at most once.
* Limits: 1,000 characters and 64 filter values per query; control characters are refused.

Every error is a QuerySyntaxError whose ``start``/``end`` are offsets into the original string.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from hachi.errors import QuerySyntaxError

MAX_QUERY_CHARS = 1000
MAX_VALUES = 64
MAX_FACES = 1000
MAX_PHOTO_ID = 2**63 - 1
MIN_YEAR, MAX_YEAR = 1800, 2200


class FilterKey(StrEnum):
    PERSON = "person"
    PLACE = "place"
    COUNTRY = "country"
    CAMERA = "camera"
    LENS = "lens"
    AFTER = "after"
    BEFORE = "before"
    YEAR = "year"
    FOLDER = "folder"
    FILE = "file"
    TYPE = "type"
    ORIENTATION = "orientation"
    TEXT = "text"
    SIMILAR = "similar"
    FACES = "faces"


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    DATE_DESC = "date_desc"
    DATE_ASC = "date_asc"


SORT_KEY = "sort"
KEY_ALIASES: dict[str, FilterKey] = {
    "people": FilterKey.PERSON,
    "make": FilterKey.CAMERA,
    "model": FilterKey.CAMERA,
    "ext": FilterKey.TYPE,
    "date": FilterKey.YEAR,
}
SORT_NAMES: dict[str, SortOrder] = {
    "relevance": SortOrder.RELEVANCE,
    **dict.fromkeys(["date", "newest", "date-desc", "date_desc"], SortOrder.DATE_DESC),
    **dict.fromkeys(["oldest", "date-asc", "date_asc"], SortOrder.DATE_ASC),
}
ORIENTATIONS = {
    "portrait": "portrait", "vertical": "portrait", "landscape": "landscape",
    "horizontal": "landscape", "square": "square",
}  # fmt: skip
RAW_TYPES = (
    "dng cr2 cr3 crw nef nrw arw srf sr2 raf orf rw2 pef srw x3f 3fr erf kdc mrw iiq rwl"
).split()
FILE_TYPES: dict[str, str] = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "heic": "heic",
    "heif": "heic", "hif": "heic", "webp": "webp", "tiff": "tiff", "tif": "tiff",
    "gif": "gif", "bmp": "bmp", "avif": "avif", "jxl": "jxl", "raw": "raw",
    **{name: name for name in RAW_TYPES},
}  # fmt: skip
FILTER_NAMES = frozenset(key.value for key in FilterKey)
NOT_NEGATABLE = frozenset({FilterKey.SIMILAR.value, SORT_KEY})

_T = TypeVar("_T")
_KEY_RE = re.compile(r"(-?)([A-Za-z]+):")
_DATE_RE = re.compile(r"([0-9]{4})(?:([-/])([0-9]{1,2})(?:\2([0-9]{1,2}))?)?")
_FACES_RE = re.compile(r"([0-9]{1,9})(\+?)")
_ID_RE = re.compile(r"[0-9]{1,19}")


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


@dataclass(frozen=True)
class Filter:
    key: FilterKey
    values: tuple[Value, ...]
    negated: bool
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key.value,
            "values": [_value_to_json(v) for v in self.values],
            "negated": self.negated,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Query:
    text: str
    phrases: tuple[str, ...]
    filters: tuple[Filter, ...]
    sort: SortOrder | None

    def filters_for(self, key: FilterKey) -> tuple[Filter, ...]:
        return tuple(f for f in self.filters if f.key is key)

    def is_empty(self) -> bool:
        """True when nothing narrows or ranks the library (a sort alone just lists it)."""
        return not self.text and not self.filters

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "phrases": list(self.phrases),
            "filters": [f.to_dict() for f in self.filters],
            "sort": self.sort.value if self.sort else None,
        }


def _value_to_json(value: Value) -> Any:
    if isinstance(value, DateRange):
        return {"start": value.start, "end": value.end}
    if isinstance(value, FacesCount):
        return {"count": value.count, "or_more": value.or_more}
    return value


def parse_query(q: str) -> Query:
    """Parse one line of the query language; raise QuerySyntaxError pointing at the problem."""
    _check_characters(q)
    builder = _QueryBuilder()
    for token in _tokens(q):
        builder.add(token)
    return builder.build()


# -- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    text: str  # what it means: quotes and escapes resolved
    start: int
    end: int
    raw: str | None = None  # what was typed, when it differs from text


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    quoted: bool


@dataclass(frozen=True)
class _FilterToken:
    key: str  # canonical: a FilterKey value or SORT_KEY
    raw: str  # the token as typed, for messages
    negated: bool
    key_span: _Span
    values: tuple[_Span, ...]
    start: int
    end: int


def _check_characters(q: str) -> None:
    if len(q) > MAX_QUERY_CHARS:
        _fail(
            f"query is too long (at most {MAX_QUERY_CHARS} characters)",
            _Span(q[MAX_QUERY_CHARS:], MAX_QUERY_CHARS, len(q)),
        )
    for i, char in enumerate(q):
        if unicodedata.category(char) in ("Cc", "Cs") and not char.isspace():
            _fail(f"invalid character U+{ord(char):04X} in query", _Span(char, i, i + 1))


def _tokens(q: str) -> Iterator[_Word | _FilterToken]:
    pos = 0
    while True:
        while pos < len(q) and q[pos].isspace():
            pos += 1
        if pos >= len(q):
            return
        token = _read_token(q, pos)
        yield token
        pos = token.end


def _read_token(q: str, pos: int) -> _Word | _FilterToken:
    if q[pos] == '"':
        text, end = _read_quoted(q, pos)
        return _Word(text, pos, end, quoted=True)
    match = _KEY_RE.match(q, pos)
    key = _filter_key(q, match) if match else None
    if match and key:
        return _read_filter(q, match, key)
    end = pos
    while end < len(q) and not q[end].isspace():
        end += 1
    return _Word(q[pos:end], pos, end, quoted=False)


def _filter_key(q: str, match: re.Match[str]) -> str | None:
    """The canonical key of a letter-keyed token, None when it is free text after all."""
    name = match.group(2).lower()
    after = match.end()
    if q.startswith("//", after):
        return None
    if name in FILTER_NAMES or name == SORT_KEY:
        return name
    if name in KEY_ALIASES:
        return KEY_ALIASES[name].value
    if after >= len(q) or q[after].isspace() or q[after] == "/":
        return None
    key_start = match.start(2)
    _fail(_unknown_key_message(match.group(2)), _Span(q[key_start:after], key_start, after))


def _unknown_key_message(typed: str) -> str:
    names = [k.value for k in FilterKey] + [SORT_KEY, *KEY_ALIASES]
    close = difflib.get_close_matches(typed.lower(), names, n=1, cutoff=0.6)
    if close:
        return f'unknown filter "{typed}:" (did you mean "{close[0]}:"?)'
    listing = ", ".join([k.value for k in FilterKey] + [SORT_KEY])
    return f'unknown filter "{typed}:" (filters are {listing})'


def _read_filter(q: str, match: re.Match[str], key: str) -> _FilterToken:
    key_span = _Span(q[match.start(2) : match.end()], match.start(2), match.end())
    values, end = _read_values(q, match.end(), key_span)
    raw = q[match.start() : end]
    return _FilterToken(key, raw, bool(match.group(1)), key_span, values, match.start(), end)


def _read_values(q: str, pos: int, key_span: _Span) -> tuple[tuple[_Span, ...], int]:
    values: list[_Span] = []
    while True:
        item, pos = _read_value(q, pos)
        if not item.text:
            _fail_empty(q, key_span, item, first=not values)
        values.append(item)
        if pos < len(q) and q[pos] == ",":
            pos += 1
            continue
        if pos < len(q) and not q[pos].isspace():
            _fail('expected a space or "," after the closing quote', _Span(q[pos], pos, pos + 1))
        return tuple(values), pos


def _read_value(q: str, pos: int) -> tuple[_Span, int]:
    if pos < len(q) and q[pos] == '"':
        text, end = _read_quoted(q, pos)
        return _Span(text, pos, end, raw=q[pos:end]), end
    end = pos
    while end < len(q) and q[end] != "," and not q[end].isspace():
        end += 1
    return _Span(q[pos:end], pos, end), end


def _read_quoted(q: str, pos: int) -> tuple[str, int]:
    """Text between the quote at ``pos`` and its closing quote, whitespace collapsed."""
    chars: list[str] = []
    i = pos + 1
    while i < len(q):
        char = q[i]
        if char == "\\" and i + 1 < len(q) and q[i + 1] in '"\\':
            chars.append(q[i + 1])
            i += 2
        elif char == '"':
            return " ".join("".join(chars).split()), i + 1
        else:
            chars.append(char)
            i += 1
    _fail("unterminated quote", _Span(q[pos:], pos, len(q)))


def _fail_empty(q: str, key_span: _Span, item: _Span, first: bool) -> NoReturn:
    if first:
        _fail(f'empty value for "{key_span.text}"', key_span)
    raw = q[key_span.start : item.end]
    _fail(
        f'empty value after "," in "{raw}"',
        _Span(q[item.start - 1 : item.end], item.start - 1, item.end),
    )


def _fail(message: str, span: _Span) -> NoReturn:
    token = span.text if span.raw is None else span.raw
    raise QuerySyntaxError(message, token, span.start, span.end)


# -- values ----------------------------------------------------------------------------------


def _parse_text(item: _Span, token: _FilterToken) -> Value:
    return item.text


def _parse_period(item: _Span, token: _FilterToken) -> tuple[str, str]:
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


def _fail_date(item: _Span, token: _FilterToken, hint: str) -> NoReturn:
    _fail(f'invalid date "{item.text}" in "{token.raw}" ({hint})', item)


def _parse_after(item: _Span, token: _FilterToken) -> Value:
    return DateRange(_parse_period(item, token)[0], None)


def _parse_before(item: _Span, token: _FilterToken) -> Value:
    return DateRange(None, _parse_period(item, token)[0])


def _parse_within(item: _Span, token: _FilterToken) -> Value:
    return DateRange(*_parse_period(item, token))


def _parse_faces(item: _Span, token: _FilterToken) -> Value:
    match = _FACES_RE.fullmatch(item.text)
    if not match or int(match[1]) > MAX_FACES:
        _fail(f'"{token.key_span.text}" expects a number like 0, 2 or 3+', item)
    return FacesCount(int(match[1]), bool(match[2]))


def _parse_photo_id(item: _Span, token: _FilterToken) -> Value:
    if not _ID_RE.fullmatch(item.text) or not 0 < int(item.text) <= MAX_PHOTO_ID:
        _fail(f'"{token.key_span.text}" expects a photo id (a positive whole number)', item)
    return int(item.text)


def _parse_orientation(item: _Span, token: _FilterToken) -> Value:
    return _lookup(ORIENTATIONS, item, token, "portrait, landscape or square")


def _parse_type(item: _Span, token: _FilterToken) -> Value:
    name = item.text.lower().removeprefix(".")
    if name in FILE_TYPES:
        return FILE_TYPES[name]
    close = difflib.get_close_matches(name, FILE_TYPES, n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"?' if close else "e.g. jpeg, png, heic, webp, raw, dng"
    _fail(f'unknown file type "{item.text}" in "{token.raw}" ({hint})', item)


def _lookup(table: dict[str, _T], item: _Span, token: _FilterToken, expected: str) -> _T:
    name = item.text.lower()
    if name not in table:
        _fail(f'"{token.key_span.text}" expects {expected}', item)
    return table[name]


_VALUE_PARSERS: dict[FilterKey, Callable[[_Span, _FilterToken], Value]] = {
    FilterKey.AFTER: _parse_after,
    FilterKey.BEFORE: _parse_before,
    FilterKey.YEAR: _parse_within,
    FilterKey.FACES: _parse_faces,
    FilterKey.SIMILAR: _parse_photo_id,
    FilterKey.ORIENTATION: _parse_orientation,
    FilterKey.TYPE: _parse_type,
}


# -- assembly --------------------------------------------------------------------------------


class _QueryBuilder:
    """Collects tokens in order; checks the rules that span tokens (one sort, value count)."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.phrases: list[str] = []
        self.filters: list[Filter] = []
        self.sort: SortOrder | None = None
        self.value_count = 0

    def add(self, token: _Word | _FilterToken) -> None:
        if isinstance(token, _Word):
            self._add_words(token)
            return
        if token.negated and token.key in NOT_NEGATABLE:
            _fail(
                f'"{token.key_span.text}" cannot be negated',
                _Span(token.raw, token.start, token.end),
            )
        self._count_values(token)
        if token.key == SORT_KEY:
            self._set_sort(token)
        else:
            self._add_filter(token)

    def _add_words(self, token: _Word) -> None:
        text = token.text if token.quoted else token.text.replace('"', "")
        if not text:
            return
        self.words.append(text)
        if token.quoted:
            self.phrases.append(text)

    def _count_values(self, token: _FilterToken) -> None:
        self.value_count += len(token.values)
        over = self.value_count - MAX_VALUES
        if over > 0:
            first_extra = token.values[len(token.values) - over]
            _fail(f"too many filter values (at most {MAX_VALUES} in one query)", first_extra)

    def _set_sort(self, token: _FilterToken) -> None:
        if self.sort is not None:
            _fail('only one "sort:" is allowed', _Span(token.raw, token.start, token.end))
        if len(token.values) > 1:
            _fail(f'"{token.key_span.text}" takes a single value', token.values[1])
        item = token.values[0]
        expected = "relevance, date (newest first), date-asc, oldest or newest"
        self.sort = _lookup(SORT_NAMES, item, token, expected)

    def _add_filter(self, token: _FilterToken) -> None:
        key = FilterKey(token.key)
        parse = _VALUE_PARSERS.get(key, _parse_text)
        values = tuple(dict.fromkeys(parse(item, token) for item in token.values))
        self.filters.append(Filter(key, values, token.negated, token.start, token.end))

    def build(self) -> Query:
        return Query(" ".join(self.words), tuple(self.phrases), tuple(self.filters), self.sort)
