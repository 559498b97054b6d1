"""The built UI is served at / with a client-side-routing fallback and its own CSP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hachi.library import Library
from hachi.server.app import close_app, create_app
from tests.server_fixtures import make_settings

INDEX = "<!doctype html><title>Hachi</title><script type=module src=/assets/app-1a2b.js></script>"


@pytest.fixture
def static(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-1a2b.js").write_text("console.log('hachi')")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return root


def ui_app(tmp_path: Path, static: Path) -> Iterator[Flask]:
    settings = make_settings(tmp_path / "home")
    library = Library(settings)
    app = create_app(settings, library, static_dir=static)
    try:
        yield app
    finally:
        close_app(app)
        library.close()


@pytest.fixture
def app(tmp_path: Path, static: Path) -> Iterator[Flask]:
    yield from ui_app(tmp_path, static)


def get(app: Flask, path: str) -> Any:
    """GET, buffered and closed, so the served file is closed as a WSGI server would."""
    response = app.test_client().get(path)
    response.get_data()
    response.close()
    return response


def test_index_is_public_and_revalidated(app: Flask) -> None:
    response = get(app, "/")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == INDEX
    assert "no-cache" in response.headers["Cache-Control"]
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src" not in csp


def test_client_side_routes_fall_back_to_the_index(app: Flask) -> None:
    for path in ("/people", "/photos/12", "/folders/"):
        response = get(app, path)
        assert response.status_code == 200, path
        assert response.get_data(as_text=True) == INDEX


def test_hashed_assets_are_cached_for_long(app: Flask) -> None:
    response = get(app, "/assets/app-1a2b.js")
    assert response.status_code == 200
    assert response.cache_control.max_age == 365 * 24 * 60 * 60
    response = get(app, "/favicon.svg")
    assert response.status_code == 200
    assert not response.cache_control.max_age


def test_missing_files_and_escapes_are_404(app: Flask) -> None:
    assert get(app, "/missing.png").status_code == 404
    assert get(app, "/../home/catalog.db").status_code == 404
    assert get(app, "/assets/%2e%2e/%2e%2e/home/catalog.db").status_code == 404


def test_api_paths_never_fall_back_to_the_ui(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/api/nope")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_an_unbuilt_ui_says_so(tmp_path: Path) -> None:
    for app in ui_app(tmp_path, tmp_path / "no-static"):
        response = get(app, "/")
        assert response.status_code == 404
        assert "not built" in response.get_json()["error"]["message"]
