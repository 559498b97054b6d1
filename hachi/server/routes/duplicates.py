"""Near-duplicate groups, each with its suggested keeper (nothing is ever deleted)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hachi.catalog.duplicates import KINDS
from hachi.server.context import library
from hachi.server.params import query_choice
from hachi.server.urls import with_thumbnail_url

bp = Blueprint("duplicates", __name__)


@bp.get("/duplicates")
def list_duplicates() -> ResponseReturnValue:
    """The groups as they stand; photos not fingerprinted or grouped yet are counted in
    ``pending`` (the background indexer takes care of them)."""
    kind = query_choice("kind", KINDS, None)
    found = library().duplicates.groups(kind)
    return jsonify({**found, "groups": [_with_urls(g) for g in found["groups"]]})


def _with_urls(group: dict[str, Any]) -> dict[str, Any]:
    return {**group, "photos": [with_thumbnail_url(p) for p in group["photos"]]}
