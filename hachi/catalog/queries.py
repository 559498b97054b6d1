"""Finding photos: criteria in, ids out. The only place where search becomes SQL.

Filters on cameras, lenses, places and folders are resolved against their small
dimension tables first, so the photos table is reached through an index on an id list
rather than a LIKE over every row; that is what keeps a 100,000-photo library answering
in a few milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from hachi.textnorm import fold


@dataclass(frozen=True)
class Condition:
    """One filter: the values are OR-ed, ``negated`` negates the whole filter.

    field: camera | lens | place | country_codes | folder | file | mimes | orientation |
    date | text | photo_ids
    """

    field: str
    values: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True)
class Criteria:
    conditions: tuple[Condition, ...] = ()
    fts: str | None = None  # an FTS5 expression built by search, or None
    order: str = "date_desc"  # date_desc | date_asc | rank
    face_backend: str = "dlib"  # whose faces person: and faces: look at


@dataclass
class _Sql:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dimension_clause(
    column: str, table: str, values: tuple[Any, ...], words: bool
) -> tuple[str, list[Any]]:
    tests, params = [], []
    for value in values:
        folded = _escape_like(fold(str(value)))
        tests.append("terms LIKE ? ESCAPE '\\'")
        params.append(f"% {folded} %" if words else f"%{folded}%")
    return f"{column} IN (SELECT id FROM {table} WHERE {' OR '.join(tests)})", params


def _clause(cond: Condition, backend: str) -> tuple[str, list[Any], str | None]:
    """SQL for one condition, its parameters, and the nullable column negation must spare."""
    v = cond.values
    if cond.field == "person_ids":
        marks = ",".join("?" for _ in v) or "NULL"
        sql = f"p.id IN (SELECT photo_id FROM faces WHERE backend = ? AND person_id IN ({marks}))"
        return sql, [backend, *v], None
    if cond.field == "faces":
        return _faces_clause(v, backend)
    if cond.field == "camera":
        return (*_dimension_clause("p.camera_id", "cameras", v, words=False), "p.camera_id")
    if cond.field == "lens":
        return (*_dimension_clause("p.lens_id", "lenses", v, words=False), "p.lens_id")
    if cond.field == "place":
        return (*_dimension_clause("p.place_id", "places", v, words=True), "p.place_id")
    if cond.field == "folder":
        return (*_dimension_clause("p.dir_id", "dirs", v, words=False), None)
    if cond.field == "country_codes":
        marks = ",".join("?" for _ in v)
        sql = f"p.place_id IN (SELECT id FROM places WHERE country_code IN ({marks}))"
        return sql, list(v), "p.place_id"
    if cond.field == "file":
        sql = " OR ".join("p.name LIKE ? ESCAPE '\\'" for _ in v)
        return f"({sql})", [f"%{_escape_like(str(x))}%" for x in v], None
    if cond.field == "mimes":
        tests = ["p.mime LIKE ?" if str(x).endswith("%") else "p.mime = ?" for x in v]
        return f"({' OR '.join(tests)})", list(v), None
    if cond.field == "orientation":
        shapes = {
            "portrait": "p.height > p.width",
            "landscape": "p.width > p.height",
            "square": "p.width = p.height",
        }
        return f"({' OR '.join(shapes[str(x)] for x in v)})", [], "p.width"
    if cond.field == "date":
        tests, params = [], []
        for start, end in v:
            parts = []
            if start:
                parts.append("p.taken_at >= ?")
                params.append(start)
            if end:
                parts.append("p.taken_at < ?")
                params.append(end)
            tests.append("(" + " AND ".join(parts or ["1"]) + ")")
        return f"({' OR '.join(tests)})", params, "p.taken_at"
    if cond.field == "text":
        likes = " OR ".join("folded LIKE ? ESCAPE '\\'" for _ in v)
        params = [f"%{_escape_like(fold(str(x)))}%" for x in v]
        return f"p.id IN (SELECT photo_id FROM ocr_text WHERE {likes})", params, None
    if cond.field == "photo_ids":
        marks = ",".join("?" for _ in v)
        return f"p.id IN ({marks})", list(v), None
    raise ValueError(f"unknown condition field {cond.field!r}")


def _faces_clause(values: tuple[Any, ...], backend: str) -> tuple[str, list[Any], str | None]:
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


def _build(criteria: Criteria) -> _Sql:
    sql = _Sql()
    for cond in criteria.conditions:
        clause, params, nullable = _clause(cond, criteria.face_backend)
        if cond.negated:
            clause = f"NOT ({clause})"
            if nullable:
                clause = f"({nullable} IS NULL OR {clause})"
        sql.where.append(clause)
        sql.params.extend(params)
    if criteria.fts:
        sql.where.append("p.id IN (SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?)")
        sql.params.append(criteria.fts)
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
           pl.country_code AS place_country_code, d.label AS folder, p.folder_id, p.indexed_at
    FROM photos p
    JOIN dirs d ON d.id = p.dir_id
    LEFT JOIN cameras c ON c.id = p.camera_id
    LEFT JOIN lenses l ON l.id = p.lens_id
    LEFT JOIN places pl ON pl.id = p.place_id
"""


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
    conn: sqlite3.Connection, expression: str, limit: int | None = None
) -> dict[int, float]:
    """Photo id -> lexical relevance (higher is better) for an FTS5 expression, the best
    ``limit`` only when given (a word found in most of the library is no signal)."""
    page = "" if limit is None else f" ORDER BY rank LIMIT {int(limit)}"
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
