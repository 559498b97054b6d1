"""Near-duplicate groups in the catalog: fingerprints in, groups out, and reading them.

The grouping itself (``hachi.indexer.grouping``) works on column arrays; this module loads
them and stores what it decided. A photo is *pending* while the content hash it was last
grouped with differs from its own (new photos have none), so a changed file is grouped
again and a moved one (same content, same id) is not. ``group_id`` is the smallest photo id
of a group, which keeps a group's id stable while photos join it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

KINDS = ("identical", "edited", "burst")


@dataclass
class FingerprintColumns:
    """Every fingerprinted photo, as arrays aligned by row."""

    ids: NDArray[np.int64]
    phash: NDArray[np.uint64]
    chroma: list[bytes]
    content: NDArray[np.int64]  # equal numbers: equal content hashes
    camera: NDArray[np.int64]  # -1: none
    taken: NDArray[np.float64]  # seconds of the metadata's date; NaN: from the file's mtime
    grouped: NDArray[np.bool_]  # grouped with its current content already
    aspect: NDArray[np.float64]  # log(width / height) as displayed; NaN: unknown
    video: NDArray[np.bool_]  # a video (fingerprinted from its poster frame)


def fingerprint_columns(conn: sqlite3.Connection) -> FingerprintColumns:
    rows = conn.execute(
        "SELECT id, phash, chroma, content_hash, COALESCE(camera_id, -1), "
        "CASE WHEN taken_source = 'file_mtime' THEN NULL ELSE substr(taken_at, 1, 19) END, "
        "grouped_hash IS content_hash, width, height, kind = 'video' FROM photos "
        "WHERE phash IS NOT NULL AND length(chroma) > 0 ORDER BY id"
    ).fetchall()
    hashes = [r[3] for r in rows]
    _, content = (
        np.unique(np.array(hashes, dtype=object), return_inverse=True)
        if rows
        else (
            None,
            np.zeros(0, dtype=np.int64),
        )
    )
    taken = np.array([r[5] or "NaT" for r in rows], dtype="datetime64[s]")
    seconds = taken.astype(np.int64).astype(np.float64)
    seconds[np.isnat(taken)] = np.nan
    return FingerprintColumns(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        phash=np.array([r[1] for r in rows], dtype=np.int64).view(np.uint64),
        chroma=[bytes(r[2]) for r in rows],
        content=np.asarray(content, dtype=np.int64),
        camera=np.array([r[4] for r in rows], dtype=np.int64),
        taken=seconds,
        grouped=np.array([bool(r[6]) for r in rows], dtype=bool),
        aspect=np.array(
            [np.log(r[7] / r[8]) if r[7] and r[8] else np.nan for r in rows], dtype=np.float64
        ),
        video=np.array([bool(r[9]) for r in rows], dtype=bool),
    )


def pending_count(conn: sqlite3.Connection) -> int:
    """Photos to fingerprint or to group: what a catch-up still has to do."""
    row = conn.execute(
        "SELECT COUNT(*) FROM photos WHERE (phash IS NULL AND chroma IS NULL) "
        "OR (phash IS NOT NULL AND grouped_hash IS NOT content_hash)"
    ).fetchone()
    return int(row[0])


def lacking_fingerprints(
    conn: sqlite3.Connection, after_id: int, limit: int
) -> list[tuple[int, str, str]]:
    """(id, path, content hash) of photos indexed before fingerprints existed."""
    rows = conn.execute(
        "SELECT id, path, content_hash FROM photos WHERE id > ? AND phash IS NULL "
        "AND chroma IS NULL ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def store_fingerprint(
    conn: sqlite3.Connection, photo_id: int, phash: int | None, chroma: bytes
) -> None:
    """``phash`` None (with an empty ``chroma``): could not be computed, not tried again."""
    conn.execute("UPDATE photos SET phash = ?, chroma = ? WHERE id = ?", (phash, chroma, photo_id))


def groups_of(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> dict[int, list[int]]:
    """group id -> every member, for the groups the photos are in."""
    ids = list(photo_ids)
    groups: dict[int, list[int]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        rows = conn.execute(
            "SELECT group_id, photo_id FROM duplicates WHERE group_id IN "
            f"(SELECT group_id FROM duplicates WHERE photo_id IN ({marks}))",
            chunk,
        )
        for group_id, photo_id in rows:
            groups.setdefault(int(group_id), []).append(int(photo_id))
    return groups


def replace_groups(
    conn: sqlite3.Connection,
    checked: Sequence[int],
    groups: Sequence[tuple[Sequence[int], str]],
) -> None:
    """Forget the groups of ``checked`` photos, store ``groups`` (which cover every group
    any of them belongs to now) and mark the checked photos grouped."""
    for start in range(0, len(checked), 500):
        chunk = list(checked[start : start + 500])
        marks = ",".join("?" for _ in chunk)
        conn.execute(f"DELETE FROM duplicates WHERE photo_id IN ({marks})", chunk)
        conn.execute(f"UPDATE photos SET grouped_hash = content_hash WHERE id IN ({marks})", chunk)
    rows = []
    for members, kind in groups:
        group_id = min(members)
        rows += [(int(m), int(group_id), kind) for m in members]
    conn.executemany(
        "INSERT INTO duplicates (photo_id, group_id, kind) VALUES (?, ?, ?) "
        "ON CONFLICT(photo_id) DO UPDATE SET group_id = excluded.group_id, kind = excluded.kind",
        rows,
    )
    drop_lone(conn)


def drop_lone(conn: sqlite3.Connection) -> None:
    """A group whose other photos were deleted is no group."""
    conn.execute(
        "DELETE FROM duplicates WHERE group_id IN "
        "(SELECT group_id FROM duplicates GROUP BY group_id HAVING COUNT(*) < 2)"
    )


def all_groups(
    conn: sqlite3.Connection, kinds: Sequence[str] = KINDS
) -> list[tuple[str, list[int]]]:
    """(kind, member ids) of every group of two or more photos, largest groups first."""
    marks = ",".join("?" for _ in kinds)
    rows = conn.execute(
        f"SELECT group_id, kind, photo_id FROM duplicates WHERE kind IN ({marks}) "
        "ORDER BY group_id, photo_id",
        list(kinds),
    )
    groups: dict[int, tuple[str, list[int]]] = {}
    for group_id, kind, photo_id in rows:
        groups.setdefault(int(group_id), (str(kind), []))[1].append(int(photo_id))
    listed = [g for g in groups.values() if len(g[1]) >= 2]
    listed.sort(key=lambda g: (-len(g[1]), g[1][0]))
    return listed


def stacks_of(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """photo id -> (group id, kind) for those of ``photo_ids`` in a group."""
    ids = list(photo_ids)
    found: dict[int, tuple[int, str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        rows = conn.execute(
            f"SELECT photo_id, group_id, kind FROM duplicates WHERE photo_id IN ({marks})", chunk
        )
        found.update({int(r[0]): (int(r[1]), str(r[2])) for r in rows})
    return found


def keeper_facts(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What a keeper is chosen by, per photo: pixels, bytes, format, dates, EXIF fields."""
    facts: dict[int, dict[str, Any]] = {}
    for start in range(0, len(photo_ids), 500):
        chunk = list(photo_ids[start : start + 500])
        marks = ",".join("?" for _ in chunk)
        rows = conn.execute(
            "SELECT id, width, height, size, mime, taken_at, taken_source, mtime_ns, content_hash, "
            "(camera_id IS NOT NULL) + (lens_id IS NOT NULL) + (focal_length IS NOT NULL) + "
            "(aperture IS NOT NULL) + (exposure_time IS NOT NULL) + (iso IS NOT NULL) + "
            "(latitude IS NOT NULL) + (taken_source IS NOT 'file_mtime') "
            f"FROM photos WHERE id IN ({marks})",
            chunk,
        )
        for r in rows:
            facts[int(r[0])] = {
                "id": int(r[0]),
                "content_hash": r[8],
                "width": r[1],
                "height": r[2],
                "size": r[3],
                "mime": r[4],
                "taken_at": r[5],
                "taken_source": r[6],
                "mtime_ns": r[7],
                "exif_fields": int(r[9]),
            }
    return facts
