"""Input parsing for the routes: every bad value becomes a 400 that names the culprit.

Routes take ids as plain path segments and parse them here, rather than with Flask's
``<int:...>`` converter, so that ``/api/photos/abc`` says "not an id" (400) instead of
pretending the route does not exist (404).
"""

from __future__ import annotations

from typing import Any

from flask import request

from hachi.errors import BadRequest
from hachi.server.routing import refuse_fixed_path

MAX_ID = 2**63 - 1
MAX_OFFSET = 10_000_000
MAX_TEXT_LENGTH = 4096


def parse_id(raw: str, what: str) -> int:
    """A path id; a segment that names a fixed route (``people/recluster``) is that route's 405."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_ID:
        refuse_fixed_path()
        raise BadRequest(f"{what} id must be a positive integer, got {raw!r}", {"field": what})
    return int(raw)


def query_int(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; absent means ``default`` (an empty
    value is not absent: it is not an integer, as the OpenAPI document says)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 20:
        raise BadRequest(f"{name} must be an integer, got {raw!r}", {"field": name})
    value = int(text)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}", {"field": name})
    return value


def query_text(
    name: str, *, required: bool = False, max_length: int = MAX_TEXT_LENGTH
) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        if required:
            raise BadRequest(f"query parameter {name!r} is required", {"field": name})
        return None
    return _checked_text(name, raw, max_length)


def query_choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw not in choices:
        raise BadRequest(
            f"{name} must be one of {', '.join(choices)}, got {raw!r}", {"field": name}
        )
    return raw


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what was wrong with it."""
    if not request.is_json:
        raise BadRequest("the request body must be JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("the request body is not valid JSON")
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def body_text(body: dict[str, Any], name: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    if name not in body:
        raise BadRequest(f"field {name!r} is required", {"field": name})
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string", {"field": name})
    return _checked_text(name, value, max_length)


def _checked_text(name: str, value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise BadRequest(f"{name} is longer than {max_length} characters", {"field": name})
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL characters", {"field": name})
    return value
