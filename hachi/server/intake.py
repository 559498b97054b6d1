"""What waitress does with a request before the app sees it, made to follow Hachi's rules.

Waitress reads a whole body (to memory, then a temporary file) before it calls the app,
so a limit checked only in the app comes after the bytes are in. Here the body limit of
the request's path (security.body_limit) is applied while the headers are parsed:
a Content-Length over it is refused before one byte of body is read, and a chunked body
as soon as it grows past it. Waitress's own refusals (that 413, malformed requests) then
leave in the same ``{"error": {...}}`` JSON as every other error, not as plain text.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask
from waitress.utilities import RequestEntityTooLarge

from hachi.server.errors import code_for, error_body
from hachi.server.security import body_limit

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
        self.content_length = len(body)
        self.write(body)


def json_error(error: Any, body_limit: int) -> dict[str, Any]:
    """The JSON body for a waitress error (it has a ``code``, a ``reason`` and a ``body``)."""
    code = code_for(error.reason)
    if isinstance(error, RequestEntityTooLarge):
        message = f"request body is over the limit of {body_limit} bytes"
        return error_body(code, message, {"limit": body_limit})
    return error_body(code, str(error.body) or error.reason)


class HachiChannel(HTTPChannel):
    parser_class = BodyLimitParser
    error_task_class = JsonErrorTask
