"""Hachi's one-line query language: free text and filters mixed, parsed into a typed Query.

The parser is pure (no catalog, no models) so that the API can echo exactly what it
understood and point at the offending characters when it understood nothing.

Grammar, informally::

    query   := token (whitespace token)*
    token   := phrase | filter | word
    phrase  := '"' chars '"'                 free text that keeps its spaces
    filter  := ['-'] key ':' value (',' value)*
             | ['-'] 'person:' value ('+' value)+      all of them (also people:)
             | ['-'] 'person:=' value (',' value)*     only them
    value   := '"' chars '"' | chars-without-space-or-comma
    key     := ASCII letters, case-insensitive

Rules and decisions:

* Filters combine with AND; the comma-separated values of one filter with OR; a leading
  ``-`` negates the whole filter (none of its values). ``similar:`` and ``sort:`` cannot be
  negated. Values keep their case; matching them is the search engine's job.
* ``person:`` values combine three ways: ``a,b`` any of them, ``a+b`` all of them, ``=a,b``
  only them (all of them and no other named person). ``+`` and ``,`` may not be mixed in one
  filter, ``=`` only leads the value and takes ``,``; names holding ``+``, ``,`` or a leading
  ``=`` are quoted. Other keys keep ``+`` literal (``faces:3+``).
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
* Values: dates, face counts, photo ids, orientations and file types are parsed as
  ``hachi.search.query_values`` describes; so are ``near:`` (a point or a place name and a
  radius) and ``within:`` (a box), whose commas separate the parts of one value. ``sort:``
  is relevance, date/newest (newest first), date-asc/oldest, or distance/nearest (nearest
  first; only with a ``near:`` that is not negated), at most once.
* Limits: 1,000 characters and 64 filter values per query; control characters are refused.

Every error is a QuerySyntaxError whose ``start``/``end`` are offsets into the original string.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NoReturn

from hachi.search.filters import FILTERS, KEY_ALIASES, LOGIC_KEYS, FilterKey
from hachi.search.query_values import (
    FILE_TYPES,
    MAX_FACES,
    MAX_PHOTO_ID,
    MAX_YEAR,
    MIN_YEAR,
    ORIENTATIONS,
    DateRange,
    FacesCount,
    FilterToken,
    Logic,
    Span,
    Value,
    fail,
    lookup,
    value_to_json,
)

__all__ = [
    "FILE_TYPES",
    "FILTER_NAMES",
    "KEY_ALIASES",
    "MAX_FACES",
    "MAX_PHOTO_ID",
    "MAX_QUERY_CHARS",
    "MAX_VALUES",
    "MAX_YEAR",
    "MIN_YEAR",
    "NOT_NEGATABLE",
    "ORIENTATIONS",
    "SORT_KEY",
    "SORT_NAMES",
    "DateRange",
    "FacesCount",
    "Filter",
    "FilterKey",
    "Logic",
    "Query",
    "SortOrder",
    "Value",
    "parse_query",
]

MAX_QUERY_CHARS = 1000
MAX_VALUES = 64


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    DATE_DESC = "date_desc"
    DATE_ASC = "date_asc"
    DISTANCE = "distance"  # nearest first, from the (first) near: filter's centre


SORT_KEY = "sort"
SORT_NAMES: dict[str, SortOrder] = {
    "relevance": SortOrder.RELEVANCE,
    **dict.fromkeys(["date", "newest", "date-desc", "date_desc"], SortOrder.DATE_DESC),
    **dict.fromkeys(["oldest", "date-asc", "date_asc"], SortOrder.DATE_ASC),
    **dict.fromkeys(["distance", "nearest"], SortOrder.DISTANCE),
}
FILTER_NAMES = frozenset(key.value for key in FilterKey)
NOT_NEGATABLE = frozenset({*(s.key.value for s in FILTERS.values() if not s.negatable), SORT_KEY})

_KEY_RE = re.compile(r"(-?)([A-Za-z]+):")


@dataclass(frozen=True)
class Filter:
    key: FilterKey
    values: tuple[Value, ...]
    negated: bool
    start: int
    end: int
    logic: Logic = Logic.ANY

    def to_dict(self) -> dict[str, Any]:
        out = {
            "key": self.key.value,
            "values": [value_to_json(v) for v in self.values],
            "negated": self.negated,
            "start": self.start,
            "end": self.end,
        }
        if self.logic is not Logic.ANY:
            out["logic"] = self.logic.value
        return out


@dataclass(frozen=True)
class Query:
    text: str
    phrases: tuple[str, ...]
    filters: tuple[Filter, ...]
    sort: SortOrder | None

    def filters_for(self, key: FilterKey) -> tuple[Filter, ...]:
        return tuple(f for f in self.filters if f.key is key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "phrases": list(self.phrases),
            "filters": [f.to_dict() for f in self.filters],
            "sort": self.sort.value if self.sort else None,
        }


def parse_query(q: str) -> Query:
    """Parse one line of the query language; raise QuerySyntaxError pointing at the problem."""
    _check_characters(q)
    builder = _QueryBuilder()
    for token in _tokens(q):
        builder.add(token)
    return builder.build()


# -- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    quoted: bool


def _check_characters(q: str) -> None:
    if len(q) > MAX_QUERY_CHARS:
        fail(
            f"query is too long (at most {MAX_QUERY_CHARS} characters)",
            Span(q[MAX_QUERY_CHARS:], MAX_QUERY_CHARS, len(q)),
        )
    for i, char in enumerate(q):
        if unicodedata.category(char) in ("Cc", "Cs") and not char.isspace():
            fail(f"invalid character U+{ord(char):04X} in query", Span(char, i, i + 1))


def _tokens(q: str) -> Iterator[_Word | FilterToken]:
    pos = 0
    while True:
        while pos < len(q) and q[pos].isspace():
            pos += 1
        if pos >= len(q):
            return
        token = _read_token(q, pos)
        yield token
        pos = token.end


def _read_token(q: str, pos: int) -> _Word | FilterToken:
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
    fail(_unknown_key_message(match.group(2)), Span(q[key_start:after], key_start, after))


def _unknown_key_message(typed: str) -> str:
    names = [k.value for k in FilterKey] + [SORT_KEY, *KEY_ALIASES]
    close = difflib.get_close_matches(typed.lower(), names, n=1, cutoff=0.6)
    if close:
        return f'unknown filter "{typed}:" (did you mean "{close[0]}:"?)'
    listing = ", ".join([k.value for k in FilterKey] + [SORT_KEY])
    return f'unknown filter "{typed}:" (filters are {listing})'


def _read_filter(q: str, match: re.Match[str], key: str) -> FilterToken:
    key_span = Span(q[match.start(2) : match.end()], match.start(2), match.end())
    pos, logic = match.end(), Logic.ANY
    logical = key in LOGIC_KEYS
    if logical and q.startswith("=", pos):
        pos, logic = pos + 1, Logic.ONLY
    values, end, joiners = _read_values(q, pos, key_span, "+," if logical else ",")
    raw = q[match.start() : end]
    whole = Span(raw, match.start(), end)
    if logical:
        logic = _people_logic(values, joiners, logic, key_span, whole)
    token = FilterToken(key, raw, bool(match.group(1)), key_span, values, match.start(), end)
    return replace(token, logic=logic)


def _people_logic(
    values: tuple[Span, ...], joiners: set[str], logic: Logic, key_span: Span, whole: Span
) -> Logic:
    """``a,b`` any of, ``a+b`` all of, ``=a,b`` only them; ``+`` and ``,`` never mix, and
    ``=`` may only lead the value (quote a name that starts with it)."""
    key = key_span.text
    for item in values:
        if item.raw is None and item.text.startswith("="):
            fail(f'"=" (only them) may only come first, right after "{key}"', item)
    if joiners == {"+", ","}:
        fail(f'"{key}" cannot mix "+" (all of) and "," (any of) in one value', whole)
    if "+" in joiners:
        if logic is Logic.ONLY:
            fail(f'"{key}=" (only them) takes names separated by ","', whole)
        return Logic.ALL
    return logic


def _read_values(
    q: str, pos: int, key_span: Span, joins: str = ","
) -> tuple[tuple[Span, ...], int, set[str]]:
    values: list[Span] = []
    joiners: set[str] = set()
    while True:
        item, pos = _read_value(q, pos, joins)
        if not item.text:
            _fail_empty(q, key_span, item, first=not values)
        values.append(item)
        if pos < len(q) and q[pos] in joins:
            joiners.add(q[pos])
            pos += 1
            continue
        if pos < len(q) and not q[pos].isspace():
            expected = " or ".join(f'"{j}"' for j in joins)
            fail(
                f"expected a space or {expected} after the closing quote",
                Span(q[pos], pos, pos + 1),
            )
        return tuple(values), pos, joiners


def _read_value(q: str, pos: int, joins: str = ",") -> tuple[Span, int]:
    if pos < len(q) and q[pos] == '"':
        text, end = _read_quoted(q, pos)
        return Span(text, pos, end, raw=q[pos:end]), end
    end = pos
    while end < len(q) and q[end] not in joins and not q[end].isspace():
        end += 1
    return Span(q[pos:end], pos, end), end


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
    fail("unterminated quote", Span(q[pos:], pos, len(q)))


def _fail_empty(q: str, key_span: Span, item: Span, first: bool) -> NoReturn:
    if first:
        fail(f'empty value for "{key_span.text}"', key_span)
    raw = q[key_span.start : item.end]
    fail(
        f'empty value after "{q[item.start - 1]}" in "{raw}"',
        Span(q[item.start - 1 : item.end], item.start - 1, item.end),
    )


# -- values ----------------------------------------------------------------------------------


# -- assembly --------------------------------------------------------------------------------


class _QueryBuilder:
    """Collects tokens in order; checks the rules that span tokens (one sort, value count)."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.phrases: list[str] = []
        self.filters: list[Filter] = []
        self.sort: SortOrder | None = None
        self.sort_span: Span | None = None
        self.value_count = 0

    def add(self, token: _Word | FilterToken) -> None:
        if isinstance(token, _Word):
            self._add_words(token)
            return
        if token.negated and token.key in NOT_NEGATABLE:
            fail(
                f'"{token.key_span.text}" cannot be negated',
                Span(token.raw, token.start, token.end),
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

    def _count_values(self, token: FilterToken) -> None:
        self.value_count += len(token.values)
        over = self.value_count - MAX_VALUES
        if over > 0:
            first_extra = token.values[len(token.values) - over]
            fail(f"too many filter values (at most {MAX_VALUES} in one query)", first_extra)

    def _set_sort(self, token: FilterToken) -> None:
        if self.sort is not None:
            fail('only one "sort:" is allowed', Span(token.raw, token.start, token.end))
        if len(token.values) > 1:
            fail(f'"{token.key_span.text}" takes a single value', token.values[1])
        item = token.values[0]
        expected = "relevance, date (newest first), date-asc, oldest, newest or distance"
        self.sort = lookup(SORT_NAMES, item, token, expected)
        self.sort_span = Span(token.raw, token.start, token.end)

    def _add_filter(self, token: FilterToken) -> None:
        key = FilterKey(token.key)
        spec = FILTERS[key]
        if spec.parse_token is not None:
            values = spec.parse_token(token)
        else:
            values = tuple(dict.fromkeys(spec.parse(item, token) for item in token.values))
        self.filters.append(Filter(key, values, token.negated, token.start, token.end, token.logic))

    def build(self) -> Query:
        if self.sort is SortOrder.DISTANCE and self.sort_span is not None:
            if not any(f.key is FilterKey.NEAR and not f.negated for f in self.filters):
                fail(
                    f'"{self.sort_span.text}" needs a near: filter to measure from', self.sort_span
                )
        return Query(" ".join(self.words), tuple(self.phrases), tuple(self.filters), self.sort)
