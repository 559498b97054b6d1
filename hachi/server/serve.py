"""Running the app under waitress, on loopback only.

Hachi's server speaks plain HTTP and trusts forwarded headers from loopback, so letting
it listen on the LAN would be unsafe; Caddy is what faces the network, with HTTPS.
The caller owns the Library (its background indexer and its closing): this module only
serves an app that create_app built.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress.server import create_server

from hachi.config import Settings
from hachi.errors import HachiError
from hachi.server.intake import HachiChannel
from hachi.server.security import MAX_UPLOAD_LENGTH, is_loopback

SERVER_THREADS = 8
# The largest body of any route; each request gets its own path's limit (intake.py), and
# waitress refuses a body when it reaches its limit, hence the one byte more.
WAITRESS_BODY_LIMIT = MAX_UPLOAD_LENGTH + 1
CHANNEL_TIMEOUT_S = 120


def check_loopback(host: str) -> None:
    if not is_loopback(host):
        raise HachiError(
            f"refusing to listen on {host!r}: Hachi's server binds loopback only "
            "(127.0.0.1, ::1, localhost); Caddy is what faces the LAN, with HTTPS",
            {"host": host},
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket, or a HachiError; binding ourselves leaves nothing half-built."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise HachiError(f"cannot listen on {host}:{port}: {exc}", {"port": port}) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise HachiError(f"cannot listen on {host}:{port}: {reason}", {"port": port}) from exc
    return sock


def make_server(app: Flask, host: str, port: int) -> Any:
    """A bound, not yet running waitress server; ``port=0`` picks a free port.

    Binding here, before the caller announces anything, turns 'port in use' into a clear
    error. ``server.effective_port`` is the port actually bound.
    """
    check_loopback(host)
    server = create_server(
        app,
        sockets=[bind_socket(host, port)],
        threads=SERVER_THREADS,
        ident="hachi",
        max_request_body_size=WAITRESS_BODY_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT_S,
        clear_untrusted_proxy_headers=False,  # security.TrustedProxy decides instead
    )
    server.channel_class = HachiChannel  # body limits per path, refusals in JSON
    return server


def serve(settings: Settings, app: Flask, on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until interrupted; ``on_ready(port)`` runs once the port is bound."""
    server = make_server(app, settings.host, settings.port)
    try:
        if on_ready is not None:
            on_ready(server.effective_port)
        server.run()
    finally:
        server.close()


def stop_server(server: Any) -> None:
    """Stop a server whose ``run()`` is looping in another thread.

    The close is handed to the loop thread itself, so its ``select`` never meets a socket
    that another thread closed under it.
    """
    server.trigger.pull_trigger(server.close)
