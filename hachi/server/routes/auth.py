"""Logging in and out: password, one-time link, and the 'who am I' probe."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests

from hachi.catalog.auth import MIN_PASSWORD_LENGTH
from hachi.errors import BadRequest
from hachi.server.auth import PASSWD_HINT, end_session, public, start_session, unauthorized
from hachi.server.context import services
from hachi.server.params import body_text, json_object, query_text
from hachi.server.throttle import TooManyAttempts

MAX_PASSWORD_LENGTH = 1024
MAX_LINK_TOKEN_LENGTH = 200
SPENT_LINK_PAGE = "/login?link=spent"  # the UI explains, and says how to get a new link

bp = Blueprint("auth", __name__)


def _session_state(method: str | None) -> dict[str, Any]:
    return {
        "authenticated": method is not None,
        "method": method,
        "password_set": services().credentials.has_password(),
    }


@bp.post("/login")
@public
def login() -> ResponseReturnValue:
    password = body_text(json_object(), "password", MAX_PASSWORD_LENGTH)
    state = services()
    client = request.remote_addr or "unknown"
    try:
        state.throttle.begin(client)
    except TooManyAttempts as exc:
        raise TooManyRequests(str(exc), retry_after=exc.retry_after) from exc
    if not state.credentials.has_password():
        state.throttle.refund(client)
        raise unauthorized(PASSWD_HINT)
    if not state.credentials.check_password(password):
        raise unauthorized("wrong password")
    state.throttle.succeeded(client)
    start_session()
    return jsonify(_session_state("cookie"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this browser's session on the server too; a bearer token stays valid."""
    end_session()
    return jsonify(_session_state("bearer" if g.auth == "bearer" else None))


@bp.get("/session")
def current_session() -> ResponseReturnValue:
    return jsonify(_session_state(g.auth))


@bp.get("/login/link")
@public
def login_link() -> ResponseReturnValue:
    token = query_text("token", required=True, max_length=MAX_LINK_TOKEN_LENGTH) or ""
    if not services().links.redeem(token):
        # A person opened this in a browser: a page that says what to do, not raw JSON.
        return redirect(SPENT_LINK_PAGE, code=303)
    start_session()
    return redirect("/", code=303)


@bp.post("/password")
def set_password() -> ResponseReturnValue:
    """Set the password: the first one by any logged-in caller (after a login link), a new
    one only with the current one. The caller's browser stays logged in; others are not."""
    body = json_object()
    password = body_text(body, "password", MAX_PASSWORD_LENGTH)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            {"field": "password"},
        )
    state = services()
    if state.credentials.has_password():
        current = (
            body_text(body, "current_password", MAX_PASSWORD_LENGTH)
            if ("current_password" in body)
            else ""
        )
        client = request.remote_addr or "unknown"
        try:
            state.throttle.begin(client)
        except TooManyAttempts as exc:
            raise TooManyRequests(str(exc), retry_after=exc.retry_after) from exc
        if not state.credentials.check_password(current):
            raise unauthorized("the current password is wrong (a password is already set)")
        state.throttle.succeeded(client)
    state.credentials.set_password(password)  # ends every browser session ...
    if g.auth == "cookie":
        start_session()  # ... but this one, which just proved itself
    return jsonify(_session_state(g.auth))
