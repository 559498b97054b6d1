"""Running the app under waitress, on loopback only.

Hachi's server speaks plain HTTP and trusts forwarded headers from loopback, so letting
it listen on the LAN would be unsafe; Caddy is what faces the network, with HTTPS.
The caller owns the Library (its background indexer and its closing): this module only
serves an app that create_app built.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server
from waitress.task import ThreadedTaskDispatcher

from hachi.errors import HachiError
from hachi.server.intake import HachiChannel
from hachi.server.lifecycle import StopSignals
from hachi.server.security import MAX_UPLOAD_LENGTH, is_loopback
from hachi.stopping import Part, StopReport, stop_together

SERVER_THREADS = 8
# The largest body of any route; each request gets its own path's limit (intake.py), and
# waitress refuses a body when it reaches its limit, hence the one byte more.
WAITRESS_BODY_LIMIT = MAX_UPLOAD_LENGTH + 1
CHANNEL_TIMEOUT_S = 120
SHUTDOWN_GRACE_S = 5.0  # how long requests in flight may take to finish at stop (the
# whole stop, every part together, is bounded by hachi.stopping.STOP_DEADLINE_S)


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
        if exc.errno == errno.EADDRINUSE:
            reason += " (another program, or another `hachi serve`, uses it; choose a free one"
            reason += " with --port or HACHI_PORT)"
        raise HachiError(f"cannot listen on {host}:{port}: {reason}", {"port": port}) from exc
    return sock


class Server:
    """A bound waitress server that may be stopped at any moment, any number of times.

    waitress wakes its loop through a pipe (its "trigger"), which its ``close()`` closes:
    pulling it afterwards fails with EBADF, or writes into whatever file reused the
    descriptor. So the trigger is pulled only while the loop runs and has not been asked to
    stop (one lock covers that decision), a stop before ``run()`` closes at once and makes
    ``run()`` return, and the close itself (in the loop thread when it runs) happens once:
    listening socket first, then the worker threads are let finish their requests (they
    pull the trigger when done), then the connections and the trigger.
    """

    def __init__(self, waitress_server: Any) -> None:
        self._server = waitress_server
        self._lock = threading.Lock()
        self._state = "bound"  # -> running -> stopping -> closed
        self._close_lock = threading.Lock()
        self._closed = False
        self._done = threading.Event()  # closed: requests finished (or the grace ran out)

    @property
    def effective_port(self) -> int:
        return int(self._server.effective_port)

    def run(self) -> None:
        """Serve until stopped; returns at once when stopped before it began."""
        with self._lock:
            if self._state != "bound":
                return
            self._state = "running"
        try:
            # worker threads only now: a server that never runs leaves none behind, and
            # until then the process has no threads to trouble a fork (see caddy.py)
            self._server.task_dispatcher.set_thread_count(SERVER_THREADS)
            self._server.run()
        finally:
            with self._lock:
                self._state = "closed"
            self._close()

    def stop(self) -> None:
        """Stop serving (safe from any thread, before, during or after ``run()``)."""
        with self._lock:
            state = self._state
            if state == "running":
                self._state = "stopping"
                self._server.trigger.pull_trigger(self._close)
            elif state == "bound":
                self._state = "closed"
        if state == "bound":
            self._close()

    def request_stop(self) -> None:
        self.stop()

    def wait_stopped(self, timeout: float) -> bool:
        """True once closed: the requests in flight finished, or their grace ran out."""
        return self._done.wait(timeout)

    def _close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            wasyncore.dispatcher.close(self._server)  # no new connections
            self._server.task_dispatcher.shutdown(timeout=SHUTDOWN_GRACE_S)
            wasyncore.close_all(self._server._map)  # connections and the trigger; loop ends
        finally:
            self._done.set()


def make_server(app: Flask, host: str, port: int) -> Server:
    """A bound, not yet running server; ``port=0`` picks a free port.

    Binding here, before the caller announces anything, turns 'port in use' into a clear
    error. ``server.effective_port`` is the port actually bound.
    """
    check_loopback(host)
    waitress = create_server(
        app,
        sockets=[bind_socket(host, port)],
        _dispatcher=ThreadedTaskDispatcher(),  # no threads until run()
        ident="hachi",
        max_request_body_size=WAITRESS_BODY_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT_S,
        clear_untrusted_proxy_headers=False,  # security.TrustedProxy decides instead
    )
    waitress.channel_class = HachiChannel  # body limits per path, refusals in JSON
    return Server(waitress)


def serve(
    server: Server,
    stop_signals: StopSignals | None = None,
    on_ready: Callable[[int], None] | None = None,
    also_stop: Callable[[], Sequence[Part]] | None = None,
) -> StopReport | None:
    """Serve until SIGTERM or SIGINT (``stop_signals``, when the caller watches them).

    The loop runs in a thread of its own and this thread waits for a signal, so a signal
    handler never runs in the middle of the server's own code; ``on_ready(port)`` runs
    before the first request is taken. On the signal the web server and ``also_stop()``
    (Caddy, the library's background work) are stopped together within one deadline
    (hachi.stopping), and the report says how that went. A loop that ends without being
    asked to is an error (so a service manager restarts the server), not a clean stop.
    """
    try:
        if on_ready is not None:
            on_ready(server.effective_port)
        if stop_signals is None:
            server.run()
            return None
        failures: list[BaseException] = []
        thread = threading.Thread(  # a daemon: a request stuck past the deadline holds no exit
            target=_run_then_wake,
            args=(server, stop_signals, failures),
            name="hachi-http",
            daemon=True,
        )
        thread.start()
        stop_signals.wait()
        if stop_signals.received is None:
            thread.join()
            reason = f": {failures[0]!r}" if failures else ""
            raise HachiError(f"the web server stopped by itself{reason}") from (
                failures[0] if failures else None
            )
        others = also_stop() if also_stop is not None else []
        return stop_together([Part.of("web server", server), *others])
    finally:
        server.stop()


def _run_then_wake(
    server: Server, stop_signals: StopSignals, failures: list[BaseException]
) -> None:
    try:
        server.run()
    except BaseException as exc:  # noqa: BLE001 - reported by the waiting thread
        failures.append(exc)
    finally:
        stop_signals.wake()  # the loop ended: let the waiting thread go on
