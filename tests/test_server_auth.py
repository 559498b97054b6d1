"""Logging in: password + cookie, bearer tokens, one-time links, throttling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

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
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "unauthorized"


def test_login_link_needs_a_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/login/link").status_code == 400
    assert client.get("/api/login/link?token=made-up").status_code == 401


def test_login_links_expire() -> None:
    clock = FakeClock()
    links = LoginLinks(clock)
    token = links.mint(ttl_s=60)
    clock.now += 61
    assert links.redeem(token) is False
    fresh = links.mint(ttl_s=60)
    assert links.redeem(fresh) is True
    assert links.redeem(fresh) is False


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
