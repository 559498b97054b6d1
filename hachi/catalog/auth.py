"""Credentials in the catalog: the password hash, the cookie-signing secret, API tokens.

Only hashes are stored. API tokens are random 256-bit strings, so a fast hash (SHA-256)
is enough for them; the password is user-chosen and gets scrypt. Browser sessions are in
``sessions``; a new password ends all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hachi.catalog.clock import utc_now, utc_text
from hachi.catalog.db import transaction
from hachi.catalog.sessions import secret_hash, touch, touch_is_due

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8
PASSWORD_KEY = "auth.password"
SECRET_KEY = "auth.session_secret"
LOGIN_LINK_KEY = "auth.login_link."  # + the hash of a pending one-time link; value: expiry
MAX_PENDING_LINKS = 100


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _verify_hash(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest_hex) // 2,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def put_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def set_password(conn: sqlite3.Connection, password: str) -> None:
    """Store a new password and end every browser session, in one transaction."""
    set_password_hash(conn, hash_password(password))


def set_password_hash(conn: sqlite3.Connection, stored: str) -> None:
    """``set_password`` with the hash already made (by ``hash_password``)."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (PASSWORD_KEY, stored),
        )
        conn.execute("DELETE FROM sessions")


def has_password(conn: sqlite3.Connection) -> bool:
    return get_setting(conn, PASSWORD_KEY) is not None


def check_password(conn: sqlite3.Connection, password: str) -> bool:
    stored = get_setting(conn, PASSWORD_KEY)
    return stored is not None and _verify_hash(password, stored)


def session_secret(conn: sqlite3.Connection) -> str:
    """The key that signs session cookies, created once; rotating it logs everyone out."""
    secret = get_setting(conn, SECRET_KEY)
    if secret is None:
        with transaction(conn):
            conn.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
                (SECRET_KEY, secrets.token_hex(32)),
            )
        secret = get_setting(conn, SECRET_KEY)
    assert secret is not None
    return secret


def create_token(conn: sqlite3.Connection, name: str, expires_in: timedelta | None = None) -> str:
    """A new bearer token; only its hash is kept, so it is shown to the user once."""
    token = "hachi_" + secrets.token_urlsafe(32)
    expires_at = None if expires_in is None else utc_text(datetime.now(UTC) + expires_in)
    with transaction(conn):
        conn.execute(
            "INSERT INTO tokens (name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (name, secret_hash(token), utc_now(), expires_at),
        )
    return token


def _live_token(conn: sqlite3.Connection, token: str, now: datetime) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, last_used_at FROM tokens WHERE token_hash = ? "
        "AND (expires_at IS NULL OR expires_at > ?)",
        (secret_hash(token), utc_text(now)),
    ).fetchone()
    return row


def token_is_valid(conn: sqlite3.Connection, token: str) -> bool:
    return _live_token(conn, token, datetime.now(UTC)) is not None


def use_token(conn: sqlite3.Connection, token: str, now: datetime | None = None) -> int | None:
    """The id of the live token, or None; records its use (at most once a minute)."""
    moment = now or datetime.now(UTC)
    row = _live_token(conn, token, moment)
    if row is None:
        return None
    if touch_is_due(row["last_used_at"], moment):
        touch(
            conn, "UPDATE tokens SET last_used_at = ? WHERE id = ?", (utc_text(moment), row["id"])
        )
    return int(row["id"])


def list_tokens(conn: sqlite3.Connection) -> list[TokenInfo]:
    """Every token, expired ones included (they can be revoked, not used)."""
    rows = conn.execute(
        "SELECT id, name, created_at, last_used_at, expires_at FROM tokens ORDER BY id"
    )
    return [TokenInfo(**dict(r)) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int) -> bool:
    with transaction(conn):
        cur = conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,))
    return cur.rowcount > 0


def create_login_link(conn: sqlite3.Connection, ttl: timedelta, now: datetime | None = None) -> str:
    """A one-time login secret, kept (hashed) in the catalog so that a running server honours
    links minted by `hachi login-link` too; expired ones are swept, at most 100 are pending."""
    token = secrets.token_urlsafe(32)
    moment = now or datetime.now(UTC)
    pending = "substr(key, 1, ?) = ?"
    prefix = (len(LOGIN_LINK_KEY), LOGIN_LINK_KEY)
    with transaction(conn):
        conn.execute(
            f"DELETE FROM settings WHERE {pending} AND value <= ?", (*prefix, utc_text(moment))
        )
        conn.execute(
            f"DELETE FROM settings WHERE key IN (SELECT key FROM settings WHERE {pending} "
            "ORDER BY value DESC LIMIT -1 OFFSET ?)",
            (*prefix, MAX_PENDING_LINKS - 1),
        )
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)",
            (LOGIN_LINK_KEY + secret_hash(token), utc_text(moment + ttl)),
        )
    return token


def redeem_login_link(conn: sqlite3.Connection, token: str, now: datetime | None = None) -> bool:
    """True once for a live link; a second visit, or a late one, is refused."""
    key = LOGIN_LINK_KEY + secret_hash(token)
    with transaction(conn):
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        conn.execute("DELETE FROM settings WHERE key = ?", (key,))
    return row is not None and str(row[0]) > utc_text(now or datetime.now(UTC))
