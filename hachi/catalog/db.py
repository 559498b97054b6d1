"""Opening the catalog: one function prepares every connection the same way.

WAL lets the web server read while the indexer writes; ``busy_timeout`` turns brief lock
contention into a short wait instead of an error; ``synchronous=NORMAL`` is durable across
application crashes in WAL mode, which is the failure the design cares about (SIGKILL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hachi.catalog.conditions import DISTANCE_FUNCTION
from hachi.catalog.schema import migrate
from hachi.media.distance import sql_distance_km

BUSY_TIMEOUT_MS = 30_000
CACHE_KIB = 8192


def connect(
    path: Path, *, readonly: bool = False, migrate_schema: bool = True
) -> sqlite3.Connection:
    """A connection with Hachi's pragmas; the first writer brings the schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.create_function(DISTANCE_FUNCTION, 4, sql_distance_km, deterministic=True)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate_schema:
            migrate(conn)
    conn.execute("PRAGMA temp_store = MEMORY")
    # Each server thread has its own connection: a modest page cache each (the OS page
    # cache and the memory map do the heavy lifting) keeps the server's memory small.
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute("PRAGMA mmap_size = 268435456")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    IMMEDIATE takes the write lock up front so two writers queue instead of deadlocking
    on a read-to-write upgrade.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def refresh_statistics(conn: sqlite3.Connection) -> None:
    """ANALYZE after a job: with fresh statistics SQLite picks the selective index for
    combined filters (measured on 100,000 photos: p50 halves for multi-filter queries).
    It costs well under a second per 100,000 photos."""
    conn.execute("ANALYZE")
