"""Real Caddy in front of real Hachi: the proxy secret travels, and only from Caddy.

The Caddyfile must hand Hachi the secret with every proxied request and overwrite any
X-Hachi-Proxy or X-Forwarded-For a client sends; Hachi must believe X-Forwarded-For only
then. A client on 127.0.0.2 tells the two apart: behind Caddy it is seen as 127.0.0.2.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
from collections.abc import Iterator
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import pytest

from hachi.server.security import PROXY_HEADER
from hachi.server.throttle import FREE_FAILURES
from tests.browser.stack import Stack, running_stack

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"
CLIENT_ADDRESS = "127.0.0.2"
SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed")
    home = tmp_path_factory.mktemp("caddy") / "home"
    settings = {"HACHI_PROXY_SECRET": SECRET, "HACHI_OCR": "0", "HACHI_FACE_BACKEND": "none"}
    with running_stack(home, PASSWORD, None, settings) as running:
        yield running


def request(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    source: str = CLIENT_ADDRESS,
) -> tuple[int, Message, Any]:
    """One request from ``source``; returns status, headers and the decoded JSON."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(
        url.hostname or "", url.port, timeout=10, source_address=(source, 0)
    )
    try:
        payload = None if body is None else json.dumps(body)
        sent = {"Origin": base_url, "Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        data = response.read()
        # the message, not a dict: login sets two cookies, the session's first
        return response.status, response.headers, json.loads(data) if data else None
    finally:
        conn.close()


def cookie_of(headers: Message) -> str:
    return headers["Set-Cookie"].split(";", 1)[0]


def test_behind_caddy_the_client_address_is_the_real_one(stack: Stack) -> None:
    forged = {PROXY_HEADER: "forged", "X-Forwarded-For": "10.9.9.9"}
    status, headers, _ = request(stack.ui_url, "POST", "/api/login", {"password": PASSWORD}, forged)
    assert status == 200
    status, _, body = request(
        stack.ui_url, "GET", "/api/sessions", headers={"Cookie": cookie_of(headers)}
    )
    assert status == 200
    assert [s["address"] for s in body["sessions"]] == [CLIENT_ADDRESS]


def test_direct_requests_with_a_forged_secret_still_meet_the_backoff(stack: Stack) -> None:
    codes = [
        request(
            stack.api_url,
            "POST",
            "/api/login",
            {"password": "wrong"},
            {PROXY_HEADER: "forged", "X-Forwarded-For": f"10.0.0.{n}"},
        )[0]
        for n in range(FREE_FAILURES + 1)
    ]
    assert codes == [401] * FREE_FAILURES + [429]


def test_through_caddy_an_invented_forwarded_for_is_overwritten(stack: Stack) -> None:
    codes = [
        request(
            stack.ui_url,
            "POST",
            "/api/login",
            {"password": "wrong"},
            {"X-Forwarded-For": f"10.1.0.{n}"},
            source="127.0.0.3",  # a client the other tests have not throttled
        )[0]
        for n in range(FREE_FAILURES + 1)
    ]
    assert codes == [401] * FREE_FAILURES + [429]
