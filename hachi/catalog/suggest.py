"""Autocomplete: names that start with what the user has typed, most used first."""

from __future__ import annotations

import sqlite3
from typing import Any

from hachi.textnorm import fold

_SOURCES = {
    "camera": "SELECT c.label, COUNT(*) FROM photos p JOIN cameras c ON c.id = p.camera_id "
    "WHERE c.terms LIKE ? GROUP BY c.label",
    "lens": "SELECT l.name, COUNT(*) FROM photos p JOIN lenses l ON l.id = p.lens_id "
    "WHERE l.terms LIKE ? GROUP BY l.name",
    "folder": "SELECT d.label, COUNT(*) FROM photos p JOIN dirs d ON d.id = p.dir_id "
    "WHERE d.terms LIKE ? GROUP BY d.label",
    "file": "SELECT p.name, 1 FROM photos p WHERE p.name LIKE ? GROUP BY p.name",
    "year": "SELECT substr(p.taken_at, 1, 4) AS y, COUNT(*) FROM photos p "
    "WHERE p.taken_at LIKE ? GROUP BY y",
    "person": "SELECT pe.name, COUNT(DISTINCT f.photo_id) FROM people pe "
    "JOIN faces f ON f.person_id = pe.id WHERE pe.name IS NOT NULL "
    "AND pe.hidden = 0 AND (' ' || lower(pe.name)) LIKE ? GROUP BY pe.id",
}
_PLACE_COLUMNS = ("city", "name", "region", "country")


def suggestions(
    conn: sqlite3.Connection, prefix: str, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    kinds = [kind] if kind else [*_SOURCES, "place"]
    out: list[dict[str, Any]] = []
    for k in kinds:
        out.extend(_place(conn, prefix, limit) if k == "place" else _simple(conn, k, prefix, limit))
    out.sort(key=lambda s: (-s["count"], s["label"].casefold()))
    return out[:limit]


def _simple(conn: sqlite3.Connection, kind: str, prefix: str, limit: int) -> list[dict[str, Any]]:
    if kind in ("file", "year"):
        pattern = prefix.replace("%", "").replace("_", "") + "%"
    elif kind == "person":
        pattern = "% " + prefix.casefold().replace("%", "").replace("_", "") + "%"
    else:
        pattern = f"% {fold(prefix)}%"
    sql = _SOURCES[kind] + f" ORDER BY 2 DESC LIMIT {int(limit)}"
    return [
        {"kind": kind, "value": r[0], "label": r[0], "count": int(r[1])}
        for r in conn.execute(sql, (pattern,))
        if r[0]
    ]


def _place(conn: sqlite3.Connection, prefix: str, limit: int) -> list[dict[str, Any]]:
    folded = fold(prefix)
    counts: dict[str, int] = {}
    rows = conn.execute(
        "SELECT pl.name, pl.city, pl.region, pl.country, COUNT(*) FROM photos p "
        "JOIN places pl ON pl.id = p.place_id WHERE pl.terms LIKE ? GROUP BY pl.id",
        (f"% {folded}%",),
    )
    for row in rows:
        for value in row[:4]:
            if value and fold(value).startswith(folded):
                counts[value] = counts.get(value, 0) + int(row[4])
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return [{"kind": "place", "value": v, "label": v, "count": n} for v, n in ranked]
