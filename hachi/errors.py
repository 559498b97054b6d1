"""Typed errors shared by every stage.

Library code raises these instead of printing or exiting; the server maps them to HTTP
statuses in one place and the CLI maps them to exit codes, so the same failure reads the
same way everywhere.
"""

from __future__ import annotations

from typing import Any


class HachiError(Exception):
    """Base of every error Hachi raises on purpose; carries a stable code for clients."""

    status = 500
    code = "internal"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class BadRequest(HachiError):
    status = 400
    code = "bad_request"


class QuerySyntaxError(BadRequest):
    """A malformed search query; ``detail`` holds the offending token and its position."""

    code = "bad_query"

    def __init__(self, message: str, token: str, start: int, end: int) -> None:
        super().__init__(message, {"token": token, "start": start, "end": end})
        self.token = token
        self.start = start
        self.end = end


class Unauthorized(HachiError):
    status = 401
    code = "unauthorized"


class Forbidden(HachiError):
    status = 403
    code = "forbidden"


class NotFound(HachiError):
    status = 404
    code = "not_found"


class Conflict(HachiError):
    status = 409
    code = "conflict"


class UnreadableFile(HachiError):
    """A file that cannot be turned into a photo; the reason is recorded, the job goes on."""

    status = 422
    code = "unreadable_file"


class NotAPhoto(UnreadableFile):
    """A file that is not an image at all (audio, document, ...): passed over quietly."""

    code = "not_a_photo"


class CatalogTooNew(HachiError):
    """The catalog was written by a newer Hachi; refusing to touch it protects the user's data."""

    code = "catalog_too_new"


class ModelUnavailable(HachiError):
    """A model is not installed; ``detail`` says which and the command that installs it."""

    status = 503
    code = "model_unavailable"
