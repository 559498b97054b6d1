"""The built web UI, so that `hachi serve` alone is a complete app on localhost. It lives
in hachi/static/, inside the package, so that `pip install .` carries it.

Caddy may serve the same files on the LAN; serving them here too keeps the one-time
login link (which redirects to ``/``) working without Caddy. Unknown page paths fall
back to index.html because the UI routes on the client side.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import NotFound
from werkzeug.routing import PathConverter

STATIC_DIR_KEY = "HACHI_STATIC_DIR"
ASSET_MAX_AGE_S = 365 * 24 * 60 * 60

bp = Blueprint("ui", __name__)


class PagePath(PathConverter):
    """A page path outside /api: the UI's fallback never claims an API address, so a wrong
    method on an API route is a 405 whose Allow lists the API's methods only."""

    regex = r"(?!api(?:/|$))[^/].*?"


@bp.record_once
def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["page"] = PagePath


def default_static_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "static"


def _static_dir() -> Path:
    return Path(current_app.config[STATIC_DIR_KEY])


def _index() -> Response:
    if not (_static_dir() / "index.html").is_file():
        raise NotFound(
            "the web UI is not built (hachi/static/index.html is missing); the API is at /api"
        )
    response = send_from_directory(_static_dir(), "index.html", max_age=0)
    response.cache_control.no_cache = True
    return response


@bp.get("/")
def index() -> Response:
    return _index()


@bp.get("/<page:path>")
def page(path: str) -> Response:
    if (_static_dir() / path).is_file():
        # Vite names built assets by content hash, so they never change under one name.
        immutable = path.startswith("assets/")
        return send_from_directory(_static_dir(), path, max_age=ASSET_MAX_AGE_S if immutable else 0)
    if "." in Path(path).name:
        raise NotFound()
    return _index()
