"""Search and autocomplete."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from hachi.errors import BadRequest
from hachi.search.engine import encode_cursor
from hachi.search.filters import SUGGEST_KINDS
from hachi.search.ranking import MAX_MORE
from hachi.server.context import library
from hachi.server.params import MAX_OFFSET, query_choice, query_int, query_text
from hachi.server.urls import search_page

MAX_QUERY_LENGTH = 1000
MAX_CURSOR_LENGTH = 512
MAX_SEARCH_LIMIT = 500
DEFAULT_SEARCH_LIMIT = 100
MAX_SUGGESTIONS = 50
DEFAULT_SUGGESTIONS = 10
MAX_PREFIX_LENGTH = 200
SUGGESTION_KINDS = SUGGEST_KINDS
BOOLEAN = ("0", "1", "true", "false")

bp = Blueprint("search", __name__)


@bp.get("/search")
def search() -> ResponseReturnValue:
    q = query_text("q", required=True, max_length=MAX_QUERY_LENGTH) or ""
    limit = query_int("limit", DEFAULT_SEARCH_LIMIT, 1, MAX_SEARCH_LIMIT)
    cursor = _cursor()
    more = query_int("more", 0, 0, MAX_MORE)
    # The timeline in the same answer as the first page, so a client draws the headers
    # and the scrubber with the first photos: one round trip, one ranking, instead of two.
    with_timeline = query_choice("timeline", BOOLEAN, "0") in ("1", "true")
    found = library().search(q, limit=limit, cursor=cursor, more=more, with_timeline=with_timeline)
    return jsonify(search_page(found))


def _cursor() -> str | None:
    """``cursor`` (the previous page's ``next_cursor``), or ``offset``: where a timeline
    day starts (``/api/timeline``), so a client can jump there without the pages before."""
    cursor = query_text("cursor", max_length=MAX_CURSOR_LENGTH) or None
    if "offset" not in request.args:
        return cursor
    offset = query_int("offset", 0, 0, MAX_OFFSET)
    if cursor is not None:
        raise BadRequest("give either cursor or offset, not both", {"field": "offset"})
    return encode_cursor(offset)


@bp.get("/timeline")
def timeline() -> ResponseReturnValue:
    q = query_text("q", max_length=MAX_QUERY_LENGTH) or ""
    more = query_int("more", 0, 0, MAX_MORE)
    return jsonify(library().timeline(q, more=more))


@bp.get("/search/points")
def search_points() -> ResponseReturnValue:
    """Every geotagged result of a query as [id, latitude, longitude], for the map."""
    q = query_text("q", required=True, max_length=MAX_QUERY_LENGTH) or ""
    more = query_int("more", 0, 0, MAX_MORE)
    return jsonify(library().points(q, more=more))


@bp.post("/search/image")
def search_image() -> ResponseReturnValue:
    """Photos like the uploaded one: the body is the image itself (any supported format)."""
    data = request.get_data(cache=False)
    if not data:
        raise BadRequest("send the photo as the request body", {"field": "body"})
    q = query_text("q", max_length=MAX_QUERY_LENGTH) or ""
    limit = query_int("limit", DEFAULT_SEARCH_LIMIT, 1, MAX_SEARCH_LIMIT)
    cursor = query_text("cursor", max_length=MAX_CURSOR_LENGTH) or None
    more = query_int("more", 0, 0, MAX_MORE)
    found = library().search_image(data, q, limit=limit, cursor=cursor, more=more)
    return jsonify(search_page(found))


@bp.get("/suggest")
def suggest() -> ResponseReturnValue:
    prefix = query_text("prefix", max_length=MAX_PREFIX_LENGTH) or ""
    kind = query_choice("kind", SUGGESTION_KINDS, None)
    limit = query_int("limit", DEFAULT_SUGGESTIONS, 1, MAX_SUGGESTIONS)
    q = query_text("q", max_length=MAX_QUERY_LENGTH) or ""
    return jsonify({"suggestions": library().suggest(prefix, kind, limit, q)})
