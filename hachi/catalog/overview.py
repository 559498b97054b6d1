"""The Years and Places pages: each year, country, region and city with its photo count
and a cover photo, so the library can be browsed as cards (country → region → city).

Every count is what the card's search finds (``year:2021``, ``place:Tokyo``), counted by
the same criteria the search uses, so a card never promises more photos than a click
shows. The cover is the newest photo of the card's own group.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hachi.catalog import queries
from hachi.catalog.conditions import Condition, Match
from hachi.catalog.queries import Criteria

LEVELS = ("country", "region", "city")
MAX_CARDS = 200


def years(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every year with a photo, newest first, counted as ``year:`` finds it (the photo's
    local date starts with the year), with its newest photo as the cover."""
    rows = conn.execute(
        "SELECT substr(taken_at, 1, 4) AS y, COUNT(*) FROM photos "
        "WHERE taken_at IS NOT NULL GROUP BY y ORDER BY y DESC"
    ).fetchall()
    cards = []
    for year, count in rows:
        if not str(year).isdigit():
            continue
        cover = conn.execute(
            "SELECT id || ' ' || content_hash FROM photos WHERE taken_at >= ? AND taken_at < ? "
            "ORDER BY taken_at DESC, id DESC LIMIT 1",
            (f"{year}", f"{int(year) + 1:04d}"),
        ).fetchone()
        cards.append(_card(str(year), int(count), str(cover[0]) if cover else None))
    return cards


def places(conn: sqlite3.Connection, country: str | None, region: str | None) -> dict[str, Any]:
    """The countries; or the regions of ``country``; or the cities of ``region`` in it.

    A country whose places have no region (the geocoder left it empty) lists its cities.
    """
    parents: list[tuple[str, str]] = []
    if country is not None:
        parents.append(("country", country))
        if region is not None:
            parents.append(("region", region))
    level = LEVELS[len(parents)]
    if level == "region" and not _values(conn, level, parents, 1):
        level = "city"
    cards = []
    for value in _values(conn, level, parents, MAX_CARDS):
        cover = _newest(conn, [*parents, (level, value)])
        matching = Criteria(conditions=(Condition(Match.PLACE, (value,)),))
        cards.append(_card(value, queries.count_matching(conn, matching), cover))
    cards.sort(key=lambda c: (-c["count"], c["value"].casefold()))
    return {"level": level, "country": country, "region": region, "places": cards}


def _filter(fields: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """SQL for places whose named fields (from LEVELS only) hold the given values."""
    assert all(f in LEVELS for f, _ in fields)
    return "".join(f" AND pl.{f} = ?" for f, _ in fields), [v for _, v in fields]


def _values(
    conn: sqlite3.Connection, level: str, parents: list[tuple[str, str]], limit: int
) -> list[str]:
    """The distinct non-empty values of ``level`` under ``parents``, most photos first."""
    assert level in LEVELS
    where, params = _filter(parents)
    rows = conn.execute(
        f"SELECT pl.{level} FROM photos p JOIN places pl ON pl.id = p.place_id "
        f"WHERE pl.{level} != ''{where} GROUP BY pl.{level} ORDER BY COUNT(*) DESC LIMIT ?",
        (*params, limit),
    )
    return [str(r[0]) for r in rows]


def _newest(conn: sqlite3.Connection, fields: list[tuple[str, str]]) -> str | None:
    where, params = _filter(fields)
    row = conn.execute(
        "SELECT p.id || ' ' || p.content_hash FROM photos p JOIN places pl ON pl.id = p.place_id "
        f"WHERE 1{where} ORDER BY p.taken_at DESC, p.id DESC LIMIT 1",
        params,
    ).fetchone()
    return str(row[0]) if row else None


def _card(value: str, count: int, cover: str | None) -> dict[str, Any]:
    cover_id, cover_hash = (cover or " ").split(" ", 1)
    return {
        "value": value,
        "count": count,
        "cover_id": int(cover_id) if cover_id else None,
        "cover_hash": cover_hash or None,
    }
