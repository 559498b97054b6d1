"""The server's own catalog connection, for the credential checks every request makes.

The Library keeps its connections to itself; sharing one here would tie request threads
to its locking. sqlite3 connections are not safe for simultaneous use, so one lock
serialises these short reads (and the once-a-minute 'last used' writes).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hachi.catalog import auth, sessions
from hachi.catalog.auth import TokenInfo
from hachi.catalog.db import connect
from hachi.catalog.sessions import SessionInfo


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

    def set_password(self, password: str) -> None:
        """Store it (scrypt) and end every browser session."""
        hashed = auth.hash_password(password)  # the slow part, outside the lock
        with self._lock:
            auth.set_password_hash(self._conn, hashed)

    def use_token(self, token: str) -> int | None:
        with self._lock:
            return auth.use_token(self._conn, token)

    def list_tokens(self) -> list[TokenInfo]:
        with self._lock:
            return auth.list_tokens(self._conn)

    def revoke_token(self, token_id: int) -> bool:
        with self._lock:
            return auth.revoke_token(self._conn, token_id)

    def create_session(self, client: str, address: str) -> str:
        with self._lock:
            return sessions.create_session(self._conn, client, address)

    def use_session(self, secret: str) -> int | None:
        with self._lock:
            return sessions.use_session(self._conn, secret)

    def list_sessions(self) -> list[SessionInfo]:
        with self._lock:
            return sessions.list_sessions(self._conn)

    def forget_session(self, secret: str) -> None:
        with self._lock:
            sessions.delete_session_with_secret(self._conn, secret)

    def end_session(self, session_id: int) -> bool:
        with self._lock:
            return sessions.delete_session(self._conn, session_id)

    def end_all_sessions(self) -> int:
        with self._lock:
            return sessions.delete_all_sessions(self._conn)
