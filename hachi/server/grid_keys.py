"""Grid keys: Caddy serves a logged-in browser's thumbnails itself, with no request to Hachi.

A grid of 200 thumbnails through waitress costs 3x Caddy's file server even for a trivial
WSGI app, so no per-thumbnail check in Python (nor Caddy's forward_auth, which is one) can
keep up. Instead each live browser session has a grid key derived from its cookie's secret
(which the catalog never stores, so a copy of the catalog yields no key), which the browser
holds as an HttpOnly cookie sent only to /api/thumbs/, and which exists as a file
``grid-keys/<key>`` under HACHI_HOME holding the hash by which the catalog knows the
session. The Caddyfile serves ``/api/thumbs/<hash>.<kind>.webp`` from the thumbnail
folder when the cookie names an existing key file (a stat in Caddy); everything else
(bearer tokens, no Caddy, a thumbnail not rendered yet) goes to Hachi, which
authenticates as for any other call.

Keys follow sessions: :func:`sync_grid_keys` removes every key whose session has ended or
expired. It runs whenever a session starts or ends (in the server and the CLI), at
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

from hachi.catalog import sessions

GRID_COOKIE_NAME = "hachi_grid"
GRID_COOKIE_PATH = "/api/thumbs/"
SYNC_INTERVAL_S = 60.0
KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
KEY_LABEL = b"hachi grid keys"


def key_for_session(session_secret: str) -> str:
    """The grid key of the session a cookie's secret opens (not its stored hash)."""
    return hmac.new(KEY_LABEL, session_secret.encode(), hashlib.sha256).hexdigest()


def grant(folder: Path, session_secret: str) -> str:
    """Let Caddy honour the session's key: a file, readable by this user only, naming the
    session by its hash (for :func:`sync_grid_keys`). Returns the key."""
    key = key_for_session(session_secret)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / key
    if not path.exists():
        temp = folder / f".{key}.tmp"
        fd = os.open(temp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(sessions.secret_hash(session_secret))
        os.replace(temp, path)  # Caddy never sees a key whose session is not written yet
    return key


def sync_grid_keys(conn: sqlite3.Connection, folder: Path) -> None:
    """Remove from ``folder`` every key whose session has ended or expired."""
    if not folder.exists():
        return
    live = set(sessions.live_session_hashes(conn))
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue  # a key being granted right now
        try:
            with open(entry.path) as handle:
                owner = handle.read(100)
        except OSError:
            owner = ""
        if owner not in live or not KEY_PATTERN.fullmatch(entry.name):
            Path(entry.path).unlink(missing_ok=True)
