"""The one error handler: every failure leaves the API as ``{"error": {...}}``.

Clients (the UI, scripts) then need one code path for errors, whether the failure was
ours (a HachiError with its status), the HTTP layer's (unknown route, wrong method, body
too large) or a bug (a 500 that says nothing about internals and is logged in full).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from hachi.errors import HachiError

INTERNAL_MESSAGE = "internal server error; the details are in the server log"
# Headers of an HTTPException worth keeping on the JSON answer (405's Allow, 429's
# Retry-After, 416's Content-Range: the size of the file a range missed).
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Content-Range")


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


def code_for(name: str) -> str:
    """The ``code`` of a status name: 'Request Entity Too Large' is request_entity_too_large."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "error"


def _code_for(exc: HTTPException) -> str:
    return code_for(exc.name or "error")


def _http_response(exc: HTTPException) -> Response:
    response = jsonify(error_body(_code_for(exc), exc.description or exc.name or "error"))
    response.status_code = exc.code or 500
    for name, value in exc.get_headers():
        if name in KEPT_HEADERS:
            response.headers[name] = value
    return response


def render_error(exc: Exception) -> Response:
    if isinstance(exc, HachiError):
        response = jsonify({"error": exc.to_dict()})
        response.status_code = exc.status
        return response
    if isinstance(exc, HTTPException):
        return _http_response(exc)
    current_app.logger.exception("unhandled error", exc_info=exc)
    response = jsonify(error_body("internal", INTERNAL_MESSAGE))
    response.status_code = 500
    return response


def install(app: Flask) -> None:
    """Register the handler for every exception; Flask picks it for HTTP errors as well."""
    app.register_error_handler(Exception, render_error)
