"""Request screening that protects a localhost server from the browser it serves.

A server on 127.0.0.1 is still reachable from any web page the user visits: through DNS
rebinding (a hostile name that resolves to 127.0.0.1, so the Host header gives it away)
and through cross-site requests, from foreign sites or from other servers on this very
machine (the Origin header gives those away; only origins Hachi serves are accepted).
X-Forwarded-For, which names the client the login throttle counts, is believed only
from the Caddy that Hachi started, which proves itself with a secret header.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from hachi.config import Settings
from hachi.errors import Forbidden

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
PROXY_HEADER = "X-Hachi-Proxy"
PROXY_ENVIRON_KEY = "HTTP_X_HACHI_PROXY"
DEFAULT_PORTS = {"http": 80, "https": 443}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CONTENT_LENGTH = 1024 * 1024
MAX_UPLOAD_LENGTH = 64 * 1024 * 1024  # a photo sent to search by image
UPLOAD_PATHS = frozenset({"/api/search/image"})
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
UI_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FILE_CSP = "default-src 'none'; img-src 'self'; frame-ancestors 'none'; sandbox"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Origin = tuple[str, str, int]  # scheme, host name, port


def is_loopback(address: str | None) -> bool:
    """Whether a peer or bind address is this machine's loopback (names included)."""
    if not address:
        return False
    host = address.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TrustedProxy:
    """WSGI wrapper for the headers Caddy adds in front of Flask.

    X-Forwarded-Proto is believed from any loopback peer: no browser can set it on a
    request to us, and it only makes the cookie Secure and names our own scheme.
    X-Forwarded-For is believed only when the peer is loopback and sends ``PROXY_HEADER``
    with the secret that Hachi gave the Caddy it started; otherwise any local process
    could pick a new client address for each login guess. The secret header is removed
    either way, so nothing after this wrapper sees it.

    Doing this in the app, not in waitress, keeps the Flask test client and the real
    server on the same rules; waitress is told not to touch the headers.
    """

    def __init__(self, app: WsgiApp, proxy_secret: str) -> None:
        self.app = app
        self._secret = proxy_secret.encode()

    def _from_our_proxy(self, environ: dict[str, Any]) -> bool:
        offered = str(environ.pop(PROXY_ENVIRON_KEY, "")).encode()
        return bool(self._secret and offered) and hmac.compare_digest(offered, self._secret)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from_proxy = self._from_our_proxy(environ)
        if is_loopback(environ.get("REMOTE_ADDR")):
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
            forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
            if from_proxy and forwarded_for:
                environ["REMOTE_ADDR"] = forwarded_for
        return self.app(environ, start_response)


def hostname_of(host_header: str) -> str:
    """The name part of a Host value, lower-cased, with any port and IPv6 brackets removed."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_is_allowed(hostname: str, extra: Iterable[str]) -> bool:
    """Loopback names, any port, plus configured names; '.example.org' also admits subdomains."""
    if not hostname:
        return False
    if hostname in LOOPBACK_NAMES:
        return True
    for entry in extra:
        allowed = hostname_of(entry)
        if allowed == hostname:
            return True
        if entry.startswith(".") and (hostname.endswith(allowed) or hostname == allowed[1:]):
            return True
    return False


def check_host(allowed_hosts: Iterable[str]) -> None:
    """Refuse a Host we do not serve: that is how DNS rebinding shows itself."""
    host = request.host
    if not host_is_allowed(hostname_of(host), allowed_hosts):
        raise Forbidden(
            f"Host {host!r} is not allowed; add it to HACHI_ALLOWED_HOSTS if it is yours",
            {"host": host},
        )


def uses_bearer_token() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL or Origin value, default port filled in."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def served_origins(settings: Settings) -> frozenset[Origin]:
    """The API server's own address under each loopback name.

    Pages Caddy serves need no entry: Caddy passes the browser's Host and scheme on, so
    their Origin is the request's own origin, which :func:`check_origin` accepts.
    """
    names = {*LOOPBACK_NAMES, hostname_of(settings.host)}
    return frozenset(("http", name, settings.port) for name in names if is_loopback(name))


def check_origin(served: frozenset[Origin], cookie_name: str) -> None:
    """A state change by cookie must come from one of our own pages (CSRF defence).

    Our own pages are the origins Hachi serves: its own port on loopback, or the origin
    the request was addressed to (whose Host already passed :func:`check_host`). Another
    port on the same machine is another site, even though the browser sends it our
    cookie (cookies ignore ports).

    Scripts with bearer tokens send no cookie, so nothing can be forged on their behalf.
    A request with neither Origin nor Referer is refused only when it carries a cookie:
    browsers always send Origin on cross-site POSTs, tools like curl send neither.
    """
    if request.method not in UNSAFE_METHODS or uses_bearer_token():
        return
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        if cookie_name in request.cookies:
            raise Forbidden("a state-changing request with a cookie needs an Origin header")
        return
    origin = origin_of(source)
    if origin is None or (origin not in served and origin != origin_of(request.host_url)):
        raise Forbidden(f"origin {source!r} is not allowed", {"origin": source})


def check_content_length(limit: int) -> None:
    """Refuse an oversized body before anything reads it (werkzeug only checks on read)."""
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge(
            f"request body of {length} bytes is over the limit of {limit} bytes"
        )


def body_limit(path: str) -> int:
    """The largest body a request to ``path`` may send: a photo upload, or a JSON body."""
    return MAX_UPLOAD_LENGTH if path in UPLOAD_PATHS else MAX_CONTENT_LENGTH


def add_security_headers(response: Response) -> Response:
    """Headers every API answer carries; JSON is never cached and never a document."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not request.path.startswith("/api"):
        response.headers.setdefault("Content-Security-Policy", UI_CSP)
        return response
    if response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = JSON_CSP
    else:
        response.headers.setdefault("Content-Security-Policy", FILE_CSP)
    return response


def install(app: Flask, settings: Settings, cookie_name: str) -> None:
    """Wire the checks in the order a request meets them: host, size, origin."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_LENGTH
    app.wsgi_app = TrustedProxy(app.wsgi_app, settings.proxy_secret)  # type: ignore[method-assign]
    allowed_hosts, origins = settings.allowed_hosts, served_origins(settings)

    @app.before_request
    def screen_request() -> None:
        check_host(allowed_hosts)
        check_content_length(body_limit(request.path))
        check_origin(origins, cookie_name)

    app.after_request(add_security_headers)
