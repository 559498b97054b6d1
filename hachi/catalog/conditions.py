"""The SQL of each kind of search condition, and of full-text expressions.

A filter of the query language (``hachi.search.filters``) names the ``Match`` it becomes;
this module owns what that match means in SQL. Each builder returns the clause (over
``photos p``), its parameters and the nullable column a negation must spare (``-camera:x``
keeps photos with no camera at all).

Filters on cameras, lenses, places and folders are resolved against their small
dimension tables first, so the photos table is reached through an index on an id list
rather than a LIKE over every row; that is what keeps a 100,000-photo library answering
in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hachi.media.distance import Box, box_parts, circle_boxes
from hachi.textnorm import fold

Clause = tuple[str, list[Any], str | None]


class Match(StrEnum):
    """What a condition's values are matched against."""

    CAMERA = "camera"  # words of the camera's label
    LENS = "lens"
    PLACE = "place"  # whole words of the place's names
    COUNTRY_CODES = "country_codes"  # ISO codes, resolved from names by search
    FOLDER = "folder"
    FILE = "file"  # part of the file name, case as typed
    MIMES = "mimes"  # exact mime types
    ORIENTATION = "orientation"  # portrait | landscape | square
    DATE = "date"  # (start, end) half-open ranges of ISO dates, None unbounded
    MONTH_DAY = "month_day"  # "MM-DD": that day of the year, in any year
    TEXT = "text"  # part of the text read in the photo
    PERSON_IDS = "person_ids"  # people ids, resolved from names by search
    PERSON_ALL = "person_all"  # groups of people ids: someone of every group is there
    PERSON_ONLY = "person_only"  # groups: all of them there, and no other named person
    FACES = "faces"  # (count, or_more) pairs
    NEAR = "near"  # (latitude, longitude, radius_km) circles, all of which must hold
    BOX = "box"  # (south, west, north, east) boxes, all of which must hold
    DURATION = "duration"  # (comparison, seconds) pairs: videos by length
    ALBUM = "album"  # ("photos", album id) | ("all", conditions of a smart album's query)
    DUPLICATE = "duplicate"  # kinds of near-duplicate group: identical | edited | burst


@dataclass(frozen=True)
class Condition:
    """One filter as the catalog runs it: any of ``values`` matches (OR); ``negated``
    negates the whole condition (none of them)."""

    match: Match
    values: tuple[Any, ...]
    negated: bool = False


def clause(cond: Condition, face_backend: str) -> Clause:
    """SQL for one condition (negation not applied)."""
    return _BUILDERS[cond.match](cond.values, face_backend)


def condition_sql(cond: Condition, face_backend: str) -> tuple[str, list[Any]]:
    """SQL for one condition with its negation applied: ``-camera:x`` keeps the photos
    whose camera is unknown, so a negation spares the builder's nullable column."""
    sql, params, nullable = clause(cond, face_backend)
    if cond.negated:
        sql = f"NOT ({sql})"
        if nullable:
            sql = f"({nullable} IS NULL OR {sql})"
    return sql, params


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" for _ in values) or "NULL"


def _dimension(
    column: str, table: str, values: tuple[Any, ...], words: bool
) -> tuple[str, list[Any]]:
    tests, params = [], []
    for value in values:
        folded = _escape_like(fold(str(value)))
        tests.append("terms LIKE ? ESCAPE '\\'")
        params.append(f"% {folded} %" if words else f"%{folded}%")
    return f"{column} IN (SELECT id FROM {table} WHERE {' OR '.join(tests)})", params


def _camera(values: tuple[Any, ...], backend: str) -> Clause:
    return (*_dimension("p.camera_id", "cameras", values, words=False), "p.camera_id")


def _lens(values: tuple[Any, ...], backend: str) -> Clause:
    return (*_dimension("p.lens_id", "lenses", values, words=False), "p.lens_id")


def _place(values: tuple[Any, ...], backend: str) -> Clause:
    return (*_dimension("p.place_id", "places", values, words=True), "p.place_id")


def _folder(values: tuple[Any, ...], backend: str) -> Clause:
    return (*_dimension("p.dir_id", "dirs", values, words=False), None)


def _country_codes(values: tuple[Any, ...], backend: str) -> Clause:
    sql = f"p.place_id IN (SELECT id FROM places WHERE country_code IN ({_marks(values)}))"
    return sql, list(values), "p.place_id"


def _file(values: tuple[Any, ...], backend: str) -> Clause:
    sql = " OR ".join("p.name LIKE ? ESCAPE '\\'" for _ in values)
    return f"({sql})", [f"%{_escape_like(str(x))}%" for x in values], None


def _mimes(values: tuple[Any, ...], backend: str) -> Clause:
    return f"p.mime IN ({_marks(values)})", list(values), None


_SHAPES = {
    "portrait": "p.height > p.width",
    "landscape": "p.width > p.height",
    "square": "p.width = p.height",
}


def _orientation(values: tuple[Any, ...], backend: str) -> Clause:
    return f"({' OR '.join(_SHAPES[str(x)] for x in values)})", [], "p.width"


def _date(values: tuple[Any, ...], backend: str) -> Clause:
    tests, params = [], []
    for start, end in values:
        parts = []
        if start:
            parts.append("p.taken_at >= ?")
            params.append(start)
        if end:
            parts.append("p.taken_at < ?")
            params.append(end)
        tests.append("(" + " AND ".join(parts or ["1"]) + ")")
    return f"({' OR '.join(tests)})", params, "p.taken_at"


def _month_day(values: tuple[Any, ...], backend: str) -> Clause:
    """taken_at is local ISO time (``YYYY-MM-DDTHH:MM:SS``): characters 6-10 are MM-DD."""
    return f"substr(p.taken_at, 6, 5) IN ({_marks(values)})", list(values), "p.taken_at"


def _text(values: tuple[Any, ...], backend: str) -> Clause:
    likes = " OR ".join("folded LIKE ? ESCAPE '\\'" for _ in values)
    params = [f"%{_escape_like(fold(str(x)))}%" for x in values]
    return f"p.id IN (SELECT photo_id FROM ocr_text WHERE {likes})", params, None


def _person_ids(values: tuple[Any, ...], backend: str) -> Clause:
    sql = (
        "p.id IN (SELECT photo_id FROM faces WHERE backend = ? "
        f"AND person_id IN ({_marks(values)}))"
    )
    return sql, [backend, *values], None


def _person_all(groups: tuple[Any, ...], backend: str) -> Clause:
    """Each group is the ids one typed name resolved to; the photo has one of every group."""
    tests, params = [], []
    for ids in groups:
        sql, group_params, _ = _person_ids(tuple(ids), backend)
        tests.append(sql)
        params += group_params
    return f"({' AND '.join(tests)})", params, None


def _person_only(groups: tuple[Any, ...], backend: str) -> Clause:
    """All of the groups, and no face of another *named* person: faces nobody is assigned
    to and unnamed clusters are strangers, who do not make the photo "not only them"."""
    every, params = _person_all(groups, backend)[:2]
    wanted = sorted({i for ids in groups for i in ids})
    other = (
        "NOT EXISTS (SELECT 1 FROM faces f JOIN people pe ON pe.id = f.person_id "
        "WHERE f.photo_id = p.id AND f.backend = ? AND COALESCE(pe.name, '') != '' "
        f"AND f.person_id NOT IN ({_marks(wanted)}))"
    )
    return f"({every} AND {other})", [*params, backend, *wanted], None


def _faces(values: tuple[Any, ...], backend: str) -> Clause:
    """faces:N / faces:N+ over photos whose faces were looked for (by this backend)."""
    count = "(SELECT COUNT(*) FROM faces f WHERE f.photo_id = p.id AND f.backend = ?)"
    tests, params = [], []
    for number, or_more in values:
        tests.append(f"{count} {'>=' if or_more else '='} ?")
        params += [backend, number]
    analysed = (
        "EXISTS (SELECT 1 FROM analyses a WHERE a.photo_id = p.id AND a.task = 'faces' "
        "AND a.model = ? AND a.status = 'ok')"
    )
    return f"({analysed} AND ({' OR '.join(tests)}))", [backend, *params], None


DISTANCE_FUNCTION = "hachi_distance_km"
"""Great-circle km between two points, registered on every connection by ``catalog.db``."""


def _geo_candidates(boxes: list[Box]) -> tuple[str, list[Any]]:
    """Photos whose R*Tree entry lies in any of the boxes: the index lookup that keeps a
    100,000-photo library from computing a distance per photo."""
    tests, params = [], []
    for south, west, north, east in boxes:
        tests.append("(min_lat <= ? AND max_lat >= ? AND min_lon <= ? AND max_lon >= ?)")
        params += [north, south, east, west]
    return f"p.id IN (SELECT id FROM photos_geo WHERE {' OR '.join(tests)})", params


def _near(values: tuple[Any, ...], backend: str) -> Clause:
    """Every circle holds: the box lookup first, then the exact distance."""
    tests, params = [], []
    for lat, lon, km in values:
        candidates, box_params = _geo_candidates(circle_boxes(lat, lon, km))
        tests.append(f"({candidates} AND {DISTANCE_FUNCTION}(p.latitude, p.longitude, ?, ?) <= ?)")
        params += [*box_params, lat, lon, km]
    return f"({' AND '.join(tests) or '1'})", params, "p.latitude"


def _box(values: tuple[Any, ...], backend: str) -> Clause:
    """Every box holds; the exact test on the stored doubles follows the R*Tree lookup,
    whose single-precision boxes are only ever a little larger than the truth."""
    tests, params = [], []
    for south, west, north, east in values:
        candidates, box_params = _geo_candidates(box_parts(south, west, north, east))
        lon_test = (
            "p.longitude BETWEEN ? AND ?"
            if west <= east
            else ("(p.longitude >= ? OR p.longitude <= ?)")
        )
        tests.append(f"({candidates} AND p.latitude BETWEEN ? AND ? AND {lon_test})")
        params += [*box_params, south, north, west, east]
    return f"({' AND '.join(tests) or '1'})", params, "p.latitude"


_COMPARISONS = {">": ">", ">=": ">=", "<": "<", "<=": "<="}


def _duration(values: tuple[Any, ...], backend: str) -> Clause:
    """Videos whose length compares so; photos (no length) match neither way round."""
    tests = [f"p.duration_s {_COMPARISONS[op]} ?" for op, _ in values]
    return f"({' OR '.join(tests)})", [seconds for _, seconds in values], None


def _album(values: tuple[Any, ...], backend: str) -> Clause:
    """Any of the albums: a plain album's chosen photos, or every condition of a smart
    album's saved query (a group, so it nests inside a negation or an OR)."""
    tests: list[str] = []
    params: list[Any] = []
    for kind, content in values:
        if kind == "photos":
            tests.append("p.id IN (SELECT photo_id FROM album_photos WHERE album_id = ?)")
            params.append(content)
            continue
        parts = [condition_sql(cond, backend) for cond in content]
        tests.append("(" + (" AND ".join(sql for sql, _ in parts) or "1") + ")")
        params += [param for _, group in parts for param in group]
    return f"({' OR '.join(tests) or '0'})", params, None


def _duplicate(values: tuple[Any, ...], backend: str) -> Clause:
    sql = f"p.id IN (SELECT photo_id FROM duplicates WHERE kind IN ({_marks(values)}))"
    return sql, list(values), None


_BUILDERS: dict[Match, Callable[[tuple[Any, ...], str], Clause]] = {
    Match.CAMERA: _camera,
    Match.LENS: _lens,
    Match.PLACE: _place,
    Match.COUNTRY_CODES: _country_codes,
    Match.FOLDER: _folder,
    Match.FILE: _file,
    Match.MIMES: _mimes,
    Match.ORIENTATION: _orientation,
    Match.DATE: _date,
    Match.MONTH_DAY: _month_day,
    Match.TEXT: _text,
    Match.PERSON_IDS: _person_ids,
    Match.PERSON_ALL: _person_all,
    Match.PERSON_ONLY: _person_only,
    Match.FACES: _faces,
    Match.NEAR: _near,
    Match.BOX: _box,
    Match.DURATION: _duration,
    Match.ALBUM: _album,
    Match.DUPLICATE: _duplicate,
}


# -- full text ---------------------------------------------------------------------------


def every_word(words: Sequence[str]) -> str:
    """FTS5: each word must match as a prefix somewhere: "beach"* AND "2019"*."""
    return " AND ".join(_prefix(w) for w in words)


def any_word(words: Sequence[str]) -> str:
    """FTS5: any word matches as a prefix: "beach"* OR "2019"*."""
    return " OR ".join(_prefix(w) for w in words)


def _prefix(word: str) -> str:
    return '"' + word.replace('"', '""') + '"*'
