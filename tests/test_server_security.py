"""Host and Origin checks, forwarded headers from the proxy, security headers, body limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hachi.config import Settings
from hachi.server.auth import SESSION_COOKIE_NAME
from hachi.server.security import (
    MAX_CONTENT_LENGTH,
    PROXY_HEADER,
    host_is_allowed,
    hostname_of,
    is_loopback,
    origin_of,
)
from hachi.server.throttle import FREE_FAILURES
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

PROXY_SECRET = "the secret hachi gave its caddy"
VIA_CADDY = {"Host": "localhost:8443", "X-Forwarded-Proto": "https"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path / "home", allowed_hosts=("photos.lan", ".example.org"), proxy_secret=PROXY_SECRET
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    set_password(settings)
    with running_app(settings) as (app, _library):
        yield app


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8686", "localhost"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8686", "::1"),
        ("::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("photos.lan:443", "photos.lan"),
    ],
)
def test_hostname_of_strips_ports_and_brackets(header: str, name: str) -> None:
    assert hostname_of(header) == name


def test_host_is_allowed_knows_loopback_and_configured_names() -> None:
    extra = ("photos.lan", ".example.org")
    for ok in ("localhost", "127.0.0.1", "::1", "photos.lan", "example.org", "a.example.org"):
        assert host_is_allowed(ok, extra), ok
    for bad in ("", "evil.com", "photos.lan.evil.com", "badexample.org", "127.0.0.2.nip.io"):
        assert not host_is_allowed(bad, extra), bad


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]")
    assert is_loopback("localhost") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    assert not is_loopback("") and not is_loopback(None) and not is_loopback("photos.lan")


@pytest.mark.parametrize(
    "host", ["evil.com", "evil.com:8686", "192.168.1.20", "localhost.evil.com"]
)
def test_unknown_host_is_refused_even_for_health(app: Flask, host: str) -> None:
    response = app.test_client().get("/api/health", headers={"Host": host})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden" and "HACHI_ALLOWED_HOSTS" in error["message"]


@pytest.mark.parametrize("host", ["localhost:8686", "127.0.0.1:1", "[::1]:8686", "photos.lan"])
def test_known_hosts_are_served(app: Flask, host: str) -> None:
    response = app.test_client().get("/api/health", headers={"Host": host})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}


def test_cookie_post_needs_an_allowed_origin(app: Flask) -> None:
    client = app.test_client()
    assert login(client).status_code == 200
    bare = client.post("/api/folders", json={"path": "/nonexistent"})
    assert bare.status_code == 403
    foreign = client.post(
        "/api/folders", json={"path": "/nonexistent"}, headers={"Origin": "http://evil.com"}
    )
    assert foreign.status_code == 403
    assert foreign.get_json()["error"]["detail"] == {"origin": "http://evil.com"}
    null_origin = client.post("/api/logout", headers={"Origin": "null"})
    assert null_origin.status_code == 403
    by_referer = client.post(
        "/api/folders", json={"path": "/nonexistent"}, headers={"Referer": ORIGIN + "/folders"}
    )
    assert by_referer.status_code == 400  # passed the check; the path is then refused


@pytest.mark.parametrize(
    ("origin", "headers"),
    [
        (ORIGIN, {}),
        ("http://127.0.0.1:8686", {}),
        ("http://[::1]:8686", {}),
        ("HTTP://LOCALHOST:8686", {}),
        ("https://localhost:8443", VIA_CADDY),
        ("https://photos.lan", {"Host": "photos.lan", "X-Forwarded-Proto": "https"}),
        (
            "https://a.example.org:8443",
            {"Host": "a.example.org:8443", "X-Forwarded-Proto": "https"},
        ),
    ],
)
def test_origins_hachi_serves_may_change_state(
    app: Flask, origin: str, headers: dict[str, str]
) -> None:
    client = app.test_client()
    logged_in = client.post(
        "/api/login", json={"password": PASSWORD}, headers={**headers, "Origin": origin}
    )
    assert logged_in.status_code == 200, logged_in.get_json()
    response = client.post(
        "/api/folders", json={"path": "/nonexistent"}, headers={**headers, "Origin": origin}
    )
    assert response.status_code == 400, response.get_json()  # past the check, then refused


@pytest.mark.parametrize(
    ("origin", "headers"),
    [
        ("http://localhost:9999", {}),  # another server on this machine
        ("http://127.0.0.1:9999", {}),
        ("http://[::1]:3000", {}),
        ("https://localhost:8686", {}),  # our port, another scheme
        ("http://localhost", {"Host": "localhost:8686"}),
        ("https://localhost:9999", VIA_CADDY),
        ("http://localhost:8443", VIA_CADDY),
        ("https://photos.lan:9999", {"Host": "photos.lan", "X-Forwarded-Proto": "https"}),
        ("http://localhost:9999/", {"Referer": "x"}),
        ("file:///etc/passwd", {}),
        ("http://localhost:notaport", {}),
    ],
)
def test_other_origins_on_this_machine_are_refused(
    app: Flask, origin: str, headers: dict[str, str]
) -> None:
    client = app.test_client()
    login(client)
    response = client.post(
        "/api/folders", json={"path": "/nonexistent"}, headers={**headers, "Origin": origin}
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["detail"] == {"origin": origin}


def test_referer_from_another_local_port_is_refused(app: Flask) -> None:
    client = app.test_client()
    login(client)
    response = client.post("/api/logout", headers={"Referer": "http://localhost:9999/page"})
    assert response.status_code == 403


def test_origin_of() -> None:
    assert origin_of("http://localhost:8686") == ("http", "localhost", 8686)
    assert origin_of("https://Photos.LAN/path?q") == ("https", "photos.lan", 443)
    assert origin_of("http://[::1]") == ("http", "::1", 80)
    for bad in ("null", "", "file:///x", "http://", "http://h:99999", "javascript:alert(1)"):
        assert origin_of(bad) is None, bad


def test_login_from_a_foreign_origin_is_refused(app: Flask) -> None:
    client = app.test_client()
    response = client.post(
        "/api/login", json={"password": "x"}, headers={"Origin": "https://evil.com"}
    )
    assert response.status_code == 403


def test_get_with_cookie_needs_no_origin(app: Flask) -> None:
    client = app.test_client()
    login(client)
    assert client.get("/api/folders").status_code == 200


def test_bearer_post_needs_no_origin(settings: Settings, app: Flask) -> None:
    token = create_token(settings)
    response = app.test_client().post(
        "/api/folders", json={"path": "/nonexistent"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400


def test_json_answers_carry_security_headers(app: Flask) -> None:
    client = app.test_client()
    for response in (client.get("/api/health"), client.get("/api/status")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "Access-Control-Allow-Origin" not in response.headers


def test_oversized_body_is_413_json(app: Flask) -> None:
    client = app.test_client()
    login(client)
    body = b'{"path": "' + b"a" * MAX_CONTENT_LENGTH + b'"}'
    response = client.post(
        "/api/folders",
        data=body,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_forwarded_https_from_loopback_makes_the_cookie_secure(app: Flask) -> None:
    client = app.test_client()
    response = client.post(
        "/api/login",
        json={"password": "correct horse battery staple"},
        headers={"Origin": "https://localhost", "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 200
    cookie = [c for c in response.headers.getlist("Set-Cookie") if SESSION_COOKIE_NAME in c][0]
    assert "Secure" in cookie


def test_forwarded_headers_from_elsewhere_are_ignored(app: Flask) -> None:
    client = client_from(app, "192.168.1.50")
    response = client.post(
        "/api/login",
        json={"password": "correct horse battery staple"},
        headers={"Origin": ORIGIN, "X-Forwarded-Proto": "https"},
    )
    cookie = [c for c in response.headers.getlist("Set-Cookie") if SESSION_COOKIE_NAME in c][0]
    assert "Secure" not in cookie


def _failed_login(client: FlaskClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/api/login", json={"password": "wrong"}, headers={"Origin": ORIGIN, **headers}
    )
    return int(response.status_code)


def test_forwarded_for_from_the_proxy_names_the_client(app: Flask) -> None:
    """Behind Caddy every peer is 127.0.0.1; throttling must see the real client instead."""
    client = app.test_client()
    via = {PROXY_HEADER: PROXY_SECRET}
    for _ in range(4):
        _failed_login(client, {**via, "X-Forwarded-For": "192.168.1.66"})
    assert login(client).status_code == 200  # 127.0.0.1 itself was never throttled
    throttled = _failed_login(client, {**via, "X-Forwarded-For": "10.0.0.1, 192.168.1.66"})
    assert throttled == 429


@pytest.mark.parametrize("proof", [None, "", "a wrong secret", PROXY_SECRET + "x"])
def test_forwarded_for_sent_directly_cannot_dodge_the_backoff(
    app: Flask, proof: str | None
) -> None:
    """A local script inventing a new client address for each guess is still one client."""
    client = app.test_client()
    extra = {} if proof is None else {PROXY_HEADER: proof}
    codes = [
        _failed_login(client, {**extra, "X-Forwarded-For": f"10.0.0.{n}"})
        for n in range(FREE_FAILURES + 2)
    ]
    assert codes[:FREE_FAILURES] == [401] * FREE_FAILURES
    assert codes[FREE_FAILURES:] == [429, 429]


def test_the_proxy_secret_is_believed_from_loopback_only(app: Flask) -> None:
    client = client_from(app, "192.168.1.50")
    via = {PROXY_HEADER: PROXY_SECRET}
    codes = [
        _failed_login(client, {**via, "X-Forwarded-For": f"10.0.0.{n}"})
        for n in range(FREE_FAILURES + 1)
    ]
    assert codes[-1] == 429


def test_without_a_configured_secret_forwarded_for_is_never_believed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    set_password(settings)
    with running_app(settings) as (app, _library):
        client = app.test_client()
        via = {PROXY_HEADER: ""}
        codes = [
            _failed_login(client, {**via, "X-Forwarded-For": f"10.0.0.{n}"})
            for n in range(FREE_FAILURES + 1)
        ]
    assert codes[-1] == 429


def test_the_proxy_secret_is_not_in_the_settings_repr(settings: Settings) -> None:
    assert PROXY_SECRET not in repr(settings)
