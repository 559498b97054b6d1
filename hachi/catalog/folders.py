"""Indexed folders: the roots the user chose. Every photo belongs to exactly one.

Nested roots would make a photo belong to two folders, so adding a folder inside an
indexed one is refused, and adding a parent of indexed folders absorbs them (their
photos, faces and names are kept, only their root changes).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hachi.catalog.clock import utc_now
from hachi.catalog.db import transaction
from hachi.errors import Conflict, NotFound
from hachi.paths import is_within


@dataclass(frozen=True)
class Folder:
    id: int
    path: str
    added_at: str
    last_scan_at: str | None
    photos: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SELECT = """
    SELECT f.id, f.path, f.added_at, f.last_scan_at,
           (SELECT COUNT(*) FROM photos p WHERE p.folder_id = f.id) AS photos,
           (SELECT COUNT(*) FROM failed_files x WHERE x.folder_id = f.id) AS failed
    FROM folders f
"""


def _folder(row: sqlite3.Row) -> Folder:
    return Folder(*tuple(row))


def list_folders(conn: sqlite3.Connection) -> list[Folder]:
    return [_folder(r) for r in conn.execute(_SELECT + " ORDER BY f.path")]


def get_folder(conn: sqlite3.Connection, folder_id: int) -> Folder:
    row = conn.execute(_SELECT + " WHERE f.id = ?", (folder_id,)).fetchone()
    if row is None:
        raise NotFound(f"no folder with id {folder_id}")
    return _folder(row)


def folder_by_path(conn: sqlite3.Connection, path: str) -> Folder | None:
    row = conn.execute(_SELECT + " WHERE f.path = ?", (path,)).fetchone()
    return None if row is None else _folder(row)


def present_ids(conn: sqlite3.Connection, folder_ids: list[int]) -> set[int]:
    """Those of ``folder_ids`` that are still indexed folders (one may be removed mid-job)."""
    marks = ",".join("?" for _ in folder_ids)
    rows = conn.execute(f"SELECT id FROM folders WHERE id IN ({marks})", folder_ids)
    return {int(r[0]) for r in rows}


def add_folder(conn: sqlite3.Connection, path: str) -> Folder:
    """Register a root (already validated and resolved by the caller); idempotent."""
    existing = folder_by_path(conn, path)
    if existing is not None:
        return existing
    folders = list_folders(conn)
    for folder in folders:
        if is_within(Path(path), Path(folder.path)):
            raise Conflict(
                f"{path} is already indexed as part of {folder.path}",
                {"folder_id": folder.id, "path": folder.path},
            )
    children = [f.id for f in folders if is_within(Path(f.path), Path(path))]
    with transaction(conn):
        cur = conn.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", (path, utc_now()))
        new_id = int(cur.lastrowid or 0)
        for child in children:
            for table in ("photos", "dirs", "failed_files"):
                conn.execute(
                    f"UPDATE {table} SET folder_id = ? WHERE folder_id = ?", (new_id, child)
                )
            conn.execute("DELETE FROM folders WHERE id = ?", (child,))
    return get_folder(conn, new_id)


def mark_scanned(conn: sqlite3.Connection, folder_id: int) -> None:
    with transaction(conn):
        conn.execute("UPDATE folders SET last_scan_at = ? WHERE id = ?", (utc_now(), folder_id))


def any_never_scanned(conn: sqlite3.Connection, folder_ids: list[int]) -> bool:
    """Whether any of these folders has yet to finish its first whole scan."""
    marks = ",".join("?" * len(folder_ids))
    row = conn.execute(
        f"SELECT 1 FROM folders WHERE id IN ({marks}) AND last_scan_at IS NULL LIMIT 1",
        folder_ids,
    ).fetchone()
    return row is not None


def folders_scanned_before(conn: sqlite3.Connection, cutoff: str) -> list[Folder]:
    """Folders whose last whole scan is older than cutoff (a utc_now() timestamp)."""
    rows = conn.execute(_SELECT + " WHERE f.last_scan_at < ? ORDER BY f.path", (cutoff,))
    return [_folder(r) for r in rows]
