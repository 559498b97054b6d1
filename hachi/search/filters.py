"""The filters of the query language: one declarative spec per key.

A spec says everything Hachi knows about a filter: its aliases, how each typed value is
parsed (``hachi.search.query_values``), how parsed values are resolved against the catalog
(names of countries and people become codes and ids), which catalog ``Match`` they become
(its SQL lives in ``hachi.catalog.conditions``), whether it can be negated, and which
``/api/suggest`` kind completes its values. The parser, the engine, the autocomplete kinds
and the web UI's list of keys (checked by a test) all derive from ``FILTERS``.

Adding a filter: add a ``FilterKey``, a ``FilterSpec`` here (and, for new SQL, a ``Match``
with its builder in ``catalog/conditions.py``), and a row in the search tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hachi.catalog import faces as faces_db
from hachi.catalog import queries
from hachi.catalog.conditions import Condition, Match
from hachi.media.formats import MIMES_BY_TYPE
from hachi.search.query_values import (
    DUPLICATE_KINDS,
    DateRange,
    FacesCount,
    FilterToken,
    Logic,
    Span,
    Value,
    parse_after,
    parse_before,
    parse_duplicate,
    parse_faces,
    parse_orientation,
    parse_photo_id,
    parse_stack,
    parse_text,
    parse_type,
    parse_within,
)
from hachi.textnorm import fold


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
    DUPLICATE = "duplicate"
    STACK = "stack"


@dataclass
class Resolver:
    """What resolving values may consult (the catalog) and report (notices)."""

    conn: sqlite3.Connection
    notices: list[str] = field(default_factory=list)


ValueParser = Callable[[Span, FilterToken], Value]
Resolve = Callable[[Resolver, tuple[Value, ...]], tuple[Any, ...]]


def _strings(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple(str(v) for v in values)


def _ranges(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple((v.start, v.end) for v in values if isinstance(v, DateRange))


def _counts(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple((v.count, v.or_more) for v in values if isinstance(v, FacesCount))


def _mimes(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple(sorted({m for v in values for m in MIMES_BY_TYPE[str(v)]}))


def _kinds(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple(sorted({kind for v in values for kind in DUPLICATE_KINDS[str(v)]}))


def _countries(resolver: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple(queries.country_codes_named(resolver.conn, _strings(resolver, values)))


def _people(resolver: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    ids = faces_db.people_matching(resolver.conn, [fold(str(v)) for v in values])
    if not ids:
        resolver.notices.append(f"nobody is named {', '.join(map(str, values))}")
    return tuple(ids)


@dataclass(frozen=True)
class FilterSpec:
    key: FilterKey
    match: Match | None  # the catalog condition; None: not a filter (similar: ranks)
    parse: ValueParser = parse_text
    resolve: Resolve = _strings
    aliases: tuple[str, ...] = ()
    suggest: str | None = None  # the /api/suggest kind that completes a value
    negatable: bool = True
    # person:a+b and person:=a,b: the matches whose values are one resolved group per value
    match_all: Match | None = None
    match_only: Match | None = None

    def condition(
        self,
        resolver: Resolver,
        values: tuple[Value, ...],
        negated: bool,
        logic: Logic = Logic.ANY,
    ) -> Condition:
        assert self.match is not None
        match = {Logic.ALL: self.match_all, Logic.ONLY: self.match_only}.get(logic)
        if match is None:
            return Condition(self.match, self.resolve(resolver, values), negated)
        groups = tuple(self.resolve(resolver, (value,)) for value in values)
        return Condition(match, groups, negated)


FILTERS: dict[FilterKey, FilterSpec] = {
    spec.key: spec
    for spec in (
        FilterSpec(
            FilterKey.PERSON, Match.PERSON_IDS, resolve=_people, aliases=("people",),
            suggest="person", match_all=Match.PERSON_ALL, match_only=Match.PERSON_ONLY,
        ),
        FilterSpec(FilterKey.PLACE, Match.PLACE, suggest="place"),
        FilterSpec(FilterKey.COUNTRY, Match.COUNTRY_CODES, resolve=_countries),
        FilterSpec(FilterKey.CAMERA, Match.CAMERA, aliases=("make", "model"), suggest="camera"),
        FilterSpec(FilterKey.LENS, Match.LENS, suggest="lens"),
        FilterSpec(FilterKey.AFTER, Match.DATE, parse=parse_after, resolve=_ranges),
        FilterSpec(FilterKey.BEFORE, Match.DATE, parse=parse_before, resolve=_ranges),
        FilterSpec(
            FilterKey.YEAR, Match.DATE, parse=parse_within, resolve=_ranges, aliases=("date",),
            suggest="year",
        ),
        FilterSpec(FilterKey.FOLDER, Match.FOLDER, suggest="folder"),
        FilterSpec(FilterKey.FILE, Match.FILE, suggest="file"),
        FilterSpec(FilterKey.TYPE, Match.MIMES, parse=parse_type, resolve=_mimes, aliases=("ext",)),
        FilterSpec(FilterKey.ORIENTATION, Match.ORIENTATION, parse=parse_orientation),
        FilterSpec(FilterKey.TEXT, Match.TEXT),
        FilterSpec(FilterKey.SIMILAR, None, parse=parse_photo_id, negatable=False),
        FilterSpec(FilterKey.FACES, Match.FACES, parse=parse_faces, resolve=_counts),
        FilterSpec(
            FilterKey.DUPLICATE, Match.DUPLICATE, parse=parse_duplicate, resolve=_kinds,
            aliases=("duplicates",),
        ),
        # Not a filter: how the hits are shown (a near-duplicate group as one hit, or all).
        FilterSpec(FilterKey.STACK, None, parse=parse_stack, negatable=False),
    )
}  # fmt: skip

KEY_ALIASES: dict[str, FilterKey] = {
    alias: spec.key for spec in FILTERS.values() for alias in spec.aliases
}
LOGIC_KEYS = frozenset(spec.key.value for spec in FILTERS.values() if spec.match_all)
"""Keys whose values may be joined with ``+`` (all of) or led by ``=`` (only them)."""
SUGGEST_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(spec.suggest for spec in FILTERS.values() if spec.suggest)
)
"""The kinds ``/api/suggest`` completes, one per filter that has them."""
