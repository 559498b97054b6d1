"""Finding photos: criteria in, ids out. With ``conditions``, the only place where search
becomes SQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hachi.catalog.conditions import (
    DISTANCE_FUNCTION,
    Condition,
    Match,
    any_word,
    condition_sql,
    every_word,
)
from hachi.media.distance import haversine_km
from hachi.textnorm import fold


@dataclass(frozen=True)
class Criteria:
    """A parsed query as the catalog runs it: every condition holds (AND), and with
    ``words`` every word matches some indexed text as a prefix."""

    conditions: tuple[Condition, ...] = ()
    words: tuple[str, ...] = ()  # folded free-text words
    order: str = "date_desc"  # date_desc | date_asc | rank | distance
    face_backend: str = "dlib"  # whose faces person: and faces: look at
    origin: tuple[float, float] | None = None  # order "distance": nearest to this point first
    hidden: tuple[int, ...] = ()  # photos left out: stacked under a better-ranked copy

    @property
    def fts(self) -> str | None:
        return every_word(self.words) if self.words else None


@dataclass
class _Sql:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)


def _build(criteria: Criteria) -> _Sql:
    sql = _Sql()
    for cond in criteria.conditions:
        sql_clause, params = condition_sql(cond, criteria.face_backend)
        sql.where.append(sql_clause)
        sql.params.extend(params)
    if criteria.fts:
        sql.where.append("p.id IN (SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?)")
        sql.params.append(criteria.fts)
    if criteria.hidden:
        sql.where.append("p.id NOT IN (SELECT value FROM json_each(?))")
        sql.params.append(json.dumps(list(criteria.hidden)))
    return sql


_ORDER = {
    "date_desc": "p.taken_at IS NULL, p.taken_at DESC, p.id DESC",
    "date_asc": "p.taken_at IS NULL, p.taken_at ASC, p.id ASC",
}


def where_sql(criteria: Criteria) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``photos p``) and its parameters that select ``criteria``."""
    sql = _build(criteria)
    return " AND ".join(sql.where) or "1", sql.params


def count_matching(conn: sqlite3.Connection, criteria: Criteria) -> int:
    sql = _build(criteria)
    where = " AND ".join(sql.where) or "1"
    return int(
        conn.execute(f"SELECT COUNT(*) FROM photos p WHERE {where}", sql.params).fetchone()[0]
    )


def ids_matching(
    conn: sqlite3.Connection, criteria: Criteria, limit: int | None, offset: int = 0
) -> list[tuple[int, float]]:
    """(photo id, lexical score) in the requested order; score is 0 without free text."""
    sql = _build(criteria)
    where = " AND ".join(sql.where) or "1"
    page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
    if criteria.order == "rank" and criteria.fts:
        query = (
            "SELECT p.id, -bm25(photos_fts) AS score FROM photos_fts "
            "JOIN photos p ON p.id = photos_fts.rowid "
            f"WHERE photos_fts MATCH ? AND {where} ORDER BY score DESC, p.taken_at DESC{page}"
        )
        rows = conn.execute(query, [criteria.fts, *sql.params])
    elif criteria.order == "distance" and criteria.origin is not None:
        rows = conn.execute(
            f"SELECT p.id, 0.0 FROM photos p WHERE {where} "
            f"ORDER BY {DISTANCE_FUNCTION}(p.latitude, p.longitude, ?, ?), p.id{page}",
            [*sql.params, *criteria.origin],
        )
    else:
        order = _ORDER.get(criteria.order, _ORDER["date_desc"])
        rows = conn.execute(
            f"SELECT p.id, 0.0 FROM photos p WHERE {where} ORDER BY {order}{page}", sql.params
        )
    return [(int(r[0]), float(r[1])) for r in rows]


def all_ids_matching(conn: sqlite3.Connection, criteria: Criteria) -> list[int]:
    sql = _build(criteria)
    where = " AND ".join(sql.where) or "1"
    return [int(r[0]) for r in conn.execute(f"SELECT p.id FROM photos p WHERE {where}", sql.params)]


DayCount = tuple[str | None, int]
"""A day (``YYYY-MM-DD``, the photo's local date; None: undated) and its photos."""


def days_matching(conn: sqlite3.Connection, criteria: Criteria) -> list[DayCount]:
    """Photos per day among those ``criteria`` select, newest day first (undated last)."""
    where, params = where_sql(criteria)
    rows = conn.execute(
        f"SELECT substr(p.taken_at, 1, 10) AS day, COUNT(*) FROM photos p WHERE {where} "
        "GROUP BY day ORDER BY day IS NULL, day DESC",
        params,
    )
    return [(r[0], int(r[1])) for r in rows]


def days_among(conn: sqlite3.Connection, ids: Sequence[int]) -> list[DayCount]:
    """Photos per day among ``ids`` (a ranked answer), newest day first (undated last)."""
    rows = conn.execute(
        "SELECT substr(p.taken_at, 1, 10) AS day, COUNT(*) "
        "FROM (SELECT value AS id FROM json_each(?)) AS c CROSS JOIN photos p ON p.id = c.id "
        "GROUP BY day ORDER BY day IS NULL, day DESC",
        [json.dumps(list(ids))],
    )
    return [(r[0], int(r[1])) for r in rows]


def ids_among(conn: sqlite3.Connection, criteria: Criteria, candidates: list[int]) -> set[int]:
    """Which of ``candidates`` match the criteria: cheap when the candidates are few.

    CROSS JOIN fixes the join order (candidates first, then each photo by primary key);
    left free, SQLite may prefer walking a filter's index over every matching photo.
    """
    if not candidates:
        return set()
    sql = _build(criteria)
    where = " AND ".join(sql.where) or "1"
    rows = conn.execute(
        "SELECT p.id FROM (SELECT value AS id FROM json_each(?)) AS c "
        f"CROSS JOIN photos p ON p.id = c.id WHERE {where}",
        [json.dumps(candidates), *sql.params],
    )
    return {int(r[0]) for r in rows}


def country_codes_named(conn: sqlite3.Connection, names: tuple[str, ...]) -> list[str]:
    """Country codes whose code or (accent- and case-folded) name equals one of ``names``."""
    wanted = {fold(n) for n in names}
    rows = conn.execute(
        "SELECT DISTINCT country, country_code FROM places WHERE country_code != ''"
    )
    return [r[1] for r in rows if fold(r[1]) in wanted or fold(r[0]) in wanted]


SUMMARY_SQL = """
    SELECT p.id, p.path, p.name, p.size, p.mime, p.width, p.height, p.taken_at, p.tz_offset,
           p.taken_source, c.label AS camera, c.make AS camera_make, c.model AS camera_model,
           l.name AS lens, p.focal_length, p.aperture, p.exposure_time, p.iso,
           p.latitude, p.longitude, p.altitude, p.orientation, p.content_hash,
           pl.label AS place, pl.name AS place_name, pl.city AS place_city,
           pl.region AS place_region, pl.country AS place_country,
           pl.country_code AS place_country_code, d.label AS folder, p.folder_id, p.indexed_at,
           p.kind, p.duration_s, p.frame_rate, p.codec
    FROM photos p
    JOIN dirs d ON d.id = p.dir_id
    LEFT JOIN cameras c ON c.id = p.camera_id
    LEFT JOIN lenses l ON l.id = p.lens_id
    LEFT JOIN places pl ON pl.id = p.place_id
"""


def positions(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[float, float]]:
    """(latitude, longitude) of those of ``ids`` that have a position."""
    out: dict[int, tuple[float, float]] = {}
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(
        "SELECT p.id, p.latitude, p.longitude FROM (SELECT value AS id FROM json_each(?)) AS c "
        "CROSS JOIN photos p ON p.id = c.id "
        "WHERE p.latitude IS NOT NULL AND p.longitude IS NOT NULL",
        [json.dumps(ids)],
    )
    for pid, lat, lon in cursor:
        out[int(pid)] = (float(lat), float(lon))
    return out


def photo_rows(conn: sqlite3.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Summary rows by id. Plain tuples zipped with the column names: converting
    ``sqlite3.Row`` objects cost more than the query itself for a page of results."""
    out: dict[int, dict[str, Any]] = {}
    cursor = conn.cursor()
    cursor.row_factory = None
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        cursor.execute(f"{SUMMARY_SQL} WHERE p.id IN ({marks})", chunk)
        names = [column[0] for column in cursor.description]
        for values in cursor:
            out[int(values[0])] = dict(zip(names, values, strict=True))
    return out


def photo_files(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[str, str]]:
    """id -> (file name, path) of the photos: what acting on files needs, and no more (a
    summary row per photo of a 20,000-photo zip would cost tens of MB)."""
    out: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for row in conn.execute(f"SELECT id, name, path FROM photos WHERE id IN ({marks})", chunk):
            out[int(row[0])] = (str(row[1]), str(row[2]))
    return out


def library_counts(conn: sqlite3.Connection) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT COUNT(*) FROM photos), (SELECT COUNT(*) FROM failed_files), "
        "(SELECT COUNT(*) FROM folders)"
    ).fetchone()
    return {"photos": int(row[0]), "failed": int(row[1]), "folders": int(row[2])}


def failed_files(
    conn: sqlite3.Connection, folder_id: int | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    where, params = ("WHERE folder_id = ?", [folder_id]) if folder_id is not None else ("", [])
    rows = conn.execute(
        f"SELECT id, folder_id, path, error, failed_at FROM failed_files {where} "
        f"ORDER BY path LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [dict(r) for r in rows]


def fts_scores(
    conn: sqlite3.Connection, words: Sequence[str], every: bool, limit: int | None = None
) -> dict[int, float]:
    """Photo id -> lexical relevance (higher is better) of photos matching ``every`` word
    (or any word) as a prefix, the best ``limit`` only when given (a word found in most of
    the library is no signal)."""
    page = "" if limit is None else f" ORDER BY rank LIMIT {int(limit)}"
    expression = every_word(words) if every else any_word(words)
    rows = conn.execute(
        "SELECT rowid, -bm25(photos_fts) FROM photos_fts WHERE photos_fts MATCH ?" + page,
        (expression,),
    )
    return {int(r[0]): float(r[1]) for r in rows}


def photos_with_prefix(conn: sqlite3.Connection, prefix: str) -> int:
    """How many photos hold a term starting with ``prefix`` (an upper bound when several
    terms share the prefix), read from the index's vocabulary without touching rows."""
    row = conn.execute(
        "SELECT COALESCE(SUM(doc), 0) FROM photos_fts_terms WHERE term >= ? AND term < ?",
        (prefix, prefix + "\U0010ffff"),
    ).fetchone()
    return int(row[0])


def taken_at_of(conn: sqlite3.Connection, ids: list[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for row in conn.execute(f"SELECT id, taken_at FROM photos WHERE id IN ({marks})", chunk):
            out[int(row[0])] = row[1]
    return out


def origin_of(conditions: Sequence[Condition]) -> tuple[float, float] | None:
    """Where sort:distance measures from: the centre of the first near: that must hold."""
    for cond in conditions:
        if cond.match is Match.NEAR and not cond.negated and cond.values:
            lat, lon, _ = cond.values[0]
            return float(lat), float(lon)
    return None


def by_distance(
    conn: sqlite3.Connection, origin: tuple[float, float], ids: list[int], scores: list[float]
) -> tuple[list[int], list[float]]:
    """Ranked photos re-ordered nearest first (their scores kept); no position goes last."""
    where = positions(conn, ids)
    lat, lon = origin
    far = float("inf")
    order = sorted(
        range(len(ids)),
        key=lambda i: (haversine_km(lat, lon, *where[ids[i]]) if ids[i] in where else far, i),
    )
    return [ids[i] for i in order], [scores[i] for i in order]
