"""Which CLIP image tower indexes a library, as measured on its own photos.

The int8 image tower is about four times cheaper than float32, but whether its embeddings
agree closely enough is a property of the model's weights and of the photos, so it is
measured once per model files (``fingerprint``) on the library's first photos and the
decision is kept here. While that check runs, ``tower_checks`` says how many photos' inputs
its scratch file holds for sure: the file is written before the transaction that counts
them, so after a kill the count is never ahead of the file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

INT8, FLOAT32 = "int8", "float32"


@dataclass(frozen=True)
class TowerChoice:
    """One recorded decision: the agreement measured and the tower it chose."""

    model: str
    fingerprint: str
    photos: int
    p1_cosine: float
    mean_cosine: float
    min_cosine: float
    tower: str  # INT8 or FLOAT32
    decided_at: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("model")
        return data


def get_tower_choice(conn: sqlite3.Connection, model: str, fingerprint: str) -> TowerChoice | None:
    row = conn.execute(
        "SELECT model, fingerprint, photos, p1_cosine, mean_cosine, min_cosine, tower,"
        " decided_at FROM tower_choices WHERE model = ? AND fingerprint = ?",
        (model, fingerprint),
    ).fetchone()
    return TowerChoice(*row) if row is not None else None


def record_tower_choice(conn: sqlite3.Connection, choice: TowerChoice) -> None:
    """The decision, and the end of its check; inside the caller's transaction, so both
    happen or neither does."""
    conn.execute(
        "INSERT OR REPLACE INTO tower_choices (model, fingerprint, photos, p1_cosine,"
        " mean_cosine, min_cosine, tower, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            choice.model,
            choice.fingerprint,
            choice.photos,
            choice.p1_cosine,
            choice.mean_cosine,
            choice.min_cosine,
            choice.tower,
            choice.decided_at,
        ),
    )
    conn.execute(
        "DELETE FROM tower_checks WHERE model = ? AND fingerprint = ?",
        (choice.model, choice.fingerprint),
    )


def checked_photos(conn: sqlite3.Connection, model: str, fingerprint: str) -> int:
    """How many photos the check's scratch file holds for sure (0: none started)."""
    row = conn.execute(
        "SELECT photos FROM tower_checks WHERE model = ? AND fingerprint = ?",
        (model, fingerprint),
    ).fetchone()
    return int(row[0]) if row is not None else 0


def set_checked_photos(conn: sqlite3.Connection, model: str, fingerprint: str, photos: int) -> None:
    """Inside the caller's transaction, after the scratch file holds ``photos`` records."""
    conn.execute(
        "INSERT INTO tower_checks (model, fingerprint, photos) VALUES (?, ?, ?)"
        " ON CONFLICT (model, fingerprint) DO UPDATE SET photos = excluded.photos",
        (model, fingerprint, photos),
    )
