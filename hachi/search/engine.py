"""From a query string to ranked photo ids: parse, turn filters into criteria, fetch.

Free text is matched lexically for now (file names, folder names, places, OCR text) with
prefix matching per word; semantic ranking will blend in when a CLIP model is installed.
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

from hachi.catalog import faces as faces_db
from hachi.catalog import queries
from hachi.catalog.queries import Condition, Criteria
from hachi.errors import BadRequest, ModelUnavailable
from hachi.search import ranking
from hachi.search.query import (
    DateRange,
    FacesCount,
    Filter,
    FilterKey,
    Query,
    SortOrder,
    parse_query,
)
from hachi.search.ranking import MAX_MORE
from hachi.search.semantic import SemanticIndex, Snapshot, refine_margin
from hachi.textnorm import fold

MAX_LIMIT = 1_000_000
LEXICAL_LIMIT = 2_000  # lexical matches considered per query in semantic ranking
TYPE_MIMES: dict[str, tuple[str, ...]] = {
    "jpeg": ("image/jpeg",),
    "jpg": ("image/jpeg",),
    "png": ("image/png",),
    "webp": ("image/webp",),
    "gif": ("image/gif",),
    "bmp": ("image/bmp",),
    "tiff": ("image/tiff",),
    "tif": ("image/tiff",),
    "heic": ("image/heic", "image/heif"),
    "heif": ("image/heic", "image/heif"),
    "avif": ("image/avif",),
    "raw": ("image/x-%",),
    "dng": ("image/x-adobe-dng",),
    "cr2": ("image/x-canon-cr2",),
    "cr3": ("image/x-canon-cr3",),
    "nef": ("image/x-nikon-nef",),
    "arw": ("image/x-sony-arw",),
    "raf": ("image/x-fuji-raf",),
    "orf": ("image/x-olympus-orf",),
    "rw2": ("image/x-panasonic-rw2",),
    "pef": ("image/x-pentax-pef",),
}


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


def fts_expression(text: str) -> str | None:
    """Every word must match as a prefix somewhere: 'beach 2019' -> "beach"* AND "2019"*."""
    words = fold(text).split()
    if not words:
        return None
    return " AND ".join(f'"{w}"*' for w in words)


class Translator:
    """Turns a parsed Query into catalog Criteria; collects notices for the user."""

    def __init__(self, conn: sqlite3.Connection, face_backend: str = "dlib") -> None:
        self.conn = conn
        self.face_backend = face_backend
        self.notices: list[str] = []

    def criteria(self, query: Query, order: str) -> Criteria:
        conditions = tuple(c for f in query.filters if (c := self.condition(f)) is not None)
        fts = fts_expression(query.text)
        return Criteria(conditions, fts, order, self.face_backend)

    def condition(self, flt: Filter) -> Condition | None:
        key, values, neg = flt.key, flt.values, flt.negated
        simple = {
            FilterKey.CAMERA: "camera",
            FilterKey.LENS: "lens",
            FilterKey.PLACE: "place",
            FilterKey.FOLDER: "folder",
            FilterKey.FILE: "file",
            FilterKey.ORIENTATION: "orientation",
        }
        if key in simple:
            return Condition(simple[key], tuple(str(v) for v in values), neg)
        if key in (FilterKey.AFTER, FilterKey.BEFORE, FilterKey.YEAR):
            return Condition("date", tuple(_range(v) for v in values), neg)
        if key == FilterKey.COUNTRY:
            codes = queries.country_codes_named(self.conn, tuple(str(v) for v in values))
            return Condition("country_codes", tuple(codes), neg)
        if key == FilterKey.TYPE:
            mimes = tuple(m for v in values for m in TYPE_MIMES.get(str(v).lower(), ()))
            return Condition("mimes", mimes or ("-",), neg)
        if key == FilterKey.TEXT:
            return Condition("text", tuple(str(v) for v in values), neg)
        if key == FilterKey.PERSON:
            terms = [fold(str(v)) for v in values]
            ids = faces_db.people_matching(self.conn, terms)
            if not ids:
                self.notices.append(f"nobody is named {', '.join(map(str, values))}")
            return Condition("person_ids", tuple(ids), neg)
        if key == FilterKey.FACES:
            counts = tuple((v.count, v.or_more) for v in values if isinstance(v, FacesCount))
            return Condition("faces", counts, neg)
        if key == FilterKey.SIMILAR:
            return None  # a ranking, not a filter: handled by the semantic path
        raise BadRequest(f"filter {key}: is not supported")


def _range(value: Any) -> tuple[str | None, str | None]:
    assert isinstance(value, DateRange)
    return value.start, value.end


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
    translator = Translator(conn, face_backend)
    vector, exclude = _query_vector(conn, query, semantic, query_vector)
    if vector is None:
        if query.text and semantic is None:
            translator.notices.append(off_notice or SEMANTIC_OFF)
        criteria = translator.criteria(query, _order(query))
        total = queries.count_matching(conn, criteria)
        hits = queries.ids_matching(conn, criteria, limit, offset)
        extra: dict[str, Any] = {"semantic": False}
    else:
        assert semantic is not None
        criteria = replace(translator.criteria(query, "date_desc"), fts=None)
        ranked_ids, ranked_scores, extra = _semantic(
            conn, semantic, query, criteria, vector, exclude, more
        )
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
    more_left = offset + len(hits) < total
    return SearchResult(
        query=q,
        parsed=query.to_dict(),
        total=total,
        took_ms=(time.perf_counter() - started) * 1000,
        results=results,
        next_cursor=encode_cursor(offset + len(hits)) if more_left else None,
        notices=translator.notices,
        extra=extra,
    )


SEMANTIC_OFF = (
    "semantic search is off (no CLIP model installed), so words match file names, folders "
    "and places only; turn it on with: hachi models pull"
)


def _query_vector(
    conn: sqlite3.Connection,
    query: Query,
    semantic: SemanticIndex | None,
    uploaded: NDArray[np.float32] | None,
) -> tuple[NDArray[np.float32] | None, set[int]]:
    """The CLIP query: text, similar: photos and an uploaded photo, summed on the sphere."""
    similar = [
        v for f in query.filters_for(FilterKey.SIMILAR) for v in f.values if isinstance(v, int)
    ]
    if semantic is None:
        if similar or uploaded is not None:
            raise ModelUnavailable(
                "similar photos need semantic search, which is off: no CLIP model is installed",
                {"install": "hachi models pull"},
            )
        return None, set()
    parts = [semantic.photo_vector(conn, pid) for pid in similar]
    if uploaded is not None:
        parts.append(uploaded)
    if query.text:
        parts.append(semantic.text_vector(query.text))
    if not parts:
        return None, set()
    total = np.sum(parts, axis=0).astype(np.float32)
    return total / max(float(np.linalg.norm(total)), 1e-12), set(similar)


def _semantic(
    conn: sqlite3.Connection,
    semantic: SemanticIndex,
    query: Query,
    criteria: Criteria,
    vector: NDArray[np.float32],
    exclude: set[int],
    more: int,
) -> tuple[list[int], list[float], dict[str, Any]]:
    snap = semantic.snapshot(conn)
    ids, rows, clip = snap.photo_ids, snap.rows, semantic.scores(snap, vector)
    sorted_ids: tuple[NDArray[np.int64], NDArray[np.int64]] | None = snap.sorted_ids()
    if exclude:
        mask = ~np.isin(ids, np.asarray(sorted(exclude), dtype=np.int64))
        ids, rows, clip, sorted_ids = ids[mask], rows[mask], clip[mask], None
    filter_first = bool(criteria.conditions) and more >= MAX_MORE
    if filter_first:  # everything ranked: the filters decide the candidates
        allowed = np.asarray(queries.all_ids_matching(conn, criteria), dtype=np.int64)
        mask = np.isin(ids, allowed)
        ids, rows, clip, sorted_ids = ids[mask], rows[mask], clip[mask], None
    lexical = np.zeros(len(ids), dtype=np.float32)
    must_keep = np.zeros(len(ids), dtype=bool)
    if query.text:
        lexical, must_keep = _lexical(conn, query.text, ids, sorted_ids)
    threshold = _exact_cutoff(semantic, snap, vector, rows, clip, must_keep, more)
    ranked = ranking.rank_above(clip, lexical, must_keep, threshold)
    order_ids = [int(ids[i]) for i in ranked.order]
    scores = [float(s) for s in ranked.scores]
    hidden = ranked.hidden
    if criteria.conditions and not filter_first:
        # Relevance does not depend on the filters, so the cutoff is taken over the whole
        # library and only the photos it keeps are checked against the filters: a few
        # thousand ids instead of every match of `camera:canon` in a million photos.
        allowed_ids = queries.ids_among(conn, criteria, order_ids)
        kept = [(pid, sc) for pid, sc in zip(order_ids, scores, strict=True) if pid in allowed_ids]
        order_ids, scores = [p for p, _ in kept], [sc for _, sc in kept]
        hidden = max(0, queries.count_matching(conn, criteria) - len(order_ids))
    if query.sort in (SortOrder.DATE_DESC, SortOrder.DATE_ASC):
        order_ids, scores = _by_date(conn, order_ids, scores, query.sort == SortOrder.DATE_ASC)
    extra = {
        "semantic": True,
        "model": semantic.model,
        "cutoff": ranked.cutoff,
        "hidden": hidden,
        "more": more,
    }
    return order_ids, scores, extra


def _exact_cutoff(
    semantic: SemanticIndex,
    snap: Snapshot,
    vector: NDArray[np.float32],
    rows: NDArray[np.int64],
    clip: NDArray[np.float32],
    must_keep: NDArray[np.bool_],
    more: int,
) -> float | None:
    """The cutoff, with ``clip`` made exact (in place) wherever the answer depends on it.

    Int8 scores only choose candidates: the cutoff is fitted on exact scores of its fixed
    sample (the same numbers with or without the int8 copy), then every photo that could
    reach it (or is kept anyway) is re-scored, so shown photos and their order are exact.
    """
    sampled = ranking.sample_positions(len(clip))
    if sampled is None or more >= MAX_MORE:  # a small library, or everything shown
        if snap.approximate:
            clip[:] = semantic.exact_scores(snap, vector, rows)
        return ranking.cutoff(clip, more)
    exact = semantic.sample_scores(snap, vector, rows, sampled)
    threshold = ranking.cutoff_of_sample(exact, len(clip), more)
    if snap.approximate:
        margin = refine_margin(clip[sampled], exact)
        near = _near_cutoff(clip, must_keep, threshold, margin)
        clip[near] = semantic.exact_scores(snap, vector, rows[near])
    return threshold


def _near_cutoff(
    clip: NDArray[np.float32],
    must_keep: NDArray[np.bool_],
    threshold: float | None,
    margin: float,
) -> NDArray[np.int64]:
    """Positions whose exact score could put them above the cutoff, plus those kept anyway."""
    if threshold is None:
        return np.arange(len(clip))
    return np.flatnonzero((clip >= threshold - margin) | must_keep)


def _lexical(
    conn: sqlite3.Connection,
    text: str,
    ids: NDArray[np.int64],
    sorted_ids: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Per candidate: lexical relevance (any word) and whether every word matched.

    Word counts come from the index's vocabulary first: a word in no photo drops out of the
    "any word" query and makes the "every word" one pointless, so a query whose words name
    nothing in the library (most descriptions of a scene) costs no full-text query at all.
    """
    counts = {
        w: queries.photos_with_prefix(conn, w)
        for w in fold(text).split()
        if w not in STOPWORDS and len(w) > 1
    }
    words = [w for w, count in counts.items() if 0 < count <= LEXICAL_LIMIT]
    if not words:
        return np.zeros(len(ids), np.float32), np.zeros(len(ids), bool)
    any_word = queries.fts_scores(conn, " OR ".join(f'"{w}"*' for w in words), LEXICAL_LIMIT)
    every_word: dict[int, float] = {}
    if all(counts.values()):  # no typed word is missing from the library
        expression = " AND ".join(f'"{w}"*' for w in words)
        every_word = queries.fts_scores(conn, expression, LEXICAL_LIMIT)
    if sorted_ids is None:
        order = np.argsort(ids, kind="stable")
        sorted_ids = (ids[order], order)
    lexical = _scatter(ids, any_word, sorted_ids)
    if len(every_word) >= LEXICAL_LIMIT:
        # The words are everywhere (a home town, "img"): a boost, not a reason to keep.
        return lexical, np.zeros(len(ids), bool)
    return lexical, _scatter(ids, every_word, sorted_ids) != 0


def _scatter(
    ids: NDArray[np.int64],
    values: dict[int, float],
    sorted_ids: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> NDArray[np.float32]:
    """values[id] at each id's position (0 elsewhere), vectorised for million-photo sets.

    ``sorted_ids`` (ids ascending, their positions) is the snapshot's cached sort, which
    saves sorting a million ids on every query."""
    out = np.zeros(len(ids), dtype=np.float32)
    if not values or not len(ids):
        return out
    keys = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
    vals = np.fromiter(values.values(), dtype=np.float32, count=len(values))
    if sorted_ids is None:
        order = np.argsort(ids, kind="stable")
        sorted_ids = (ids[order], order)
    ascending, order = sorted_ids
    where = np.clip(np.searchsorted(ascending, keys), 0, len(ids) - 1)
    found = ascending[where] == keys
    out[order[where[found]]] = np.where(vals[found] == 0, np.float32(1e-6), vals[found])
    return out


def _by_date(
    conn: sqlite3.Connection, ids: list[int], scores: list[float], ascending: bool
) -> tuple[list[int], list[float]]:
    taken = queries.taken_at_of(conn, ids)
    pairs = sorted(
        zip(ids, scores, strict=True),
        key=lambda p: (taken.get(p[0]) or "", p[0]),
        reverse=not ascending,
    )
    return [p[0] for p in pairs], [p[1] for p in pairs]


STOPWORDS = frozenset(
    "a an and at by for from in into is of on or the to with photo photos picture pictures "
    "image images".split()
)


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
        "thumbnail_url": f"/api/photos/{row['id']}/thumbnail",
    }
