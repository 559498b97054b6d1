"""The real waitress server on a free port, spoken to over HTTP with urllib."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hachi.config import Settings
from hachi.errors import HachiError
from hachi.server.auth import mint_login_link
from hachi.server.security import MAX_CONTENT_LENGTH
from hachi.server.serve import check_loopback, make_server, serve
from tests.ports import port_is_free
from tests.server_fixtures import PASSWORD, make_settings, running_app, set_password


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "home", port=0)
    settings.ensure_dirs()
    set_password(settings)
    return settings


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[Flask, str]]:
    with running_app(settings) as (app, _library):
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            yield app, f"http://127.0.0.1:{server.effective_port}"
        finally:
            server.stop()
            thread.join(15)  # SHUTDOWN_GRACE_S for requests in flight, and a loaded machine
        assert not thread.is_alive()


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, data: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """One request, read to the end and closed, so the server has nothing left in flight."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        response = urllib.request.build_opener(NoRedirect).open(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return Reply(response.status, response.headers, response.read())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.2", "photos.lan", ""])
def test_only_loopback_may_be_bound(host: str) -> None:
    with pytest.raises(HachiError, match="Caddy"):
        check_loopback(host)


def test_serve_refuses_a_lan_address(settings: Settings) -> None:
    with running_app(settings) as (app, _library), pytest.raises(HachiError, match="loopback"):
        make_server(app, "0.0.0.0", 0)


def test_serve_reports_the_bound_port_and_frees_it(settings: Settings) -> None:
    ports: list[int] = []

    class Stop(Exception):
        pass

    def on_ready(port: object) -> None:
        ports.append(int(port))  # type: ignore[call-overload]
        raise Stop

    with running_app(settings) as (app, _library), pytest.raises(Stop):
        serve(make_server(app, "127.0.0.1", 0), on_ready=on_ready)
    assert ports and ports[0] > 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", ports[0]))  # closed again on the way out


def test_a_port_in_use_is_a_clear_error(settings: Settings) -> None:
    with socket.socket() as taken, running_app(settings) as (app, _library):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HachiError, match=f"cannot listen on 127.0.0.1:{port}"):
            make_server(app, "127.0.0.1", port)


def test_health_and_headers_over_http(live: tuple[Flask, str]) -> None:
    _app, base = live
    response = fetch(base + "/api/health")
    assert response.status == 200
    assert response.json() == {"ok": True}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Server"] == "hachi"


def test_password_login_over_http(live: tuple[Flask, str]) -> None:
    _app, base = live
    assert fetch(base + "/api/status").status == 401
    login = fetch(base + "/api/login", {"password": PASSWORD}, {"Origin": base})
    assert login.status == 200
    cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    status = fetch(base + "/api/status", headers={"Cookie": cookie})
    assert status.status == 200
    assert status.json()["photos"] == 0


def test_login_link_over_http(live: tuple[Flask, str]) -> None:
    app, base = live
    response = fetch(base + mint_login_link(app))
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"].split(";", 1)[0]
    assert fetch(base + "/api/session", headers={"Cookie": cookie}).status == 200


def test_dns_rebinding_host_is_refused_over_http(live: tuple[Flask, str]) -> None:
    _app, base = live
    response = fetch(base + "/api/health", headers={"Host": "rebind.attacker.example"})
    assert response.status == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_an_oversized_body_is_json_413_over_http(live: tuple[Flask, str]) -> None:
    _app, base = live
    big = {"password": "x" * (MAX_CONTENT_LENGTH + 1)}
    response = fetch(base + "/api/login", big, {"Origin": base})
    assert response.status == 413
    assert response.json()["error"]["code"] == "request_entity_too_large"


def test_a_server_stopped_before_it_runs_never_serves(settings: Settings) -> None:
    with running_app(settings) as (app, _library):
        server = make_server(app, "127.0.0.1", 0)
        server.stop()
        server.stop()
        thread = threading.Thread(target=server.run)
        thread.start()
        thread.join(5)
        assert not thread.is_alive(), "run() after stop() returns at once"
        assert port_is_free(server.effective_port)


def test_stop_is_idempotent_and_safe_from_many_threads(settings: Settings) -> None:
    """The root of a teardown that once died in waitress's trigger with EBADF: a stop
    after the loop had closed the trigger pipe. Every stop after the first does nothing."""
    with running_app(settings) as (app, _library):
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        assert fetch(base + "/api/health").status == 200
        stoppers = [threading.Thread(target=server.stop) for _ in range(8)]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(5)
        thread.join(10)
        assert not thread.is_alive()
        server.stop()  # after run() returned, too
        assert port_is_free(server.effective_port)


def test_stop_right_after_start_and_after_requests(settings: Settings) -> None:
    with running_app(settings) as (app, _library):
        for requests in (0, 1, 5):
            server = make_server(app, "127.0.0.1", 0)
            thread = threading.Thread(target=server.run)
            thread.start()
            for _ in range(requests):
                assert fetch(f"http://127.0.0.1:{server.effective_port}/api/health").status == 200
            server.stop()
            thread.join(10)
            assert not thread.is_alive()
            server.stop()


def test_serve_stops_on_sigterm_and_fails_when_its_loop_ends_by_itself(
    settings: Settings,
) -> None:
    from hachi.server.lifecycle import StopSignals

    with running_app(settings) as (app, _library):
        with StopSignals() as stop_signals:
            server = make_server(app, "127.0.0.1", 0)
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
            serve(server, stop_signals)  # returns: asked to stop
            assert stop_signals.received == signal.SIGTERM
        assert port_is_free(server.effective_port)

        with StopSignals() as stop_signals:
            server = make_server(app, "127.0.0.1", 0)
            threading.Timer(0.3, server.stop).start()  # as if the loop had died
            with pytest.raises(HachiError, match="stopped by itself"):
                serve(server, stop_signals)
