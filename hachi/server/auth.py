"""Who may call the API: a session cookie (browsers) or a bearer token (scripts).

The cookie is Flask's signed session holding one random secret; the session it opens
lives in the catalog, so logging out, "log out everywhere" and a new password end it on
the server, whatever copy of the cookie survives. ``g.auth`` says how the caller got in,
``g.credential_id`` which session or token it used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import MethodNotAllowed

from hachi.catalog.sessions import SESSION_LIFETIME
from hachi.errors import Unauthorized
from hachi.server.context import services
from hachi.server.login_links import link_path

SESSION_COOKIE_NAME = "hachi_session"
COOKIE_SECRET_FIELD = "sid"
LOGIN_LINK_PATH = "/api/login/link"
PASSWD_HINT = (
    "no password is set yet: run `hachi passwd`, or open a one-time login link from "
    "`hachi login-link`"
)

F = TypeVar("F", bound=Callable[..., Any])


class ProxyAwareSessionInterface(SecureCookieSessionInterface):
    """Mark the cookie Secure exactly when the browser reached us over HTTPS (via Caddy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def public(view: F) -> F:
    """Let a view answer without credentials (health, login)."""
    view.hachi_public = True  # type: ignore[attr-defined]
    return view


def _is_public_request() -> bool:
    """The UI, public views, and a method no route at this path takes: that 405 is the
    answer for anyone, as the document promises (an unknown path stays a 401 for strangers)."""
    if not request.path.startswith("/api") or isinstance(
        request.routing_exception, MethodNotAllowed
    ):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "hachi_public", False))


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def unauthorized(message: str) -> Unauthorized:
    """401 that also tells a login page whether a password exists yet."""
    has_password = services().credentials.has_password()
    detail: dict[str, Any] = {"password_set": has_password}
    if not has_password:
        detail["hint"] = PASSWD_HINT
    return Unauthorized(message, detail)


def _cookie_session_id() -> int | None:
    secret = session.get(COOKIE_SECRET_FIELD)
    if not isinstance(secret, str) or not secret:
        return None
    session_id = services().credentials.use_session(secret)
    if session_id is None:
        session.clear()  # ended or expired: the answer also tells the browser to drop it
    return session_id


def authenticate() -> None:
    """before_request: settle g.auth as 'bearer' or 'cookie', or refuse with 401."""
    g.auth, g.credential_id = None, None
    if _is_public_request():
        return
    token = _bearer_token()
    if token is not None:
        g.credential_id = services().credentials.use_token(token) if token else None
        if g.credential_id is None:
            raise unauthorized("the bearer token is not valid (revoked or expired?)")
        g.auth = "bearer"
        return
    g.credential_id = _cookie_session_id()
    if g.credential_id is None:
        raise unauthorized("log in first, or send an `Authorization: Bearer <token>` header")
    g.auth = "cookie"


def start_session() -> None:
    """Replace whatever the cookie held with a fresh, permanent session stored server-side."""
    end_session()
    client = request.headers.get("User-Agent", "")
    secret = services().credentials.create_session(client, request.remote_addr or "")
    session.permanent = True
    session[COOKIE_SECRET_FIELD] = secret


def end_session() -> None:
    """Forget the caller's cookie session here and in the catalog; tokens stay valid."""
    secret = session.get(COOKIE_SECRET_FIELD)
    if isinstance(secret, str) and secret:
        services().credentials.forget_session(secret)
    session.clear()


def install(app: Flask, secret: str) -> None:
    app.secret_key = secret
    app.session_interface = ProxyAwareSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.before_request(authenticate)


def mint_login_link(app: Flask) -> str:
    """A fresh one-time login link, as a path: the caller prefixes the server's base URL."""
    return link_path(services(app).links.mint())
