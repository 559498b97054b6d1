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
from hachi.catalog.conditions import Condition
from hachi.catalog.queries import Criteria
from hachi.errors import BadRequest, ModelUnavailable
from hachi.media.placenames import NamedPlace
from hachi.search import albums, hybrid, stacks
from hachi.search.filters import FILTERS, FilterKey, Resolver
from hachi.search.query import Query, SortOrder, parse_query
from hachi.search.ranking import MAX_MORE
from hachi.search.semantic import SemanticIndex
from hachi.textnorm import fold

MAX_LIMIT = 1_000_000


@dataclass(frozen=True)
class Answer:
    """The whole answer a search pages through, ranked, filtered and stacked once, for
    what is computed over all of it (the timeline) without planning and ranking again:
    a filter-only answer as its stacked ``criteria``, a ranked one as every id in order."""

    order: str
    criteria: Criteria | None = None
    ranked: list[int] | None = None


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
    answer: Answer | None = field(default=None, repr=False)  # not sent: see Answer

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
    places: dict[str, NamedPlace] = field(default_factory=dict)  # near: names as chosen

    def parsed(self) -> dict[str, Any]:
        """The query as understood, each ``near:`` place name with the place it became."""
        out = self.query.to_dict()
        for item in out["filters"]:
            for value in item["values"]:
                if isinstance(value, dict) and value.get("place") in self.places:
                    value["resolved"] = self.places[value["place"]].to_dict()
        return out


def plan_query(
    conn: sqlite3.Connection,
    query: Query,
    order: str | None,
    face_backend: str = "dlib",
    inside: tuple[int, ...] = (),
) -> Plan:
    """Each filter through its spec in the registry, once; lone smart albums spliced in
    first, so their words rank as their own page ranks them (``order`` None: the order
    the spliced query asks for). ``inside``: the smart albums being expanded."""
    query = albums.splice(conn, query, inside)
    resolver = Resolver(conn)

    def plan_saved(saved: Query, deeper: tuple[int, ...]) -> tuple[Condition, ...]:
        plan = plan_query(conn, saved, "date_desc", face_backend, deeper)
        resolver.notices.extend(plan.notices)
        return plan.criteria.conditions

    resolver.smart_album = lambda album: albums.conditions_of(album, inside, plan_saved)
    conditions = tuple(
        FILTERS[f.key].condition(resolver, f.values, f.negated, f.logic)
        for f in query.filters
        if FILTERS[f.key].match is not None
    )
    similar = tuple(
        v for f in query.filters_for(FilterKey.SIMILAR) for v in f.values if isinstance(v, int)
    )
    origin = queries.origin_of(conditions)
    words = tuple(fold(query.text).split())
    criteria = Criteria(conditions, words, order or base_order(query), face_backend, origin)
    return Plan(query, criteria, similar, resolver.notices, resolver.places)


def filter_criteria(conn: sqlite3.Connection, q: str, face_backend: str = "dlib") -> Criteria:
    """The photos a query's filters select, ignoring its free text and ranking."""
    plan = plan_query(conn, parse_query(q), "date_desc", face_backend)
    return replace(plan.criteria, words=())


def effective_order(plan: Plan, semantic: bool) -> str:
    """How the answer is ordered: ``date_desc``, ``date_asc``, ``distance`` or ``rank``.
    Ranked by similarity unless ``sort:`` asks for dates or distance; by date when nothing
    ranks it. (The planned query: a lone smart album's saved words rank too.)"""
    query = plan.query
    if query.sort == SortOrder.DISTANCE and plan.criteria.origin is not None:
        return "distance"
    if semantic and query.sort not in (SortOrder.DATE_DESC, SortOrder.DATE_ASC):
        return "rank"
    return plan.criteria.order


def base_order(query: Query) -> str:
    if query.sort == SortOrder.DISTANCE:
        return "distance"
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
    plan = plan_query(conn, query, None, face_backend)
    vector = vector_for(conn, plan, semantic, query_vector)
    stacking = stacks.wanted(plan.query)
    if vector is None:
        if plan.query.text and semantic is None:
            plan.notices.append(off_notice or SEMANTIC_OFF)
        criteria, found = stacks.of_filtered(conn, plan.criteria, stacking)
        total = queries.count_matching(conn, criteria)
        hits = queries.ids_matching(conn, criteria, limit, offset)
        extra: dict[str, Any] = {"semantic": False}
        answer = Answer(effective_order(plan, False), criteria=criteria)
    else:
        assert semantic is not None
        criteria = replace(plan.criteria, words=(), order="date_desc")
        ranked_ids, ranked_scores, extra = hybrid.rank_semantic(
            conn, semantic, plan.query, criteria, vector, set(plan.similar), more
        )
        if query.sort == SortOrder.DISTANCE and plan.criteria.origin is not None:
            ranked_ids, ranked_scores = queries.by_distance(
                conn, plan.criteria.origin, ranked_ids, ranked_scores
            )
        ranked_ids, ranked_scores, found = stacks.of_ranking(
            conn, ranked_ids, ranked_scores, stacking
        )
        total = len(ranked_ids)
        answer = Answer(effective_order(plan, True), ranked=ranked_ids)
        hits = list(
            zip(
                ranked_ids[offset : offset + limit],
                ranked_scores[offset : offset + limit],
                strict=True,
            )
        )
    extra["order"] = answer.order
    extra["stacked"] = len(found.hidden)
    rows = queries.photo_rows(conn, [pid for pid, _ in hits])
    starts: dict[int, float] = extra.pop("moments", {})
    results = [summary(rows[pid], score, starts.get(pid)) for pid, score in hits if pid in rows]
    for hit in results:
        if hit["id"] in found.tiles:
            hit["stack"] = found.tiles[hit["id"]]
    more_left = offset + len(hits) < total
    return SearchResult(
        query=q,
        parsed=plan.parsed(),
        total=total,
        took_ms=(time.perf_counter() - started) * 1000,
        results=results,
        next_cursor=encode_cursor(offset + len(hits)) if more_left else None,
        notices=plan.notices,
        extra=extra,
        answer=answer,
    )


POINT_DECIMALS = 5  # about a metre: finer than any map shows, and a third shorter to send


def points(
    conn: sqlite3.Connection,
    q: str,
    semantic: SemanticIndex | None = None,
    face_backend: str = "dlib",
    off_notice: str | None = None,
    more: int = 0,
) -> dict[str, Any]:
    """Every geotagged photo a query finds, in its result order, as ``[id, lat, lon]``:
    what a map of the results needs, without the page limit of ``search``."""
    started = time.perf_counter()
    if not isinstance(more, int) or not 0 <= more <= MAX_MORE:
        raise BadRequest(f"more must be between 0 and {MAX_MORE}")
    query = parse_query(q)
    plan = plan_query(conn, query, None, face_backend)
    vector = vector_for(conn, plan, semantic, None)
    if vector is None:
        if plan.query.text and semantic is None:
            plan.notices.append(off_notice or SEMANTIC_OFF)
        ids = [pid for pid, _ in queries.ids_matching(conn, plan.criteria, None)]
    else:
        assert semantic is not None
        criteria = replace(plan.criteria, words=(), order="date_desc")
        ids = hybrid.rank_semantic(
            conn, semantic, plan.query, criteria, vector, set(plan.similar), more
        )[0]
    where = queries.positions(conn, ids)
    found = [
        [pid, round(where[pid][0], POINT_DECIMALS), round(where[pid][1], POINT_DECIMALS)]
        for pid in ids
        if pid in where
    ]
    return {
        "query": q,
        "parsed": plan.parsed(),
        "total": len(ids),
        "geotagged": len(found),
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
        "points": found,
        "notices": plan.notices,
    }


def matching_ids(
    conn: sqlite3.Connection,
    q: str,
    semantic: SemanticIndex | None = None,
    face_backend: str = "dlib",
    limit: int = MAX_LIMIT,
) -> list[int]:
    """Every photo id a query finds, in its order, as ``search`` pages them: for acting on
    all the results at once (an album, a download) without building a row for each."""
    plan = plan_query(conn, parse_query(q), None, face_backend)
    vector = vector_for(conn, plan, semantic, None)
    stacking = stacks.wanted(plan.query)
    if vector is None:
        criteria, _ = stacks.of_filtered(conn, plan.criteria, stacking)
        return [pid for pid, _ in queries.ids_matching(conn, criteria, limit)]
    assert semantic is not None
    criteria = replace(plan.criteria, words=(), order="date_desc")
    ranked, scores, _ = hybrid.rank_semantic(
        conn, semantic, plan.query, criteria, vector, set(plan.similar), 0
    )
    ranked, _, _ = stacks.of_ranking(conn, ranked, scores, stacking)
    return [int(pid) for pid in ranked[:limit]]


SEMANTIC_OFF = (
    "semantic search is off (no CLIP model installed), so words match file names, folders "
    "and places only; turn it on with: hachi models pull"
)


def vector_for(
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


def summary(row: dict[str, Any], score: float, at_s: float | None = None) -> dict[str, Any]:
    """A search hit as clients see it; a video's ``at_s`` is when its best-matching moment
    starts (0 when the query matched no moment, None for a photo)."""
    video = row["kind"] == "video"
    return {
        "kind": row["kind"],
        "duration_s": row["duration_s"],
        "at_s": (at_s or 0.0) if video else None,
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
