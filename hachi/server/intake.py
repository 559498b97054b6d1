"""What waitress does with a request before the app sees it, made to follow Hachi's rules.

Waitress reads a whole body (to memory, then a temporary file) before it calls the app,
so a limit checked only in the app comes after the bytes are in. Here the body limit of
the request's path (security.body_limit) is applied while the headers are parsed:
a Content-Length over it is refused before one byte of body is read, and a chunked body
as soon as it grows past it. Waitress's own refusals (that 413, malformed requests) then
leave in the same ``{"error": {...}}`` JSON as every other error, not as plain text.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import RequestEntityTooLarge

from hachi.server.errors import code_for, error_body
from hachi.server.security import body_limit

LINGER_S = 10.0
LINGER_READ_BYTES = 256 * 1024
JSON_ERROR_HEADERS = (
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
)


class BodyLimitParser(HTTPRequestParser):
    """Waitress's parser, with the body limit of the request's own path.

    Waitress refuses a body when it reaches ``max_request_body_size``; the limit is
    the path's limit plus one, so a body of exactly the limit is still accepted.
    """

    adj: Adjustments
    path: str
    error: Any
    expect_continue: bool

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.error is not None:
            self.expect_continue = False  # no "100 Continue" for a body already refused
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        limit = body_limit(self.path) + 1
        if limit < self.adj.max_request_body_size:
            self.adj = copy.copy(self.adj)  # this request's own; the server's stays as it is
            self.adj.max_request_body_size = limit


class JsonErrorTask(ErrorTask):
    """A refusal by waitress itself, written as Hachi's JSON error."""

    def execute(self) -> None:
        error = self.request.error
        limit = self.request.adj.max_request_body_size - 1
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(JSON_ERROR_HEADERS)
        body = json.dumps(json_error(error, limit)).encode()
        self.set_close_on_finish()
        self.channel.linger_on_close = True  # the body may still be on its way
        self.content_length = len(body)
        self.write(body)


def json_error(error: Any, body_limit: int) -> dict[str, Any]:
    """The JSON body for a waitress error (it has a ``code``, a ``reason`` and a ``body``)."""
    code = code_for(error.reason)
    if isinstance(error, RequestEntityTooLarge):
        message = f"request body is over the limit of {body_limit} bytes"
        return error_body(code, message, {"limit": body_limit})
    return error_body(code, str(error.body) or error.reason)


class KeepAliveTask(WSGITask):
    """Waitress's task, keeping the connection open after a 304 (or 204).

    Waitress closes any HTTP/1.1 response that has no Content-Length, bodiless ones
    included, so every revalidated thumbnail cost a new connection. A response that may
    have no body needs no length to end: only the client's own ``Connection: close``
    (or an error) closes it.
    """

    _bodiless_header = False

    def build_response_header(self) -> bytes:
        self._bodiless_header = not self.has_body and self.version == "1.1"
        try:
            return bytes(super().build_response_header())
        finally:
            self._bodiless_header = False

    def set_close_on_finish(self) -> None:
        asked = self.request.headers.get("CONNECTION", "").lower() == "close"
        if self._bodiless_header and not asked:
            return
        super().set_close_on_finish()


class HachiChannel(HTTPChannel):
    """Waitress's channel with Hachi's parser and errors, and a lingering close.

    After refusing a body, closing at once would leave the client's unsent bytes to be
    answered with a TCP reset, which can destroy the answer before it is read (Caddy then
    reports a 502). So the channel first ends its own side, then reads and drops what the
    client still sends for at most LINGER_S seconds, as nginx does, and only then closes.
    """

    parser_class = BodyLimitParser
    task_class = KeepAliveTask
    error_task_class = JsonErrorTask
    linger_on_close = False
    lingering_until: float | None = None

    def readable(self) -> bool:
        return self.lingering_until is not None or bool(super().readable())

    def writable(self) -> bool:
        if self.lingering_until is not None:
            return self.will_close or time.monotonic() > self.lingering_until
        return bool(super().writable())

    def handle_write(self) -> None:
        if self.lingering_until is not None:
            super().handle_close()  # the time is up, or the server closes idle channels
            return
        super().handle_write()

    def handle_read(self) -> None:
        if self.lingering_until is None:
            super().handle_read()
            return
        try:
            drained = self.recv(LINGER_READ_BYTES)  # recv closes on end of stream
        except OSError:
            drained = b""
        if drained and time.monotonic() > self.lingering_until:
            super().handle_close()

    def handle_close(self) -> None:
        if self.linger_on_close and self.lingering_until is None and self.connected:
            self.lingering_until = time.monotonic() + LINGER_S
            self.will_close = False
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_WR)
            return
        super().handle_close()
