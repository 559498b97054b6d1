"""Credentials in the catalog: the password hash, the session secret and API tokens.

Only hashes are stored. API tokens are random 256-bit strings, so a fast hash (SHA-256)
is enough for them; the password is user-chosen and gets scrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from hachi.catalog.clock import utc_now
from hachi.catalog.db import transaction

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PASSWORD_KEY = "auth.password"
SECRET_KEY = "auth.session_secret"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    created_at: str
    last_used_at: str | None


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
    put_setting(conn, PASSWORD_KEY, hash_password(password))


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


def rotate_session_secret(conn: sqlite3.Connection) -> None:
    put_setting(conn, SECRET_KEY, secrets.token_hex(32))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: sqlite3.Connection, name: str) -> str:
    """A new bearer token; only its hash is kept, so it is shown to the user once."""
    token = "hachi_" + secrets.token_urlsafe(32)
    with transaction(conn):
        conn.execute(
            "INSERT INTO tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
            (name, _token_hash(token), utc_now()),
        )
    return token


def token_is_valid(conn: sqlite3.Connection, token: str) -> bool:
    row = conn.execute(
        "SELECT id FROM tokens WHERE token_hash = ?", (_token_hash(token),)
    ).fetchone()
    return row is not None


def list_tokens(conn: sqlite3.Connection) -> list[TokenInfo]:
    rows = conn.execute("SELECT id, name, created_at, last_used_at FROM tokens ORDER BY id")
    return [TokenInfo(r[0], r[1], r[2], r[3]) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int) -> bool:
    with transaction(conn):
        cur = conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,))
    return cur.rowcount > 0
