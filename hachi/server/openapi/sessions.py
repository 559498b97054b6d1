"""OpenAPI paths for signed-in devices (sessions) and API tokens."""

from __future__ import annotations

from hachi.server.openapi.parts import (
    BOOL,
    INT,
    STR,
    Schema,
    json_content,
    nullable,
    obj,
    operation,
    path_id,
)

SESSION_INFO = obj(
    ("id", "created_at", "last_used_at", "expires_at", "client", "address", "current"),
    id=INT,
    created_at=STR,
    last_used_at={**STR, "description": "Written at most once a minute."},
    expires_at={**STR, "description": "30 days after the last use."},
    client={**STR, "description": "The browser's User-Agent at login."},
    address={**STR, "description": "The client address at login."},
    current={**BOOL, "description": "This is the session of the caller."},
)
TOKEN_INFO = obj(
    ("id", "name", "created_at", "last_used_at", "expires_at", "expired", "current"),
    id=INT,
    name=STR,
    created_at=STR,
    last_used_at=nullable("string"),
    expires_at=nullable("string"),
    expired=BOOL,
    current={**BOOL, "description": "This is the token of the caller."},
)


def session_paths() -> dict[str, Schema]:
    listing = obj(("sessions",), sessions={"type": "array", "items": SESSION_INFO})
    ended = obj(("ended",), ended={**INT, "minimum": 0})
    tokens = obj(("tokens",), tokens={"type": "array", "items": TOKEN_INFO})
    return {
        "/api/sessions": {
            "get": operation(
                "listSessions",
                "Signed-in browsers, most recently used first.",
                "auth",
                {"200": json_content(listing, "Live sessions.")},
            ),
            "delete": operation(
                "endAllSessions",
                "Log out everywhere, this browser included; tokens stay valid.",
                "auth",
                {"200": json_content(ended, "How many sessions ended.")},
            ),
        },
        "/api/sessions/{session_id}": {
            "delete": operation(
                "endSession",
                "Log one browser out.",
                "auth",
                {"204": {"description": "Ended."}},
                params=(path_id("session_id"),),
                errors=(400, 404),
            )
        },
        "/api/tokens": {
            "get": operation(
                "listTokens",
                "API tokens with their last use and expiry (the secrets are never shown).",
                "auth",
                {"200": json_content(tokens, "Every token, expired ones included.")},
            )
        },
        "/api/tokens/{token_id}": {
            "delete": operation(
                "revokeToken",
                "Revoke a token; a token cannot revoke itself (409).",
                "auth",
                {"204": {"description": "Revoked."}},
                params=(path_id("token_id"),),
                errors=(400, 404, 409),
            )
        },
    }
