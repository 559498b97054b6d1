"""From a query string to ranked photo ids: parse once, plan once (each filter through
its spec in ``filters``), then the catalog runs the plan and, with free text or
``similar:``, the semantic side ranks it.

Without a CLIP model, free text is matched lexically (file names, folder names, places,
people, OCR text) with prefix matching per word; with one, ``hybrid`` ranks by CLIP scores
blended with those lexical matches.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hachi.catalog import queries
from hachi.catalog.queries import Criteria
from hachi.errors import BadRequest, ModelUnavailable
from hachi.search import hybrid, stacks
from hachi.search.filters import FILTERS, FilterKey, Resolver
from hachi.search.query import Query, SortOrder, parse_query
from hachi.search.ranking import MAX_MORE
from hachi.search.semantic import SemanticIndex
from hachi.textnorm import fold

MAX_LIMIT = 1_000_000


@dataclass
class SearchResult:
    query: str
    parsed: dict[str, Any]
    total: int
    took_ms: float
    results: list[dict[str, Any]]
    next_cursor: str | None
    notices: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "parsed": self.parsed,
            "total": self.total,
            "took_ms": round(self.took_ms, 3),
            "results": self.results,
            "next_cursor": self.next_cursor,
            "notices": self.notices,
            **self.extra,
        }


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise BadRequest("invalid cursor", {"cursor": cursor[:100]}) from None
    if offset < 0:
        raise BadRequest("invalid cursor", {"cursor": cursor[:100]})
    return offset


@dataclass(frozen=True)
class Plan:
    """A parsed query resolved against the catalog: what the catalog runs, what the
    semantic side ranks by, and what the user should be told."""

    query: Query
    criteria: Criteria
    similar: tuple[int, ...]
    notices: list[str]


def plan_query(
    conn: sqlite3.Connection, query: Query, order: str, face_backend: str = "dlib"
) -> Plan:
    """Each filter through its spec in the registry, once."""
    resolver = Resolver(conn)
    conditions = tuple(
        FILTERS[f.key].condition(resolver, f.values, f.negated, f.logic)
        for f in query.filters
        if FILTERS[f.key].match is not None
    )
    similar = tuple(
        v for f in query.filters_for(FilterKey.SIMILAR) for v in f.values if isinstance(v, int)
    )
    criteria = Criteria(conditions, tuple(fold(query.text).split()), order, face_backend)
    return Plan(query, criteria, similar, resolver.notices)


def filter_criteria(conn: sqlite3.Connection, q: str, face_backend: str = "dlib") -> Criteria:
    """The photos a query's filters select, ignoring its free text and ranking."""
    plan = plan_query(conn, parse_query(q), "date_desc", face_backend)
    return replace(plan.criteria, words=())


def _order(query: Query) -> str:
    if query.sort == SortOrder.DATE_ASC:
        return "date_asc"
    if query.sort == SortOrder.DATE_DESC or not query.text:
        return "date_desc"
    return "rank"


def search(
    conn: sqlite3.Connection,
    q: str,
    limit: int = 100,
    cursor: str | None = None,
    semantic: SemanticIndex | None = None,
    more: int = 0,
    query_vector: NDArray[np.float32] | None = None,
    face_backend: str = "dlib",
    off_notice: str | None = None,
) -> SearchResult:
    started = time.perf_counter()
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    if not isinstance(more, int) or not 0 <= more <= MAX_MORE:
        raise BadRequest(f"more must be between 0 and {MAX_MORE}")
    offset = decode_cursor(cursor)
    query = parse_query(q)
    plan = plan_query(conn, query, _order(query), face_backend)
    vector = _query_vector(conn, plan, semantic, query_vector)
    stacking = stacks.wanted(query)
    if vector is None:
        if query.text and semantic is None:
            plan.notices.append(off_notice or SEMANTIC_OFF)
        criteria = plan.criteria
        found = stacks.Stacks()
        if stacking:
            found = stacks.of_ranked(
                conn, [pid for pid, _ in stacks.grouped_matches(conn, criteria)]
            )
            criteria = replace(criteria, hidden=found.hidden)
        total = queries.count_matching(conn, criteria)
        hits = queries.ids_matching(conn, criteria, limit, offset)
        extra: dict[str, Any] = {"semantic": False}
    else:
        assert semantic is not None
        criteria = replace(plan.criteria, words=(), order="date_desc")
        ranked_ids, ranked_scores, extra = hybrid.rank_semantic(
            conn, semantic, query, criteria, vector, set(plan.similar), more
        )
        found = stacks.Stacks()
        if stacking:
            found = stacks.of_ranked(conn, ranked_ids)
            ranked_ids, ranked_scores = found.without_hidden(ranked_ids, ranked_scores)
        total = len(ranked_ids)
        hits = list(
            zip(
                ranked_ids[offset : offset + limit],
                ranked_scores[offset : offset + limit],
                strict=True,
            )
        )
    rows = queries.photo_rows(conn, [pid for pid, _ in hits])
    results = [summary(rows[pid], score) for pid, score in hits if pid in rows]
    for hit in results:
        if hit["id"] in found.tiles:
            hit["stack"] = found.tiles[hit["id"]]
    more_left = offset + len(hits) < total
    return SearchResult(
        query=q,
        parsed=query.to_dict(),
        total=total,
        took_ms=(time.perf_counter() - started) * 1000,
        results=results,
        next_cursor=encode_cursor(offset + len(hits)) if more_left else None,
        notices=plan.notices,
        extra=extra,
    )


SEMANTIC_OFF = (
    "semantic search is off (no CLIP model installed), so words match file names, folders "
    "and places only; turn it on with: hachi models pull"
)


def _query_vector(
    conn: sqlite3.Connection,
    plan: Plan,
    semantic: SemanticIndex | None,
    uploaded: NDArray[np.float32] | None,
) -> NDArray[np.float32] | None:
    """The CLIP query: text, similar: photos and an uploaded photo, summed on the sphere."""
    if semantic is None:
        if plan.similar or uploaded is not None:
            raise ModelUnavailable(
                "similar photos need semantic search, which is off: no CLIP model is installed",
                {"install": "hachi models pull"},
            )
        return None
    parts = [semantic.photo_vector(conn, pid) for pid in plan.similar]
    if uploaded is not None:
        parts.append(uploaded)
    if plan.query.text:
        parts.append(semantic.text_vector(plan.query.text))
    if not parts:
        return None
    total = np.sum(parts, axis=0).astype(np.float32)
    return total / max(float(np.linalg.norm(total)), 1e-12)


def summary(row: dict[str, Any], score: float) -> dict[str, Any]:
    """A search hit as clients see it."""
    return {
        "id": row["id"],
        "path": row["path"],
        "name": row["name"],
        "score": round(score, 6),
        "taken_at": row["taken_at"],
        "tz_offset": row["tz_offset"],
        "taken_source": row["taken_source"],
        "camera": row["camera"],
        "lens": row["lens"],
        "place": row["place"],
        "country_code": row["place_country_code"],
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "width": row["width"],
        "height": row["height"],
        "mime": row["mime"],
        "size": row["size"],
        "folder": row["folder"],
        "content_hash": row["content_hash"],
    }
