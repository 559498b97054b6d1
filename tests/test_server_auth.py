"""Logging in: password + cookie, bearer tokens, one-time links, throttling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hachi.catalog import auth
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.server.app import close_app, create_app
from hachi.server.auth import SESSION_COOKIE_NAME, mint_login_link
from hachi.server.login_links import LoginLinks
from hachi.server.throttle import FREE_FAILURES, LoginThrottle, TooManyAttempts
from tests.server_fixtures import (
    ORIGIN,
    PASSWORD,
    client_from,
    create_token,
    login,
    make_settings,
    running_app,
    set_password,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    with running_app(settings) as (app, _library):
        yield app


def set_cookie_header(response: object) -> str:
    headers = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    matching = [h for h in headers if h.startswith(SESSION_COOKIE_NAME + "=")]
    assert matching, headers
    return str(matching[0])


def test_password_login_sets_a_strict_httponly_cookie(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    assert client.get("/api/status").status_code == 401
    response = login(client)
    assert response.status_code == 200
    assert response.get_json() == {"authenticated": True, "method": "cookie", "password_set": True}
    cookie = set_cookie_header(response)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http on localhost
    assert client.get("/api/status").status_code == 200
    assert client.get("/api/session").get_json()["method"] == "cookie"


def test_wrong_password_is_401_and_sets_no_session(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    response = login(client, "wrong")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/status").status_code == 401


def test_logout_ends_the_session(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    login(client)
    response = client.post("/api/logout", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.get_json()["authenticated"] is False
    assert client.get("/api/status").status_code == 401


def test_changing_the_password_logs_browsers_out(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    login(client)
    assert client.get("/api/status").status_code == 200
    set_password(settings, "a new password")
    assert client.get("/api/status").status_code == 401


def test_a_forged_cookie_is_refused(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE_NAME, "eyJhdXRoIjoxfQ.forged.signature", domain="localhost")
    assert client.get("/api/status").status_code == 401


def test_without_a_password_the_api_says_how_to_set_one(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/api/session")
    assert response.status_code == 401
    detail = response.get_json()["error"]["detail"]
    assert detail["password_set"] is False
    assert "hachi passwd" in detail["hint"]
    response = login(client, "anything")
    assert response.status_code == 401
    assert "hachi passwd" in response.get_json()["error"]["message"]


def test_bearer_token_authenticates_without_cookie_or_origin(
    settings: Settings, app: Flask
) -> None:
    token = create_token(settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/session", headers=headers).get_json()["method"] == "bearer"
    response = client.post("/api/folders/99/rescan", headers=headers)
    assert response.status_code == 404  # reached the route: no Origin needed
    bad = client.get("/api/status", headers={"Authorization": "Bearer hachi_nope"})
    assert bad.status_code == 401
    assert client.get("/api/status", headers={"Authorization": "Bearer "}).status_code == 401


def test_login_link_works_once_and_redirects_home(app: Flask) -> None:
    link = mint_login_link(app)
    assert link.startswith("/api/login/link?token=")
    client = app.test_client()
    response = client.get(link)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert client.get("/api/status").status_code == 200  # works with no password set
    again = app.test_client().get(link)
    assert again.status_code == 303, "a spent link leads to a page, not raw JSON"
    assert again.headers["Location"] == "/login?link=spent"
    assert not again.headers.getlist("Set-Cookie")


def test_login_link_needs_a_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/login/link").status_code == 400
    made_up = client.get("/api/login/link?token=made-up")
    assert made_up.status_code == 303 and made_up.headers["Location"] == "/login?link=spent"
    assert client.get("/api/status").status_code == 401


def test_login_links_expire(settings: Settings) -> None:
    clock = FakeClock()
    settings.ensure_dirs()
    connect(settings.catalog_path).close()
    links = LoginLinks(settings.catalog_path, lambda: datetime.fromtimestamp(clock(), UTC))
    try:
        token = links.mint(timedelta(seconds=60))
        clock.now += 61
        assert links.redeem(token) is False
        fresh = links.mint(timedelta(seconds=60))
        assert links.redeem(fresh) is True
        assert links.redeem(fresh) is False
    finally:
        links.close()


def test_a_link_minted_on_the_command_line_works_in_the_running_server(
    settings: Settings, app: Flask
) -> None:
    """`hachi login-link` writes to the catalog; the server, already up, honours it."""
    conn = connect(settings.catalog_path)
    try:
        token = auth.create_login_link(conn, timedelta(minutes=5))
    finally:
        conn.close()
    client = app.test_client()
    assert client.get(f"/api/login/link?token={token}").headers["Location"] == "/"
    assert client.get("/api/session").get_json()["authenticated"] is True


def _set(client: FlaskClient, **body: str) -> object:
    return client.post("/api/password", json=body, headers={"Origin": ORIGIN})


def test_after_a_link_login_the_first_password_can_be_set(settings: Settings, app: Flask) -> None:
    client = app.test_client()
    client.get(mint_login_link(app))
    assert client.get("/api/session").get_json()["password_set"] is False
    short = _set(client, password="short")
    assert short.status_code == 400  # type: ignore[attr-defined]
    response = _set(client, password=PASSWORD)
    assert response.get_json() == {  # type: ignore[attr-defined]
        "authenticated": True,
        "method": "cookie",
        "password_set": True,
    }
    assert client.get("/api/status").status_code == 200, "this browser stays logged in"
    client.post("/api/logout", headers={"Origin": ORIGIN})
    assert client.get("/api/status").status_code == 401
    assert login(client).status_code == 200, "and can come back with the password"


def test_changing_a_set_password_needs_the_current_one(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    login(client)
    assert _set(client, password="another long one").status_code == 401  # type: ignore[attr-defined]
    wrong = _set(client, password="another long one", current_password="nope")
    assert wrong.status_code == 401  # type: ignore[attr-defined]
    right = _set(client, password="another long one", current_password=PASSWORD)
    assert right.status_code == 200  # type: ignore[attr-defined]
    assert login(app.test_client(), "another long one").status_code == 200
    assert login(app.test_client(), PASSWORD).status_code == 401


def test_setting_a_password_needs_a_logged_in_caller(app: Flask) -> None:
    assert _set(app.test_client(), password=PASSWORD).status_code == 401  # type: ignore[attr-defined]


def test_failed_logins_back_off_with_retry_after(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = app.test_client()
    for _ in range(FREE_FAILURES):
        assert login(client, "wrong").status_code == 401
    response = login(client, PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["error"]["code"] == "too_many_requests"
    other = client_from(app, "127.0.0.2")
    assert login(other).status_code == 200  # the throttle is per client address


def test_throttle_doubles_the_wait_and_forgives_on_success() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES):
        throttle.begin("a")
    waits = []
    for _ in range(3):
        with pytest.raises(TooManyAttempts) as caught:
            throttle.begin("a")
        waits.append(caught.value.retry_after)
        clock.now += caught.value.retry_after
        throttle.begin("a")
    assert waits == [1, 2, 4]
    throttle.succeeded("a")
    throttle.begin("a")  # a success resets the count


def test_throttle_counts_parallel_attempts_before_checking() -> None:
    throttle = LoginThrottle(FakeClock())
    for _ in range(FREE_FAILURES):
        throttle.begin("a")
    with pytest.raises(TooManyAttempts):
        throttle.begin("a")  # no result of the earlier ones was reported yet


def test_logout_with_a_bearer_token_leaves_the_token_valid(settings: Settings, app: Flask) -> None:
    headers = {"Authorization": f"Bearer {create_token(settings)}"}
    client = app.test_client()
    assert client.post("/api/logout", headers=headers).get_json()["method"] == "bearer"
    assert client.get("/api/status", headers=headers).status_code == 200


def test_create_app_opens_and_closes_its_own_library(settings: Settings) -> None:
    app = create_app(settings)
    try:
        headers = {"Authorization": f"Bearer {create_token(settings)}"}
        status = app.test_client().get("/api/status", headers=headers)
        assert status.status_code == 200 and status.get_json()["photos"] == 0
    finally:
        close_app(app)


# -- sessions kept server-side ----------------------------------------------------------


def saved_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(SESSION_COOKIE_NAME)
    assert cookie is not None
    return str(cookie.value)


def replay(app: Flask, cookie: str) -> int:
    """A fresh client presenting a copy of a cookie, as a thief or a stale tab would."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE_NAME, cookie, domain="localhost")
    return int(client.get("/api/status").status_code)


def logged_in_client(app: Flask, user_agent: str = "test browser") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    assert login(client).status_code == 200
    return client


def test_a_cookie_saved_before_logout_is_refused_after_it(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = logged_in_client(app)
    cookie = saved_cookie(client)
    assert replay(app, cookie) == 200
    assert client.post("/api/logout", headers={"Origin": ORIGIN}).status_code == 200
    assert replay(app, cookie) == 401


def test_a_cookie_saved_before_a_password_change_is_refused_after_it(
    settings: Settings, app: Flask
) -> None:
    set_password(settings)
    cookie = saved_cookie(logged_in_client(app))
    assert replay(app, cookie) == 200
    set_password(settings, "a new password")  # what `hachi passwd` does
    assert replay(app, cookie) == 401
    assert login(app.test_client(), "a new password").status_code == 200


def test_log_out_everywhere_ends_every_session(settings: Settings, app: Flask) -> None:
    set_password(settings)
    token_headers = {"Authorization": f"Bearer {create_token(settings)}"}
    clients = [logged_in_client(app, f"browser {n}") for n in range(3)]
    cookies = [saved_cookie(c) for c in clients]
    response = clients[0].delete("/api/sessions", headers={"Origin": ORIGIN})
    assert response.status_code == 200 and response.get_json() == {"ended": 3}
    assert [replay(app, c) for c in cookies] == [401, 401, 401]
    assert [c.get("/api/status").status_code for c in clients] == [401, 401, 401]
    assert app.test_client().get("/api/status", headers=token_headers).status_code == 200


def test_ending_one_session_leaves_the_others(settings: Settings, app: Flask) -> None:
    set_password(settings)
    mine, other = logged_in_client(app, "mine"), logged_in_client(app, "other")
    listed = mine.get("/api/sessions").get_json()["sessions"]
    other_id = next(s["id"] for s in listed if s["client"] == "other")
    assert mine.delete(f"/api/sessions/{other_id}", headers={"Origin": ORIGIN}).status_code == 204
    assert other.get("/api/status").status_code == 401
    assert mine.get("/api/status").status_code == 200
    missing = mine.delete(f"/api/sessions/{other_id}", headers={"Origin": ORIGIN})
    assert missing.status_code == 404
    foreign = mine.delete("/api/sessions", headers={"Origin": "http://localhost:9999"})
    assert foreign.status_code == 403


def test_sessions_are_listed_with_their_last_use(settings: Settings, app: Flask) -> None:
    set_password(settings)
    mine = logged_in_client(app, "Firefox on the laptop")
    logged_in_client(app, "Safari on the phone")
    sessions = mine.get("/api/sessions").get_json()["sessions"]
    assert {s["client"] for s in sessions} == {"Firefox on the laptop", "Safari on the phone"}
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1 and current[0]["client"] == "Firefox on the laptop"
    for s in sessions:
        assert s["created_at"] <= s["last_used_at"] < s["expires_at"]
        assert s["address"] == "127.0.0.1"


def test_the_cookie_holds_no_session_state_but_a_secret(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = logged_in_client(app)
    conn = connect(settings.catalog_path)
    try:
        stored = [r[0] for r in conn.execute("SELECT secret_hash FROM sessions")]
    finally:
        conn.close()
    assert len(stored) == 1
    assert stored[0] not in saved_cookie(client)


def test_logging_in_again_replaces_the_old_session(settings: Settings, app: Flask) -> None:
    set_password(settings)
    client = logged_in_client(app)
    first = saved_cookie(client)
    assert login(client).status_code == 200
    assert replay(app, first) == 401
    assert len(client.get("/api/sessions").get_json()["sessions"]) == 1


# -- tokens: expiry, last use, revocation -------------------------------------------------


def expire_token(settings: Settings, token_id: int) -> None:
    conn = connect(settings.catalog_path)
    try:
        conn.execute(
            "UPDATE tokens SET expires_at = ? WHERE id = ?",
            ("2000-01-01T00:00:00.000000Z", token_id),
        )
    finally:
        conn.close()


def test_an_expired_token_is_refused(settings: Settings, app: Flask) -> None:
    token = create_token(settings, "expiring")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get("/api/status", headers=headers).status_code == 200
    expire_token(settings, 1)
    response = client.get("/api/status", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.get_json()["error"]["message"]


def test_tokens_are_listed_with_their_last_use_and_expiry(settings: Settings, app: Flask) -> None:
    used = {"Authorization": f"Bearer {create_token(settings, 'backup')}"}
    create_token(settings, "never used")
    client = app.test_client()
    tokens = client.get("/api/tokens", headers=used).get_json()["tokens"]
    assert [t["name"] for t in tokens] == ["backup", "never used"]
    assert tokens[0]["last_used_at"] is not None and tokens[0]["current"] is True
    assert tokens[1]["last_used_at"] is None and tokens[1]["current"] is False
    assert tokens[0]["expires_at"] is None and tokens[0]["expired"] is False
    expire_token(settings, 2)
    assert client.get("/api/tokens", headers=used).get_json()["tokens"][1]["expired"] is True
    assert all("hash" not in key for key in tokens[0])


def test_a_token_revokes_others_but_not_itself(settings: Settings, app: Flask) -> None:
    mine = {"Authorization": f"Bearer {create_token(settings, 'mine')}"}
    other = {"Authorization": f"Bearer {create_token(settings, 'other')}"}
    client = app.test_client()
    itself = client.delete("/api/tokens/1", headers=mine)
    assert itself.status_code == 409
    assert client.delete("/api/tokens/2", headers=mine).status_code == 204
    assert client.get("/api/status", headers=other).status_code == 401
    assert client.delete("/api/tokens/2", headers=mine).status_code == 404
    assert client.get("/api/status", headers=mine).status_code == 200
