"""How many photos a query finds on each day, so a client can draw a timeline (headers,
a date scrubber) over the whole answer while it holds only a page of it.

The days come in the order the search returns its photos, with the same filters, the same
relevance cutoff and the same tie-breaks (undated photos last), so the running sum of the
counts is the offset at which each day starts in the search's answer: a client jumps to a
month by asking ``/api/search`` for the page at that offset. An answer ranked by relevance
has no timeline (its days interleave), and says so with ``order``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from hachi.catalog import queries
from hachi.errors import BadRequest
from hachi.search import hybrid, stacks
from hachi.search.engine import Answer, effective_order, plan_query, vector_for
from hachi.search.query import parse_query
from hachi.search.ranking import MAX_MORE
from hachi.search.semantic import SemanticIndex


def timeline(
    conn: sqlite3.Connection,
    q: str,
    semantic: SemanticIndex | None = None,
    more: int = 0,
    face_backend: str = "dlib",
) -> dict[str, Any]:
    """``{"query", "order", "total", "days": [{"day", "count"}], "undated"}``; ``days`` is
    empty when the answer is ranked by relevance rather than by date. (With a page of
    results, ``of_answer`` counts the search's own answer instead of planning again.)"""
    if not isinstance(more, int) or not 0 <= more <= MAX_MORE:
        raise BadRequest(f"more must be between 0 and {MAX_MORE}")
    query = parse_query(q)
    plan = plan_query(conn, query, None, face_backend)
    vector = vector_for(conn, plan, semantic, None)
    order = effective_order(plan, vector is not None)
    if order in UNDATED_ORDERS:  # not by date: no days to head, and nothing to rank
        return of_answer(conn, q, Answer(order))
    stacking = stacks.wanted(plan.query)
    if vector is None:
        criteria, _ = stacks.of_filtered(conn, plan.criteria, stacking)
        return of_answer(conn, q, Answer(order, criteria=criteria))
    assert semantic is not None
    criteria = replace(plan.criteria, words=(), order="date_desc")
    ids, scores, _extra = hybrid.rank_semantic(
        conn, semantic, plan.query, criteria, vector, set(plan.similar), more
    )
    ids, scores, _ = stacks.of_ranking(conn, ids, scores, stacking)
    return of_answer(conn, q, Answer(order, ranked=ids))


UNDATED_ORDERS = ("rank", "distance")


def of_answer(conn: sqlite3.Connection, q: str, answer: Answer) -> dict[str, Any]:
    """The days of an answer already ranked, filtered and stacked (a search's own)."""
    if answer.order in UNDATED_ORDERS:
        return {"query": q, "order": answer.order, "total": None, "days": [], "undated": 0}
    if answer.ranked is not None:
        days = queries.days_among(conn, answer.ranked)
    else:
        assert answer.criteria is not None
        days = queries.days_matching(conn, answer.criteria)
    dated = [{"day": day, "count": count} for day, count in days if day is not None]
    if answer.order == "date_asc":
        dated.reverse()
    undated = sum(count for day, count in days if day is None)
    total = sum(count for _day, count in days)
    return {"query": q, "order": answer.order, "total": total, "days": dated, "undated": undated}
