"""`hachi passwd`, `hachi token` and `hachi sessions`: who may use the web UI and the API.

These work on the catalog directly, so they also work while `hachi serve` runs: the
server checks every request against the catalog, so a revoked session or token stops
working at once.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from hachi.catalog import auth, sessions
from hachi.catalog.auth import MIN_PASSWORD_LENGTH
from hachi.catalog.clock import utc_now
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.errors import BadRequest, NotFound
from hachi.server.grid_keys import sync_grid_keys

DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_DURATION = timedelta(days=100 * 366)
DURATION_HINT = "a number and a unit: 30m, 12h, 90d or 52w (minutes, hours, days, weeks)"


def parse_duration(text: str) -> timedelta:
    """'90d' -> 90 days; m, h, d and w are minutes, hours, days and weeks."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([mhdw])\s*", text.lower())
    if match is None:
        raise BadRequest(f"--expires wants {DURATION_HINT}; got {text!r}", {"field": "expires"})
    amount, unit = int(match[1]), match[2]
    duration = timedelta(**{DURATION_UNITS[unit]: amount})
    if not timedelta(0) < duration <= MAX_DURATION:
        raise BadRequest(f"--expires must be above zero and at most 100 years; got {text!r}")
    return duration


@contextmanager
def _catalog(settings: Settings) -> Iterator[sqlite3.Connection]:
    settings.ensure_dirs()
    conn = connect(settings.catalog_path)
    try:
        yield conn
        sync_grid_keys(conn, settings.grid_keys_dir)  # sessions ended here end their keys
    finally:
        conn.close()


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise BadRequest("the two passwords differ")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def cmd_passwd(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args.stdin)
    with _catalog(settings) as conn:
        auth.set_password(conn, password)  # ends every browser session too
    print("Password set. Every browser was logged out; API tokens still work.", file=sys.stderr)
    return 0


def _print_tokens(conn: sqlite3.Connection) -> None:
    now = utc_now()
    for t in auth.list_tokens(conn):
        if t.expires_at is None:
            expiry = "never expires"
        else:
            expiry = f"{'EXPIRED' if t.expires_at <= now else 'expires'} {t.expires_at}"
        print(
            f"{t.id}\t{t.name}\tcreated {t.created_at}\tlast used {t.last_used_at or 'never'}"
            f"\t{expiry}"
        )


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    expires_in = parse_duration(args.expires) if args.expires is not None else None
    with _catalog(settings) as conn:
        if args.list:
            _print_tokens(conn)
            return 0
        if args.revoke is not None:
            if not auth.revoke_token(conn, args.revoke):
                raise NotFound(f"no token with id {args.revoke}")
            print(f"Token {args.revoke} revoked.", file=sys.stderr)
            return 0
        token = auth.create_token(conn, args.name, expires_in)
    print(token)
    print(
        "Use it as: curl -H 'Authorization: Bearer <token>' ... (shown only once)", file=sys.stderr
    )
    return 0


def cmd_sessions(args: argparse.Namespace, settings: Settings) -> int:
    with _catalog(settings) as conn:
        if args.revoke_all:
            ended = sessions.delete_all_sessions(conn)
            print(f"Logged out everywhere ({ended} sessions ended).", file=sys.stderr)
            return 0
        if args.revoke is not None:
            if not sessions.delete_session(conn, args.revoke):
                raise NotFound(f"no session with id {args.revoke}")
            print(f"Session {args.revoke} ended.", file=sys.stderr)
            return 0
        for s in sessions.list_sessions(conn):
            print(
                f"{s.id}\t{s.client or '(unknown client)'}\t{s.address}\t"
                f"signed in {s.created_at}\tlast used {s.last_used_at}\texpires {s.expires_at}"
            )
    return 0


def cmd_login_link(args: argparse.Namespace, settings: Settings) -> int:
    """A fresh one-time login link, for a server that runs now or will run later (within
    the hour): links live in the catalog, which the server checks."""
    from hachi.server.login_links import LOGIN_LINK_TTL, link_path, server_url

    with _catalog(settings) as conn:
        token = auth.create_login_link(conn, LOGIN_LINK_TTL)
    running = server_url(settings.home)
    base = (args.url or running or f"http://{_host(settings.host)}:{settings.port}").rstrip("/")
    print(f"{base}{link_path(token)}")
    where = "the running server" if running and not args.url else "the server at that address"
    print(f"Open it within the hour in a browser of {where}; it works once.", file=sys.stderr)
    return 0


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    def command(name: str, handler: Callable[..., int], text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        add_common(p)
        p.set_defaults(func=handler)
        return p

    p = command("passwd", cmd_passwd, "Set the password of the web UI and API.")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p = command("login-link", cmd_login_link, "Print a fresh one-time login link.")
    p.add_argument("--url", metavar="BASE", help="the address browsers use (default: the server's)")
    p = command("token", cmd_token, "Create, list or revoke API tokens for scripts.")
    p.add_argument("--name", default="script", help="a label to recognise it by")
    p.add_argument("--expires", metavar="AGE", help="expire after AGE, e.g. 90d (default never)")
    p.add_argument("--list", action="store_true", help="list tokens with last use and expiry")
    p.add_argument("--revoke", type=int, metavar="ID", help="revoke a token")
    p = command("sessions", cmd_sessions, "List signed-in browsers, or log them out.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--revoke", type=int, metavar="ID", help="log out one session")
    group.add_argument("--revoke-all", action="store_true", help="log out everywhere")
