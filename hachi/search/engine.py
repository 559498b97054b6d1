"""From a query string to ranked photo ids: parse, turn filters into criteria, fetch.

Free text is matched lexically for now (file names, folder names, places, OCR text) with
prefix matching per word; semantic ranking will blend in when a CLIP model is installed.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from hachi.catalog import queries
from hachi.catalog.queries import Condition, Criteria
from hachi.errors import BadRequest, ModelUnavailable
from hachi.search.query import DateRange, Filter, FilterKey, Query, SortOrder, parse_query
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "parsed": self.parsed,
            "total": self.total,
            "took_ms": round(self.took_ms, 3),
            "results": self.results,
            "next_cursor": self.next_cursor,
            "notices": self.notices,
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

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.notices: list[str] = []

    def criteria(self, query: Query, order: str) -> Criteria:
        conditions = tuple(c for f in query.filters if (c := self.condition(f)) is not None)
        fts = fts_expression(query.text)
        return Criteria(conditions, fts, order)

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
            expr = " OR ".join(f"ocr : ({e})" for v in values if (e := fts_expression(str(v))))
            return Condition("text", (expr,), neg) if expr else None
        if key == FilterKey.PERSON:
            self.notices.append("no faces have been recognised yet, so person: matches nobody")
            return Condition("photo_ids", (), neg)
        if key == FilterKey.FACES:
            # Until faces are recognised every photo counts as having none.
            matches_all = any(_zero_faces(v) for v in values)
            return None if matches_all != neg else Condition("photo_ids", (), False)
        if key == FilterKey.SIMILAR:
            raise ModelUnavailable(
                "similar: needs semantic search, which is off: no CLIP model is installed",
                {"install": "hachi models pull"},
            )
        raise BadRequest(f"filter {key}: is not supported")


def _range(value: Any) -> tuple[str | None, str | None]:
    assert isinstance(value, DateRange)
    return value.start, value.end


def _zero_faces(value: Any) -> bool:
    return getattr(value, "count", None) == 0 and not getattr(value, "or_more", False)


def _order(query: Query) -> str:
    if query.sort == SortOrder.DATE_ASC:
        return "date_asc"
    if query.sort == SortOrder.DATE_DESC or not query.text:
        return "date_desc"
    return "rank"


def search(
    conn: sqlite3.Connection, q: str, limit: int = 100, cursor: str | None = None
) -> SearchResult:
    started = time.perf_counter()
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    offset = decode_cursor(cursor)
    query = parse_query(q)
    translator = Translator(conn)
    criteria = translator.criteria(query, _order(query))
    total = queries.count_matching(conn, criteria)
    hits = queries.ids_matching(conn, criteria, limit, offset)
    rows = queries.photo_rows(conn, [pid for pid, _ in hits])
    results = [summary(rows[pid], score) for pid, score in hits if pid in rows]
    more = offset + len(hits) < total
    return SearchResult(
        query=q,
        parsed=query.to_dict(),
        total=total,
        took_ms=(time.perf_counter() - started) * 1000,
        results=results,
        next_cursor=encode_cursor(offset + len(hits)) if more else None,
        notices=translator.notices,
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
