"""One-time login links, as Jupyter prints them: whoever can read the terminal may log in.

Each works once and for a short while, so a link that leaks into shell history or a
screenshot is useless soon after. They are kept (hashed) in the catalog, so `hachi
login-link` can mint one for a server that is already running, and a restart keeps them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hachi.catalog import auth
from hachi.catalog.db import connect

LOGIN_LINK_TTL = timedelta(hours=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LoginLinks:
    def __init__(self, catalog_path: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection = connect(catalog_path, migrate_schema=False)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def mint(self, ttl: timedelta = LOGIN_LINK_TTL) -> str:
        with self._lock:
            return auth.create_login_link(self._conn, ttl, self._clock())

    def redeem(self, token: str) -> bool:
        """True once for a live token; a second visit, or a late one, is refused."""
        with self._lock:
            return auth.redeem_login_link(self._conn, token, self._clock())


SERVER_URL_FILE = "server-url"  # in HACHI_HOME while `hachi serve` runs: where browsers go


def remember_server_url(home: Path, url: str | None) -> None:
    """Note (or, with None, forget) the address `hachi serve` prints, for `hachi login-link`."""
    path = home / SERVER_URL_FILE
    if url is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(url + "\n", encoding="utf-8")


def server_url(home: Path) -> str | None:
    try:
        return (home / SERVER_URL_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def link_path(token: str) -> str:
    return f"/api/login/link?token={token}"
