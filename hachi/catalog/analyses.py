"""What the models have done to each photo, and where their results live.

An analysis row per (photo, task, model) makes every model pass resumable and makes a
model change a re-run for free: photos with no row for the current model are the work
left. Vector rows are committed here only after the vector file was flushed, which is
what keeps the store consistent across a crash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from hachi.catalog.clock import utc_now
from hachi.catalog.photos import refresh_fts
from hachi.textnorm import fold


def photos_needing(
    conn: sqlite3.Connection, task: str, model: str, after_id: int, limit: int
) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT p.id, p.path FROM photos p WHERE p.id > ? AND NOT EXISTS ("
        " SELECT 1 FROM analyses a WHERE a.photo_id = p.id AND a.task = ? AND a.model = ?)"
        " ORDER BY p.id LIMIT ?",
        (after_id, task, model, limit),
    )
    return [(int(r[0]), str(r[1])) for r in rows]


def count_needing(conn: sqlite3.Connection, task: str, model: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM photos p WHERE NOT EXISTS ("
        " SELECT 1 FROM analyses a WHERE a.photo_id = p.id AND a.task = ? AND a.model = ?)",
        (task, model),
    ).fetchone()
    return int(row[0])


def count_done(conn: sqlite3.Connection, task: str, model: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM analyses WHERE task = ? AND model = ? AND status = 'ok'",
        (task, model),
    ).fetchone()
    return int(row[0])


def record_analysis(
    conn: sqlite3.Connection, photo_id: int, task: str, model: str, error: str | None = None
) -> None:
    conn.execute(
        "INSERT INTO analyses (photo_id, task, model, status, error, done_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(photo_id, task, model) DO UPDATE SET "
        "status = excluded.status, error = excluded.error, done_at = excluded.done_at",
        (photo_id, task, model, "failed" if error else "ok", error, utc_now()),
    )


# -- vectors ------------------------------------------------------------------------------


def committed_rows(conn: sqlite3.Connection, model: str, dim: int) -> int:
    conn.execute(
        "INSERT OR IGNORE INTO vector_sets (model, dim, rows_committed) VALUES (?, ?, 0)",
        (model, dim),
    )
    row = conn.execute(
        "SELECT rows_committed FROM vector_sets WHERE model = ?", (model,)
    ).fetchone()
    return int(row[0])


def vector_set_state(conn: sqlite3.Connection, model: str) -> tuple[int, int, int] | None:
    """(rows committed, generation, version): any change means cached row maps are stale."""
    row = conn.execute(
        "SELECT rows_committed, generation, version FROM vector_sets WHERE model = ?", (model,)
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]), int(row[2]))


def vector_generation(conn: sqlite3.Connection, model: str) -> int:
    row = conn.execute("SELECT generation FROM vector_sets WHERE model = ?", (model,)).fetchone()
    return 0 if row is None else int(row[0])


def store_vectors(
    conn: sqlite3.Connection, model: str, photo_ids: Sequence[int], first_row: int
) -> None:
    """Point photos at rows [first_row, first_row + n) and commit the new row count."""
    conn.executemany(
        "INSERT INTO photo_vectors (photo_id, model, row) VALUES (?, ?, ?) "
        "ON CONFLICT(photo_id, model) DO UPDATE SET row = excluded.row",
        [(pid, model, first_row + i) for i, pid in enumerate(photo_ids)],
    )
    conn.execute(
        "UPDATE vector_sets SET rows_committed = ? WHERE model = ?",
        (first_row + len(photo_ids), model),
    )


def vector_sets(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(model, dim, rows committed) of every vector file the catalog knows."""
    rows = conn.execute("SELECT model, dim, rows_committed FROM vector_sets").fetchall()
    return [(str(m), int(d), int(n)) for m, d, n in rows]


def vector_dim(conn: sqlite3.Connection, model: str) -> int:
    row = conn.execute("SELECT dim FROM vector_sets WHERE model = ?", (model,)).fetchone()
    return 0 if row is None else int(row[0])


FACE_VECTORS_PREFIX = "faces-"  # face embeddings of backend B live in vector set "faces-B"


def vector_owners(conn: sqlite3.Connection, model: str) -> list[tuple[int, int]]:
    """(owner id, row) of the live rows of a vector set, by ascending row; the owner is a
    face for face vector sets, else a photo."""
    if model.startswith(FACE_VECTORS_PREFIX):
        rows = conn.execute(
            "SELECT id, embedding_row FROM faces WHERE backend = ? ORDER BY embedding_row",
            (model.removeprefix(FACE_VECTORS_PREFIX),),
        ).fetchall()
    else:  # a video's own row is one of its moments' rows: each row once
        rows = conn.execute(
            "SELECT photo_id, row FROM photo_vectors WHERE model = ? UNION "
            "SELECT photo_id, row FROM video_moments WHERE model = ? ORDER BY row",
            (model, model),
        ).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def renumber_vectors(
    conn: sqlite3.Connection, model: str, owners: Sequence[tuple[int, int]], generation: int
) -> None:
    """Owners[i] now has row i of the vector file of ``generation`` (inside a transaction).

    Ascending old rows never collide with a row not yet renumbered (new index <= old).
    """
    if model.startswith(FACE_VECTORS_PREFIX):
        conn.executemany(
            "UPDATE faces SET embedding_row = ? WHERE id = ?",
            [(i, owner) for i, (owner, _) in enumerate(owners)],
        )
    else:
        moves = [(i, model, old) for i, (_, old) in enumerate(owners)]
        conn.executemany("UPDATE photo_vectors SET row = ? WHERE model = ? AND row = ?", moves)
        conn.executemany("UPDATE video_moments SET row = ? WHERE model = ? AND row = ?", moves)
    conn.execute(
        "UPDATE vector_sets SET generation = ?, rows_committed = ?, version = version + 1 "
        "WHERE model = ?",
        (generation, len(owners), model),
    )


def store_vector_count(conn: sqlite3.Connection, model: str, rows: int) -> None:
    """Commit a vector file's row count (after its rows were flushed)."""
    conn.execute("UPDATE vector_sets SET rows_committed = ? WHERE model = ?", (rows, model))


def vector_rows(
    conn: sqlite3.Connection, model: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(photo ids, their rows) of every live photo with a vector of this model."""
    rows = conn.execute(
        "SELECT photo_id, row FROM photo_vectors WHERE model = ? ORDER BY row", (model,)
    ).fetchall()
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    data = np.asarray(rows, dtype=np.int64)
    return data[:, 0], data[:, 1]


def store_moments(
    conn: sqlite3.Connection,
    model: str,
    photo_id: int,
    first_row: int,
    times: Sequence[float],
    poster: int,
) -> None:
    """A video's moments at rows [first_row, first_row + n), the poster's row as the
    video's own vector (what ``similar:`` and near-duplicates read), and the new count."""
    conn.execute("DELETE FROM video_moments WHERE photo_id = ? AND model = ?", (photo_id, model))
    conn.executemany(
        "INSERT INTO video_moments (photo_id, model, row, at_s) VALUES (?, ?, ?, ?)",
        [(photo_id, model, first_row + i, float(t)) for i, t in enumerate(times)],
    )
    store_vectors(conn, model, [photo_id], first_row + poster)
    conn.execute(
        "UPDATE vector_sets SET rows_committed = ? WHERE model = ?",
        (first_row + len(times), model),
    )


def moment_rows(
    conn: sqlite3.Connection, model: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """(photo ids, rows, start times) of every video moment with a vector of this model."""
    rows = conn.execute(
        "SELECT photo_id, row, at_s FROM video_moments WHERE model = ? ORDER BY row", (model,)
    ).fetchall()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    ids, found, times = zip(*rows, strict=True)
    return (
        np.asarray(ids, np.int64),
        np.asarray(found, np.int64),
        np.asarray(times, np.float32),
    )


def moments_of(conn: sqlite3.Connection, model: str, photo_id: int) -> list[float]:
    """Start times of a video's moments, in order (empty for a photo)."""
    rows = conn.execute(
        "SELECT at_s FROM video_moments WHERE photo_id = ? AND model = ? ORDER BY at_s",
        (photo_id, model),
    )
    return [float(r[0]) for r in rows]


def vector_row_of(conn: sqlite3.Connection, model: str, photo_id: int) -> int | None:
    row = conn.execute(
        "SELECT row FROM photo_vectors WHERE model = ? AND photo_id = ?", (model, photo_id)
    ).fetchone()
    return None if row is None else int(row[0])


# -- text in photos -------------------------------------------------------------------------


def store_ocr(conn: sqlite3.Connection, photo_id: int, text: str) -> None:
    conn.execute(
        "INSERT INTO ocr_text (photo_id, text, folded) VALUES (?, ?, ?) "
        "ON CONFLICT(photo_id) DO UPDATE SET text = excluded.text, folded = excluded.folded",
        (photo_id, text, " " + fold(text) + " "),
    )
    refresh_fts(conn, photo_id, ocr=text)


def ocr_text(conn: sqlite3.Connection, photo_id: int) -> str | None:
    row = conn.execute("SELECT text FROM ocr_text WHERE photo_id = ?", (photo_id,)).fetchone()
    return None if row is None else str(row[0])
