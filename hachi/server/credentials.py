"""The server's own catalog connection, for the credential checks every request makes.

The Library keeps its connections to itself; sharing one here would tie request threads
to its locking. sqlite3 connections are not safe for simultaneous use, so one lock
serialises these short reads.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

from hachi.catalog import auth
from hachi.catalog.db import connect


class Credentials:
    def __init__(self, catalog_path: Path) -> None:
        self._path = catalog_path
        self._conn: sqlite3.Connection = connect(catalog_path)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def session_secret(self) -> str:
        with self._lock:
            return auth.session_secret(self._conn)

    def has_password(self) -> bool:
        with self._lock:
            return auth.has_password(self._conn)

    def check_password(self, password: str) -> bool:
        """On a connection of its own, so the slow scrypt never holds up other requests."""
        conn = connect(self._path, migrate_schema=False)
        try:
            return auth.check_password(conn, password)
        finally:
            conn.close()

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            return auth.token_is_valid(self._conn, token)

    def password_fingerprint(self) -> str:
        """Digest of the stored hash: a session bound to it dies when the password changes."""
        with self._lock:
            stored = auth.get_setting(self._conn, auth.PASSWORD_KEY)
        return "" if stored is None else hashlib.sha256(stored.encode()).hexdigest()[:16]
