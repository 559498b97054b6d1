"""What the folder watcher of a running server is doing, kept in the catalog so that
`hachi status` in another process can say it too (watching, polling and why, stopped)."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

from hachi.catalog.auth import get_setting, put_setting
from hachi.catalog.db import transaction

WATCH_STATE_KEY = "watch_state"


def record_watch_state(conn: sqlite3.Connection, state: dict[str, Any]) -> None:
    put_setting(conn, WATCH_STATE_KEY, json.dumps(state))


def watch_state(conn: sqlite3.Connection) -> dict[str, Any] | None:
    raw = get_setting(conn, WATCH_STATE_KEY)
    return None if raw is None else dict(json.loads(raw))


def clear_watch_state(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM settings WHERE key = ?", (WATCH_STATE_KEY,))


def live_watch_state(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The state, if the process that recorded it is still running (else it is stale)."""
    state = watch_state(conn)
    return state if state is not None and _alive(int(state.get("pid", 0))) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
