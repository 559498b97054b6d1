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

from hachi.catalog import albums as albums_db
from hachi.catalog import faces as faces_db
from hachi.catalog import queries
from hachi.catalog.conditions import Condition, Match
from hachi.errors import QuerySyntaxError
from hachi.media.formats import MIMES_BY_TYPE
from hachi.media.placenames import NamedPlace, PlaceNames, default_place_names
from hachi.search.query_values import (
    DUPLICATE_KINDS,
    DateRange,
    DurationBound,
    FacesCount,
    FilterToken,
    GeoBox,
    Logic,
    NearPlace,
    NearPoint,
    Span,
    Value,
    parse_after,
    parse_before,
    parse_box,
    parse_duplicate,
    parse_duration,
    parse_faces,
    parse_month_day,
    parse_near,
    parse_orientation,
    parse_period,
    parse_photo_id,
    parse_stack,
    parse_text,
    parse_type,
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
    DAY = "day"
    FOLDER = "folder"
    FILE = "file"
    TYPE = "type"
    ORIENTATION = "orientation"
    TEXT = "text"
    SIMILAR = "similar"
    FACES = "faces"
    NEAR = "near"
    WITHIN = "within"
    DURATION = "duration"
    ALBUM = "album"
    DUPLICATE = "duplicate"
    STACK = "stack"


@dataclass
class Resolver:
    """What resolving values may consult (the catalog) and report (notices), and how a
    smart album's saved query becomes conditions (the engine plans it; None: not here)."""

    conn: sqlite3.Connection
    notices: list[str] = field(default_factory=list)
    place_names: PlaceNames | None = None  # None: the process-wide offline geocoder
    places: dict[str, NamedPlace] = field(default_factory=dict)  # near: names as chosen

    def find_place(self, typed: str) -> list[NamedPlace]:
        return (self.place_names or default_place_names()).find(typed)

    smart_album: Callable[[albums_db.Album], tuple[Condition, ...]] | None = None


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


def _durations(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple((v.op, v.seconds) for v in values if isinstance(v, DurationBound))


def _kinds(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple(sorted({kind for v in values for kind in DUPLICATE_KINDS[str(v)]}))


def _countries(resolver: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple(queries.country_codes_named(resolver.conn, _strings(resolver, values)))


def _people(resolver: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    ids = faces_db.people_matching(resolver.conn, [fold(str(v)) for v in values])
    if not ids:
        resolver.notices.append(f"nobody is named {', '.join(map(str, values))}")
    return tuple(ids)


def _circles(resolver: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    """(latitude, longitude, radius_km) per circle; a place name becomes its most populous
    namesake, and the user is told which one when the name was ambiguous."""
    out: list[tuple[float, float, float]] = []
    for value in values:
        if isinstance(value, NearPoint):
            out.append((value.latitude, value.longitude, value.radius_km))
        elif isinstance(value, NearPlace):
            place = _place(resolver, value)
            out.append((place.latitude, place.longitude, value.radius_km))
    return tuple(out)


def _place(resolver: Resolver, value: NearPlace) -> NamedPlace:
    found = resolver.find_place(value.place)
    if not found:
        span = value.span
        raise QuerySyntaxError(
            f'no place named "{value.place}" is known (try "Name, country")',
            span.raw or span.text,
            span.start,
            span.end,
        )
    chosen = found[0]
    resolver.places[value.place] = chosen
    if len(found) > 1:
        resolver.notices.append(
            f'near:"{value.place}" means {chosen.label()} (the most populous of '
            f'{len(found)} places with that name; add a country, e.g. "{chosen.name}, '
            f'{found[1].country_code}", for another)'
        )
    return chosen


def _boxes(_: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    return tuple((v.south, v.west, v.north, v.east) for v in values if isinstance(v, GeoBox))


TokenParser = Callable[[FilterToken], tuple[Value, ...]]


def _albums(resolver: Resolver, values: tuple[Value, ...]) -> tuple[Any, ...]:
    """A plain album is its photos; a smart one, the conditions of its saved query."""
    out: list[tuple[str, Any]] = []
    for value in values:
        album = albums_db.album_named(resolver.conn, str(value))
        if album is None:
            resolver.notices.append(f"no album is named {value}")
        elif album.query is None:
            out.append(("photos", album.id))
        else:
            assert resolver.smart_album is not None, "smart albums are planned by the engine"
            out.append(("all", resolver.smart_album(album)))
    return tuple(out)


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
    # near: and within: read the whole token as one value (their commas are not "any of")
    parse_token: TokenParser | None = None

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
            FilterKey.YEAR, Match.DATE, parse=parse_period, resolve=_ranges, aliases=("date",),
            suggest="year",
        ),
        FilterSpec(FilterKey.DAY, Match.MONTH_DAY, parse=parse_month_day),
        FilterSpec(FilterKey.FOLDER, Match.FOLDER, suggest="folder"),
        FilterSpec(FilterKey.FILE, Match.FILE, suggest="file"),
        FilterSpec(FilterKey.TYPE, Match.MIMES, parse=parse_type, resolve=_mimes, aliases=("ext",)),
        FilterSpec(FilterKey.ORIENTATION, Match.ORIENTATION, parse=parse_orientation),
        FilterSpec(FilterKey.TEXT, Match.TEXT),
        FilterSpec(FilterKey.SIMILAR, None, parse=parse_photo_id, negatable=False),
        FilterSpec(FilterKey.FACES, Match.FACES, parse=parse_faces, resolve=_counts),
        FilterSpec(FilterKey.NEAR, Match.NEAR, resolve=_circles, parse_token=parse_near),
        FilterSpec(FilterKey.WITHIN, Match.BOX, resolve=_boxes, parse_token=parse_box),
        FilterSpec(FilterKey.DURATION, Match.DURATION, parse=parse_duration, resolve=_durations),
        FilterSpec(FilterKey.ALBUM, Match.ALBUM, resolve=_albums, suggest="album"),
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
