"""The Years and Places pages: cards with counts and cover photos (``catalog.overview``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hachi.server.context import library
from hachi.server.params import query_text
from hachi.server.urls import thumbnail_urls

MAX_PLACE_LENGTH = 200

bp = Blueprint("overview", __name__)


def _shown(card: dict[str, Any]) -> dict[str, Any]:
    """A card as the web shows it: the cover's thumbnail URL instead of its hash."""
    digest = card.pop("cover_hash")
    card["cover_url"] = thumbnail_urls(digest)["thumbnail_url"] if digest else None
    return card


@bp.get("/years")
def years() -> ResponseReturnValue:
    return jsonify({"years": [_shown(c) for c in library().years()]})


@bp.get("/places")
def places() -> ResponseReturnValue:
    country = query_text("country", max_length=MAX_PLACE_LENGTH)
    region = query_text("region", max_length=MAX_PLACE_LENGTH)
    found = library().places(country, region)
    return jsonify({**found, "places": [_shown(c) for c in found["places"]]})
