"""Sessions and tokens in the catalog: hashes only, expiry, and a last use written sparingly."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hachi.catalog import auth, sessions
from hachi.catalog.db import BUSY_TIMEOUT_MS, connect
from hachi.catalog.sessions import SESSION_LIFETIME, TOUCH_INTERVAL

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "catalog.db")
    yield connection
    connection.close()


def test_a_session_opens_with_its_secret_only(conn: sqlite3.Connection) -> None:
    secret = sessions.create_session(conn, "Firefox", "127.0.0.1", now=T0)
    session_id = sessions.use_session(conn, secret, now=T0)
    assert session_id is not None
    assert sessions.use_session(conn, secret + "x", now=T0) is None
    stored = conn.execute("SELECT secret_hash FROM sessions").fetchone()[0]
    assert secret not in stored


def test_last_use_is_written_at_most_once_a_minute(conn: sqlite3.Connection) -> None:
    secret = sessions.create_session(conn, "Firefox", "127.0.0.1", now=T0)

    def last_use() -> tuple[str, str]:
        (info,) = sessions.list_sessions(conn, now=T0)
        return info.last_used_at, info.expires_at

    created = last_use()
    sessions.use_session(conn, secret, now=T0 + TOUCH_INTERVAL / 2)
    assert last_use() == created
    sessions.use_session(conn, secret, now=T0 + TOUCH_INTERVAL * 2)
    later = last_use()
    assert later[0] > created[0] and later[1] > created[1], "use extends the expiry"


def test_a_session_expires_after_a_month_unused(conn: sqlite3.Connection) -> None:
    secret = sessions.create_session(conn, "Firefox", "127.0.0.1", now=T0)
    just_before = T0 + SESSION_LIFETIME - timedelta(seconds=1)
    assert sessions.use_session(conn, secret, now=just_before) is not None
    assert sessions.use_session(conn, secret, now=just_before + SESSION_LIFETIME) is None
    assert sessions.list_sessions(conn, now=just_before + SESSION_LIFETIME) == []


def test_ending_sessions(conn: sqlite3.Connection) -> None:
    a = sessions.create_session(conn, "a", "", now=T0)
    b = sessions.create_session(conn, "b", "", now=T0)
    a_id = sessions.use_session(conn, a, now=T0)
    assert a_id is not None
    assert sessions.delete_session(conn, a_id) is True
    assert sessions.delete_session(conn, a_id) is False
    assert sessions.use_session(conn, a, now=T0) is None
    assert sessions.use_session(conn, b, now=T0) is not None
    sessions.delete_session_with_secret(conn, b)
    assert sessions.use_session(conn, b, now=T0) is None
    sessions.create_session(conn, "c", "", now=T0)
    assert sessions.delete_all_sessions(conn) == 1


def test_a_long_user_agent_is_cut(conn: sqlite3.Connection) -> None:
    sessions.create_session(conn, "x" * 10_000, "127.0.0.1", now=T0)
    (info,) = sessions.list_sessions(conn, now=T0)
    assert len(info.client) == sessions.MAX_CLIENT_LENGTH


def test_a_new_password_ends_every_session(conn: sqlite3.Connection) -> None:
    secret = sessions.create_session(conn, "Firefox", "127.0.0.1")
    token = auth.create_token(conn, "script")
    auth.set_password(conn, "correct horse battery")
    assert sessions.use_session(conn, secret) is None
    assert auth.token_is_valid(conn, token), "tokens are not sessions"


def test_a_token_expires_when_asked(conn: sqlite3.Connection) -> None:
    token = auth.create_token(conn, "short", expires_in=timedelta(hours=1))
    forever = auth.create_token(conn, "forever")
    now = datetime.now(UTC)
    assert auth.use_token(conn, token, now=now) is not None
    assert auth.use_token(conn, token, now=now + timedelta(hours=2)) is None
    assert auth.use_token(conn, forever, now=now + timedelta(days=3650)) is not None
    short, _ = auth.list_tokens(conn)
    assert short.expires_at is not None and short.last_used_at is not None


def test_token_last_use_is_written_at_most_once_a_minute(conn: sqlite3.Connection) -> None:
    token = auth.create_token(conn, "script")
    assert auth.list_tokens(conn)[0].last_used_at is None
    auth.use_token(conn, token, now=T0)
    auth.use_token(conn, token, now=T0 + TOUCH_INTERVAL / 2)
    first = auth.list_tokens(conn)[0].last_used_at
    auth.use_token(conn, token, now=T0 + TOUCH_INTERVAL * 2)
    assert first is not None and auth.list_tokens(conn)[0].last_used_at > first


def test_a_busy_catalog_skips_the_last_use_instead_of_waiting(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    secret = sessions.create_session(conn, "Firefox", "127.0.0.1", now=T0)
    writer = connect(tmp_path / "catalog.db")
    writer.execute("BEGIN IMMEDIATE")  # the indexer, mid-transaction
    try:
        later = T0 + TOUCH_INTERVAL * 2
        assert sessions.use_session(conn, secret, now=later) is not None
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    (info,) = sessions.list_sessions(conn, now=T0)
    assert info.last_used_at == info.created_at, "skipped, to be written on a later use"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
