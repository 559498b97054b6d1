"""Catalog schema: migrations run once, a newer catalog is refused, WAL is on."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from hachi.catalog import auth, folders, sessions
from hachi.catalog.db import connect
from hachi.catalog.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from hachi.errors import CatalogTooNew, Conflict


def test_new_catalog_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    conn = connect(tmp_path / "catalog.db")
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()
    again = connect(tmp_path / "catalog.db")  # reopening migrates nothing and loses nothing
    assert schema_version(again) == SCHEMA_VERSION
    again.close()


def test_a_catalog_from_a_newer_hachi_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(CatalogTooNew, match="newer"):
        connect(path)


def test_nested_folders(tmp_path: Path) -> None:
    conn = connect(tmp_path / "catalog.db")
    try:
        child = folders.add_folder(conn, "/photos/2019")
        assert folders.add_folder(conn, "/photos/2019").id == child.id, "adding twice is a no-op"
        with pytest.raises(Conflict, match="already indexed as part of"):
            folders.add_folder(conn, "/photos/2019/summer")
        parent = folders.add_folder(conn, "/photos")
        assert [f.path for f in folders.list_folders(conn)] == ["/photos"], "parent absorbs child"
        assert parent.id != child.id
        folders.add_folder(conn, "/photos-2")  # a sibling with a common prefix is not nested
        assert len(folders.list_folders(conn)) == 2
    finally:
        conn.close()


def test_a_version_4_catalog_gains_sessions_and_keeps_its_tokens(tmp_path: Path) -> None:
    """The migration to server-side sessions runs in place on an existing catalog."""
    path = tmp_path / "catalog.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:4]:
        raw.executescript(script)
    raw.execute("PRAGMA user_version = 4")
    token = "hachi_old-token"
    raw.execute(
        "INSERT INTO tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
        ("old", hashlib.sha256(token.encode()).hexdigest(), "2026-01-01T00:00:00.000000Z"),
    )
    raw.close()
    conn = connect(path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert auth.token_is_valid(conn, token), "an old token never expires"
        assert auth.list_tokens(conn)[0].expires_at is None
        secret = sessions.create_session(conn, "Firefox", "127.0.0.1")
        assert sessions.use_session(conn, secret) is not None
    finally:
        conn.close()
