"""Autocomplete: names that start with what the user has typed, most used first.

Counts are photo counts among the photos the rest of the query already selects (its
filters, as catalog criteria), so "Tokyo 12" means `place:Tokyo` added to the bar finds 12.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from hachi.catalog import queries
from hachi.catalog.conditions import Condition, Match
from hachi.catalog.queries import Criteria
from hachi.textnorm import fold

# kind -> (SELECT value, count ... WHERE <name matches>, the photo id column, GROUP BY)
_SOURCES = {
    "camera": (
        "SELECT c.label, COUNT(*) FROM photos p JOIN cameras c ON c.id = p.camera_id "
        "WHERE c.terms LIKE ?",
        "p.id",
        "c.label",
    ),
    "lens": (
        "SELECT l.name, COUNT(*) FROM photos p JOIN lenses l ON l.id = p.lens_id "
        "WHERE l.terms LIKE ?",
        "p.id",
        "l.name",
    ),
    "folder": (
        "SELECT d.label, COUNT(*) FROM photos p JOIN dirs d ON d.id = p.dir_id "
        "WHERE d.terms LIKE ?",
        "p.id",
        "d.label",
    ),
    "file": ("SELECT p.name, 1 FROM photos p WHERE p.name LIKE ?", "p.id", "p.name"),
    "year": (
        "SELECT substr(p.taken_at, 1, 4) AS y, COUNT(*) FROM photos p WHERE p.taken_at LIKE ?",
        "p.id",
        "y",
    ),
    "person": (
        "SELECT pe.name, COUNT(DISTINCT f.photo_id) FROM people pe "
        "JOIN faces f ON f.person_id = pe.id WHERE pe.name IS NOT NULL "
        "AND pe.hidden = 0 AND (' ' || lower(pe.name)) LIKE ?",
        "f.photo_id",
        "pe.id",
    ),
}
_PLACE_COLUMNS = ("name", "city", "region", "country")
PLACE_CANDIDATES = 200  # distinct place names counted exactly per request, most used first


def suggestions(
    conn: sqlite3.Connection,
    prefix: str,
    kind: str | None,
    limit: int,
    within: Criteria | None = None,
) -> list[dict[str, Any]]:
    """Best completions of ``prefix``; counts only photos that ``within`` selects."""
    within = within or Criteria()
    kinds = [kind] if kind else [*_SOURCES, "place", "album"]
    out: list[dict[str, Any]] = []
    for k in kinds:
        if k == "place":
            out.extend(_place(conn, prefix, limit, within))
        elif k == "album":
            out.extend(_album(conn, prefix, limit, within))
        else:
            out.extend(_simple(conn, k, prefix, limit, within))
    out.sort(key=lambda s: (-(s["count"] or 0), s["label"].casefold()))
    return out[:limit]


def _within(photo_column: str, within: Criteria) -> tuple[str, list[Any]]:
    where, params = queries.where_sql(within)
    if where == "1":
        return "", []
    return f" AND {photo_column} IN (SELECT p.id FROM photos p WHERE {where})", params


def _simple(
    conn: sqlite3.Connection, kind: str, prefix: str, limit: int, within: Criteria
) -> list[dict[str, Any]]:
    if kind in ("file", "year"):
        pattern = prefix.replace("%", "").replace("_", "") + "%"
    elif kind == "person":
        pattern = "% " + prefix.casefold().replace("%", "").replace("_", "") + "%"
    else:
        pattern = f"% {fold(prefix)}%"
    select, photo_column, group = _SOURCES[kind]
    extra, params = _within(photo_column, within)
    sql = f"{select}{extra} GROUP BY {group} ORDER BY 2 DESC LIMIT {int(limit)}"
    return [
        {"kind": kind, "value": r[0], "label": r[0], "count": int(r[1])}
        for r in conn.execute(sql, (pattern, *params))
        if r[0]
    ]


def _album(
    conn: sqlite3.Connection, prefix: str, limit: int, within: Criteria
) -> list[dict[str, Any]]:
    """Albums with a word starting with ``prefix``: a plain album counts its photos that
    ``within`` selects; a smart one is live, so its count (``None`` here) is the caller's."""
    pattern = "% " + prefix.casefold().replace("%", "").replace("_", "") + "%"
    extra, params = _within("ap.photo_id", within)
    rows = conn.execute(
        "SELECT a.name, a.query IS NOT NULL, (SELECT COUNT(*) FROM album_photos ap "
        f"WHERE ap.album_id = a.id{extra}) FROM albums a WHERE (' ' || a.name_key) LIKE ? "
        f"ORDER BY a.name_key LIMIT {int(limit)}",
        (*params, pattern),
    )
    return [
        {"kind": "album", "value": r[0], "label": r[0], "count": None if r[1] else int(r[2])}
        for r in rows
    ]


def _place(
    conn: sqlite3.Connection, prefix: str, limit: int, within: Criteria
) -> list[dict[str, Any]]:
    """Place names (city, region, country...) starting with ``prefix``, each counted as
    ``place:<name>`` would find it: once per photo, however many levels the name fills."""
    folded = fold(prefix)
    rough: dict[str, int] = {}
    rows = conn.execute(
        "SELECT pl.name, pl.city, pl.region, pl.country, COUNT(*) FROM photos p "
        "JOIN places pl ON pl.id = p.place_id WHERE pl.terms LIKE ? GROUP BY pl.id",
        (f"% {folded}%",),
    )
    for row in rows:
        names = {fold(v): v for v in row[:4] if v and fold(v).startswith(folded)}
        for value in names.values():
            rough[value] = rough.get(value, 0) + int(row[4])
    candidates = sorted(rough, key=lambda v: (-rough[v], v.casefold()))[:PLACE_CANDIDATES]
    out: list[dict[str, Any]] = []
    for value in candidates:
        place = Condition(Match.PLACE, (value,))
        count = queries.count_matching(
            conn, replace(within, conditions=(*within.conditions, place))
        )
        if count:
            out.append({"kind": "place", "value": value, "label": value, "count": count})
    out.sort(key=lambda s: (-s["count"], s["label"].casefold()))
    return out[:limit]
