"""Signed-in devices and API tokens: list them with their last use, and revoke them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, g, jsonify, session
from flask.typing import ResponseReturnValue

from hachi.catalog.auth import TokenInfo
from hachi.catalog.clock import utc_now
from hachi.errors import Conflict, NotFound
from hachi.server.context import services
from hachi.server.params import parse_id

bp = Blueprint("sessions", __name__)


def _is_caller(kind: str, credential_id: int) -> bool:
    return bool(g.auth == kind and g.credential_id == credential_id)


@bp.get("/sessions")
def list_sessions() -> ResponseReturnValue:
    found = services().credentials.list_sessions()
    items = [{**asdict(s), "current": _is_caller("cookie", s.id)} for s in found]
    return jsonify({"sessions": items})


@bp.delete("/sessions")
def end_all_sessions() -> ResponseReturnValue:
    """Log out everywhere, this browser included; bearer tokens are not sessions."""
    ended = services().credentials.end_all_sessions()
    session.clear()
    return jsonify({"ended": ended})


@bp.delete("/sessions/<session_id>")
def end_session(session_id: str) -> ResponseReturnValue:
    sid = parse_id(session_id, "session")
    if not services().credentials.end_session(sid):
        raise NotFound(f"no session with id {sid}", {"session_id": sid})
    if _is_caller("cookie", sid):
        session.clear()
    return "", 204


def _token_dict(token: TokenInfo, now: str) -> dict[str, Any]:
    expired = token.expires_at is not None and token.expires_at <= now
    return {**asdict(token), "expired": expired, "current": _is_caller("bearer", token.id)}


@bp.get("/tokens")
def list_tokens() -> ResponseReturnValue:
    now = utc_now()
    return jsonify({"tokens": [_token_dict(t, now) for t in services().credentials.list_tokens()]})


@bp.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> ResponseReturnValue:
    tid = parse_id(token_id, "token")
    if _is_caller("bearer", tid):
        raise Conflict(
            "a token cannot revoke itself; use another token, the web UI or "
            f"`hachi token --revoke {tid}`",
            {"token_id": tid},
        )
    if not services().credentials.revoke_token(tid):
        raise NotFound(f"no token with id {tid}", {"token_id": tid})
    return "", 204
