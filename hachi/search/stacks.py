"""Stacking: a near-duplicate group shows as one hit, its best-ranked matching photo.

Stacking happens after ranking and filtering, over the whole ordered result rather than a
page, so paging and ``total`` count tiles honestly: the photos under a tile are left out of
the count and of every page, and the tile carries how many matching photos it holds and
their ids (best first), so a client can show "x3" and open them. Only photos that match
the query are stacked: a filter that leaves one photo of a group shows it alone.
``stack:off`` shows every photo.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hachi.catalog import queries
from hachi.catalog.conditions import Condition, Match
from hachi.catalog.duplicates import KINDS
from hachi.catalog.queries import Criteria
from hachi.search.filters import FilterKey
from hachi.search.query import Query


def wanted(query: Query) -> bool:
    """Stacking is on unless the query says ``stack:off``."""
    return not any("off" in f.values for f in query.filters_for(FilterKey.STACK))


@dataclass
class Stacks:
    hidden: tuple[int, ...] = ()
    tiles: dict[int, dict[str, Any]] = field(default_factory=dict)

    def without_hidden(
        self, ids: Sequence[int], scores: Sequence[float]
    ) -> tuple[list[int], list[float]]:
        gone = set(self.hidden)
        kept = [(i, s) for i, s in zip(ids, scores, strict=True) if i not in gone]
        return [i for i, _ in kept], [s for _, s in kept]


def grouped_matches(conn: sqlite3.Connection, criteria: Criteria) -> list[tuple[int, float]]:
    """The matching photos that belong to a group, in the query's order."""
    if conn.execute("SELECT 1 FROM duplicates LIMIT 1").fetchone() is None:
        return []
    grouped = Condition(Match.DUPLICATE, KINDS)
    return queries.ids_matching(
        conn, replace(criteria, conditions=(*criteria.conditions, grouped)), None
    )


def of_ranked(conn: sqlite3.Connection, ranked: Sequence[int]) -> Stacks:
    """Stacks of ``ranked`` (best first): the first photo of each group is its tile."""
    membership = {
        int(r[0]): (int(r[1]), str(r[2]))
        for r in conn.execute("SELECT photo_id, group_id, kind FROM duplicates")
    }
    if not membership:
        return Stacks()
    members: dict[int, list[int]] = {}
    for photo_id in ranked:
        found = membership.get(photo_id)
        if found is not None:
            members.setdefault(found[0], []).append(photo_id)
    stacks = Stacks()
    hidden: list[int] = []
    for group_id, ids in members.items():
        if len(ids) < 2:
            continue
        stacks.tiles[ids[0]] = {
            "group": group_id,
            "kind": membership[ids[0]][1],
            "count": len(ids),
            "ids": ids,
        }
        hidden += ids[1:]
    stacks.hidden = tuple(hidden)
    return stacks


def of_filtered(
    conn: sqlite3.Connection, criteria: Criteria, stacking: bool
) -> tuple[Criteria, Stacks]:
    """A filter-only answer with each group shown as its first photo in the answer's order
    (the others hidden), unless ``stack:off``: what search pages, and so what the timeline
    counts and "select all" takes."""
    if not stacking:
        return criteria, Stacks()
    found = of_ranked(conn, [pid for pid, _ in grouped_matches(conn, criteria)])
    return replace(criteria, hidden=found.hidden), found


def of_ranking(
    conn: sqlite3.Connection, ids: Sequence[int], scores: Sequence[float], stacking: bool
) -> tuple[list[int], list[float], Stacks]:
    """A ranked answer with each group shown as its best-ranked photo, unless ``stack:off``."""
    if not stacking:
        return list(ids), list(scores), Stacks()
    found = of_ranked(conn, ids)
    kept_ids, kept_scores = found.without_hidden(ids, scores)
    return kept_ids, kept_scores, found
