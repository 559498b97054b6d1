"""The grid's thumbnails: grid keys follow sessions, Caddy serves them itself, 304s keep alive.

See hachi/server/grid_keys.py. The Flask test client covers the cookie and the key files;
a real waitress the keep-alive; the real Caddyfile (slow) the path Caddy serves itself.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from hachi.catalog import sessions
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.server.grid_keys import GRID_COOKIE_NAME, GRID_COOKIE_PATH, sync_grid_keys
from hachi.server.serve import make_server
from tests.browser.stack import Stack, running_stack
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import (
    ORIGIN,
    PASSWORD,
    create_token,
    login,
    make_settings,
    running_app,
    set_password,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "home")
    settings.ensure_dirs()
    set_password(settings)
    return settings


def keys(settings: Settings) -> set[str]:
    folder = settings.grid_keys_dir
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def grid_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(GRID_COOKIE_NAME, path=GRID_COOKIE_PATH)
    return cookie.value if cookie else None


def test_login_hands_out_a_grid_key_that_logout_takes_back(settings: Settings) -> None:
    with running_app(settings) as (app, library):
        browser, other = app.test_client(), app.test_client()
        response = login(browser)
        assert response.status_code == 200
        header = next(
            h for h in response.headers.getlist("Set-Cookie") if h.startswith(GRID_COOKIE_NAME)
        )
        assert "HttpOnly" in header and "SameSite=Strict" in header
        assert f"Path={GRID_COOKIE_PATH}" in header
        first = grid_cookie(browser)
        assert first is not None and keys(settings) == {first}
        # the catalog keeps only the session's hash, which names no key: a copy opens nothing
        stored = b"".join(p.read_bytes() for p in settings.home.glob("catalog.db*"))
        assert first.encode() not in stored
        hashes = sessions.live_session_hashes(library.conn)
        assert (settings.grid_keys_dir / first).read_text() in hashes
        login(other)
        second = grid_cookie(other)
        assert second is not None and second != first and keys(settings) == {first, second}
        assert browser.post("/api/logout", headers={"Origin": ORIGIN}).status_code in (200, 204)
        assert grid_cookie(browser) is None
        assert keys(settings) == {second}  # the other browser keeps its key
        assert other.delete("/api/sessions", headers={"Origin": ORIGIN}).status_code in (200, 204)
        assert keys(settings) == set()


def test_a_browser_without_its_key_gets_it_again(settings: Settings) -> None:
    with running_app(settings) as (app, _library):
        browser = app.test_client()
        login(browser)
        key = grid_cookie(browser)
        browser.delete_cookie(GRID_COOKIE_NAME, path=GRID_COOKIE_PATH)
        shutil.rmtree(settings.grid_keys_dir)
        assert browser.get("/api/status").status_code == 200
        assert grid_cookie(browser) == key and keys(settings) == {key}


def test_expired_and_cli_ended_sessions_lose_their_keys(settings: Settings) -> None:
    with running_app(settings) as (app, _library):
        browser = app.test_client()
        login(browser)
        assert len(keys(settings)) == 1
    conn = connect(settings.catalog_path)
    try:
        conn.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
        conn.commit()
        sync_grid_keys(conn, settings.grid_keys_dir)
    finally:
        conn.close()
    assert keys(settings) == set()


def test_bearer_tokens_get_no_grid_key(settings: Settings) -> None:
    token = create_token(settings)
    with running_app(settings) as (app, _library):
        client = app.test_client()
        response = client.get("/api/status", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert not any(
            h.startswith(GRID_COOKIE_NAME) for h in response.headers.getlist("Set-Cookie")
        )
        assert keys(settings) == set()


def test_a_304_keeps_the_connection_open(settings: Settings, tmp_path: Path) -> None:
    """Waitress closed every bodiless answer, so each revalidated thumbnail reconnected."""
    token = create_token(settings)
    name = "ab" + "0" * 30 + ".grid.webp"
    (settings.thumbs_dir / "ab").mkdir(parents=True)
    (settings.thumbs_dir / "ab" / name).write_bytes(b"RIFF\0\0\0\0WEBP")
    with running_app(settings) as (app, _library):
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
            auth = {"Authorization": f"Bearer {token}"}
            conn.request("GET", f"/api/thumbs/{name}", headers=auth)
            first = conn.getresponse()
            first.read()
            etag = first.getheader("ETag") or ""
            assert first.status == 200 and not first.will_close
            for _ in range(2):
                conn.request("GET", f"/api/thumbs/{name}", headers={**auth, "If-None-Match": etag})
                again = conn.getresponse()
                again.read()
                assert again.status == 304 and not again.will_close
            conn.request("GET", f"/api/thumbs/{name}", headers={**auth, "Connection": "close"})
            closing = conn.getresponse()
            closing.read()
            assert closing.will_close
            conn.close()
        finally:
            server.stop()
            thread.join(15)


# -- the real Caddyfile -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed")
    base = tmp_path_factory.mktemp("grid")
    photos = base / "photos"
    write_photo(photos / "a.jpg", Shot(seed=1, size=(640, 480)))
    write_photo(photos / "b.jpg", Shot(seed=2, size=(640, 480)))
    env = {"HACHI_OCR": "0", "HACHI_FACE_BACKEND": "none", "HACHI_AUTO_MODELS": "0"}
    with running_stack(base / "home", PASSWORD, [photos], env) as running:
        yield running


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    data: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""


def call(
    base: str, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> Reply:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
    conn.request(method, path, body, headers)
    response = conn.getresponse()
    reply = Reply(response.status, response.headers, response.read())
    conn.close()
    return reply


def browser_login(stack: Stack) -> str:
    body = json.dumps({"password": PASSWORD})
    kind = {"Content-Type": "application/json"}
    response = call(stack.ui_url, "POST", "/api/login", kind, body)
    assert response.status == 200
    return "; ".join(c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or [])


def served_by_caddy(response: Reply) -> bool:
    """werkzeug's ETags are "<mtime>-<size>-<checksum>", Caddy's file server's one word."""
    return "-" not in (response.header("ETag") or "-")


@pytest.mark.slow
def test_caddy_serves_a_logged_in_browser_its_thumbnails(stack: Stack) -> None:
    bearer_auth = {"Authorization": f"Bearer {stack.token}"}
    found = json.loads(call(stack.ui_url, "GET", "/api/search?q=", bearer_auth).data)
    url = found["results"][0]["thumbnail_url"]
    cookie = browser_login(stack)
    response = call(stack.ui_url, "GET", url, {"Cookie": cookie})
    assert response.status == 200 and served_by_caddy(response)
    assert response.header("Content-Type") == "image/webp"
    assert response.header("Cache-Control") == "private, max-age=31536000, immutable"
    assert "sandbox" in response.header("Content-Security-Policy")
    on_disk = Path(stack.home) / "thumbs" / url.split("/")[-1][:2] / url.split("/")[-1]
    assert response.data == on_disk.read_bytes()
    # previews are made on first view: Hachi makes it, then Caddy serves it
    preview = url.replace(".grid.", ".preview.")
    made = call(stack.ui_url, "GET", preview, {"Cookie": cookie})
    assert made.status == 200 and not served_by_caddy(made)
    assert served_by_caddy(call(stack.ui_url, "GET", preview, {"Cookie": cookie}))
    # a bearer token goes to Hachi, which checks as ever; a live grid key is enough for Caddy
    bearer = call(stack.ui_url, "GET", url, bearer_auth)
    assert bearer.status == 200 and not served_by_caddy(bearer)
    grid_only = "; ".join(c for c in cookie.split("; ") if c.startswith(GRID_COOKIE_NAME))
    assert call(stack.ui_url, "GET", url, {"Cookie": grid_only}).status == 200  # live key
    forged = f"{GRID_COOKIE_NAME}={'0' * 64}"
    assert call(stack.ui_url, "GET", url, {"Cookie": forged}).status == 401
    traversal = f"{GRID_COOKIE_NAME}=../../catalog.db"
    assert call(stack.ui_url, "GET", url, {"Cookie": traversal}).status == 401
    for bad in ("/api/thumbs/..%2fcatalog.db", "/api/thumbs/../catalog.db"):
        assert call(stack.ui_url, "GET", bad, {"Cookie": cookie}).status in (401, 404)
    # logging out ends the key: the same cookies now meet Hachi's 401
    logout = call(stack.ui_url, "POST", "/api/logout", {"Cookie": cookie, "Origin": stack.ui_url})
    assert logout.status in (200, 204)
    assert call(stack.ui_url, "GET", url, {"Cookie": grid_only}).status == 401
