"""Browser sessions, kept in the catalog so that the server can end them.

The cookie carries a random secret; only its SHA-256 is stored, so a copy of the catalog
logs nobody in. A session expires SESSION_LIFETIME after its last use. Its last use is
written at most once per TOUCH_INTERVAL, so a busy browser costs a write a minute, not one
per request, and only when the catalog is free: a request never waits on the indexer's
write lock to note it.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hachi.catalog.clock import utc_text
from hachi.catalog.db import BUSY_TIMEOUT_MS, transaction

SESSION_LIFETIME = timedelta(days=30)
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_CLIENT_LENGTH = 200
TOUCH_WAIT_MS = 100


@dataclass(frozen=True)
class SessionInfo:
    id: int
    created_at: str
    last_used_at: str
    expires_at: str
    client: str
    address: str


def secret_hash(secret: str) -> str:
    """Secrets are 256 random bits, so a fast hash is enough (no guessing to slow down)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def touch_is_due(last_used_at: str | None, now: datetime) -> bool:
    """Whether a credential's last use is stale enough to be written again."""
    return last_used_at is None or last_used_at < utc_text(now - TOUCH_INTERVAL)


def touch(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> None:
    """Record a use, best effort: when the catalog is busy writing, skip it this time."""
    conn.execute(f"PRAGMA busy_timeout = {TOUCH_WAIT_MS}")
    try:
        with transaction(conn):
            conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def create_session(
    conn: sqlite3.Connection, client: str, address: str, now: datetime | None = None
) -> str:
    """A new session; returns the secret for the cookie, which is never stored."""
    secret = secrets.token_urlsafe(32)
    moment = _now(now)
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (utc_text(moment),))
        conn.execute(
            "INSERT INTO sessions (secret_hash, created_at, last_used_at, expires_at, client, "
            "address) VALUES (?, ?, ?, ?, ?, ?)",
            (
                secret_hash(secret),
                utc_text(moment),
                utc_text(moment),
                utc_text(moment + SESSION_LIFETIME),
                client[:MAX_CLIENT_LENGTH],
                address[:MAX_CLIENT_LENGTH],
            ),
        )
    return secret


def use_session(conn: sqlite3.Connection, secret: str, now: datetime | None = None) -> int | None:
    """The id of the live session this secret opens, or None; records the use."""
    moment = _now(now)
    row = conn.execute(
        "SELECT id, last_used_at FROM sessions WHERE secret_hash = ? AND expires_at > ?",
        (secret_hash(secret), utc_text(moment)),
    ).fetchone()
    if row is None:
        return None
    if touch_is_due(row["last_used_at"], moment):
        touch(
            conn,
            "UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?",
            (utc_text(moment), utc_text(moment + SESSION_LIFETIME), row["id"]),
        )
    return int(row["id"])


def list_sessions(conn: sqlite3.Connection, now: datetime | None = None) -> list[SessionInfo]:
    """Live sessions, most recently used first."""
    rows = conn.execute(
        "SELECT id, created_at, last_used_at, expires_at, client, address FROM sessions "
        "WHERE expires_at > ? ORDER BY last_used_at DESC, id DESC",
        (utc_text(_now(now)),),
    )
    return [SessionInfo(**dict(r)) for r in rows]


def live_session_hashes(conn: sqlite3.Connection, now: datetime | None = None) -> list[str]:
    """The secret hashes of the sessions that have not ended or expired."""
    rows = conn.execute(
        "SELECT secret_hash FROM sessions WHERE expires_at > ?", (utc_text(_now(now)),)
    )
    return [str(r[0]) for r in rows]


def delete_session(conn: sqlite3.Connection, session_id: int) -> bool:
    with transaction(conn):
        cur = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
    return cur.rowcount > 0


def delete_session_with_secret(conn: sqlite3.Connection, secret: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE secret_hash = ?", (secret_hash(secret),))


def delete_all_sessions(conn: sqlite3.Connection) -> int:
    """Log out everywhere; expired rows go too. Returns how many sessions ended."""
    with transaction(conn):
        cur = conn.execute("DELETE FROM sessions")
    return cur.rowcount
