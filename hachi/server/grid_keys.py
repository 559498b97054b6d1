"""Grid keys: Caddy serves a logged-in browser's thumbnails itself, with no request to Hachi.

A grid of 200 thumbnails through waitress costs 3x Caddy's file server even for a trivial
WSGI app, so no per-thumbnail check in Python (nor Caddy's forward_auth, which is one) can
keep up. Instead each live browser session has a grid key, HMAC(server key, the session's
secret hash), which the browser holds as an HttpOnly cookie sent only to /api/thumbs/, and
which exists as an empty file ``grid-keys/<key>`` under HACHI_HOME. The Caddyfile serves
``/api/thumbs/<hash>.<kind>.webp`` from the thumbnail folder when the cookie names an
existing key file (a stat in Caddy); everything else (bearer tokens, no Caddy, a thumbnail
not rendered yet) goes to Hachi, which authenticates as for any other call.

Keys follow sessions: :func:`sync_grid_keys` makes the folder hold exactly the keys of the
live sessions. It runs whenever a session starts or ends (in the server and the CLI), at
server start, and at least every SYNC_INTERVAL_S while the server is used, so logging out,
"log out everywhere" and expiry close Caddy's door as they close Hachi's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
from pathlib import Path

from hachi.catalog import auth, sessions

GRID_COOKIE_NAME = "hachi_grid"
GRID_COOKIE_PATH = "/api/thumbs/"
SYNC_INTERVAL_S = 60.0
KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
KEY_LABEL = b"hachi grid keys"


def grid_secret(conn: sqlite3.Connection) -> bytes:
    """The server key behind grid keys, derived from the cookie-signing key (no new secret)."""
    return hmac.new(auth.session_secret(conn).encode(), KEY_LABEL, hashlib.sha256).digest()


def grid_key(secret: bytes, session_secret_hash: str) -> str:
    return hmac.new(secret, session_secret_hash.encode(), hashlib.sha256).hexdigest()


def key_for_session(secret: bytes, session_secret: str) -> str:
    """The grid key of the session a cookie's secret opens."""
    return grid_key(secret, sessions.secret_hash(session_secret))


def grant(folder: Path, key: str) -> None:
    """Let Caddy honour ``key`` (an empty file, readable by this user only)."""
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError("not a grid key")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(folder / key, os.O_CREAT | os.O_WRONLY, 0o600))


def sync_grid_keys(conn: sqlite3.Connection, folder: Path) -> None:
    """Make ``folder`` hold the keys of the live sessions, and nothing else."""
    secret = grid_secret(conn)
    live = {grid_key(secret, h) for h in sessions.live_session_hashes(conn)}
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for entry in os.scandir(folder):
        if entry.name not in live:
            Path(entry.path).unlink(missing_ok=True)
    for key in live:
        grant(folder, key)
