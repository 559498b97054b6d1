"""From a query string to ranked photo ids: parse, turn filters into criteria, fetch.

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

from hachi.catalog import faces as faces_db
from hachi.catalog import queries
from hachi.catalog.queries import Condition, Criteria
from hachi.errors import BadRequest, ModelUnavailable
from hachi.media.thumbnails import GRID, PREVIEW
from hachi.search import hybrid
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
from hachi.search.semantic import SemanticIndex
from hachi.textnorm import fold

MAX_LIMIT = 1_000_000
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


def filter_criteria(conn: sqlite3.Connection, q: str, face_backend: str = "dlib") -> Criteria:
    """The photos a query's filters select, ignoring its free text and ranking."""
    query = parse_query(q)
    return replace(Translator(conn, face_backend).criteria(query, "date_desc"), fts=None)


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
        ranked_ids, ranked_scores, extra = hybrid.rank_semantic(
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


def thumb_url(content_hash: str, kind: str) -> str:
    """A thumbnail's URL names its content, so it never changes and is cached for good."""
    return f"/api/thumbs/{content_hash}.{kind}.webp"


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
        "thumbnail_url": thumb_url(row["content_hash"], GRID),
        "preview_url": thumb_url(row["content_hash"], PREVIEW),
    }
