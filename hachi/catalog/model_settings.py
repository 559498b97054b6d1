"""Model choices and model downloads as library settings (the key/value settings table).

The active CLIP model belongs to the library, not to the process: the CLI, the server and
a second process all read it here. A download's progress is written here too, so
`hachi status` in another terminal sees what `hachi serve` is fetching.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass

from hachi.catalog.auth import get_setting, put_setting
from hachi.catalog.db import transaction

ACTIVE_CLIP_KEY = "models.clip"
DOWNLOAD_PREFIX = "models.download."
DOWNLOAD_STALE_S = 90.0
"""A 'downloading' record not refreshed for this long belongs to a process that died."""


@dataclass(frozen=True)
class DownloadRecord:
    """One model download as the last process that ran it left it."""

    model: str
    task: str
    state: str  # downloading | installed | failed | stopped
    done_bytes: int
    total_bytes: int
    error: str | None
    command: str
    updated_at: float

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("updated_at")
        return data


def active_clip_model(conn: sqlite3.Connection) -> str | None:
    """The CLIP model this library chose, or None before any choice."""
    return get_setting(conn, ACTIVE_CLIP_KEY)


def set_active_clip_model(conn: sqlite3.Connection, name: str) -> None:
    put_setting(conn, ACTIVE_CLIP_KEY, name)


def put_download(conn: sqlite3.Connection, record: DownloadRecord) -> None:
    put_setting(conn, DOWNLOAD_PREFIX + record.model, json.dumps(asdict(record)))


def downloads(conn: sqlite3.Connection) -> list[DownloadRecord]:
    """Every recorded download; a 'downloading' one whose writer went quiet reads 'stopped'."""
    rows = conn.execute(
        "SELECT value FROM settings WHERE key LIKE ? ORDER BY key", (DOWNLOAD_PREFIX + "%",)
    ).fetchall()
    found = []
    now = time.time()
    for (value,) in rows:
        record = DownloadRecord(**json.loads(value))
        if record.state == "downloading" and now - record.updated_at > DOWNLOAD_STALE_S:
            record = DownloadRecord(**{**asdict(record), "state": "stopped"})
        found.append(record)
    return found


def forget_download(conn: sqlite3.Connection, model: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM settings WHERE key = ?", (DOWNLOAD_PREFIX + model,))
