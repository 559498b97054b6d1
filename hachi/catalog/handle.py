"""One catalog as the services of a library share it.

Connections are per thread (the WSGI server is threaded), each prepared by ``connect``;
writes that users trigger are small, go through the calling thread's connection and are
serialised by one write lock, so two requests never interleave their transactions.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hachi.catalog.db import connect


class CatalogHandle:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_lock = threading.Lock()
        self._local = threading.local()
        connect(path).close()  # create / migrate once, up front

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, migrate_schema=False)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
