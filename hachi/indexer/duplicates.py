"""Keeping the near-duplicate groups up to date, after every job and when idle.

New and changed photos get their fingerprints while they are extracted. A library indexed
before fingerprints existed gets them here, from each photo's stored grid thumbnail (the
upright image, already small: no original is read unless its thumbnail is gone), so an
upgrade costs a thumbnail decode per photo and no re-index.

Then the pending photos join groups: a few are compared with every photo (exact), many
(a first run, an upgrade) are grouped through buckets. Either way only the groups the
pending photos touch are rewritten, in one transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.catalog import analyses
from hachi.catalog import duplicates as dups_db
from hachi.catalog.db import transaction
from hachi.config import Settings
from hachi.errors import HachiError
from hachi.indexer.extract import MIN_DECODE_SIDE
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.grouping import (
    FULL_REGROUP_SHARE,
    NONE,
    ClipVectors,
    Fingerprints,
    Thresholds,
    bucket_pairs,
    group,
    link_kinds,
    pairs_with,
)
from hachi.media.decode import decode_image
from hachi.media.perceptual import chroma_array, color_layout, perceptual_hash
from hachi.media.thumbnails import GRID, thumbnail_path
from hachi.paths import real_path
from hachi.vectors import VectorStore, vector_file

log = logging.getLogger(__name__)
CHUNK = 256


def catch_up(
    conn: sqlite3.Connection,
    settings: Settings,
    rules: FolderRules | None = None,
    clip_model: str | None = None,
    stopping: threading.Event | None = None,
) -> int:
    """Fingerprints for photos without, then groups for pending photos; how many were
    grouped. Cheap when there is nothing to do (one COUNT)."""
    if dups_db.pending_count(conn) == 0:
        return 0
    fill_fingerprints(conn, settings, rules or FolderRules.for_settings(settings), stopping)
    if _stopping(stopping):
        return 0
    clip = clip_vectors(conn, settings.vectors_dir, clip_model)
    return update_groups(conn, clip, stopping=stopping)


def _stopping(stopping: threading.Event | None) -> bool:
    return stopping is not None and stopping.is_set()


def fill_fingerprints(
    conn: sqlite3.Connection,
    settings: Settings,
    rules: FolderRules,
    stopping: threading.Event | None = None,
) -> int:
    """Fingerprints, a chunk per transaction; ``stopping`` is looked at after each photo
    (a chunk is hundreds of decodes), and what was computed by then is kept."""
    done, after = 0, 0
    while chunk := dups_db.lacking_fingerprints(conn, after, CHUNK):
        after = chunk[-1][0]
        computed = []
        for pid, path, digest in chunk:
            computed.append((pid, *_fingerprint(settings, rules, path, digest)))
            if _stopping(stopping):
                break
        with transaction(conn):
            for photo_id, phash, chroma in computed:
                dups_db.store_fingerprint(conn, photo_id, phash, chroma)
        done += len(computed)
        if _stopping(stopping):
            break
    return done


def _fingerprint(
    settings: Settings, rules: FolderRules, path: str, digest: str
) -> tuple[int | None, bytes]:
    try:
        image = _upright(settings, rules, path, digest)
        return perceptual_hash(image), color_layout(image)
    except (HachiError, OSError, ValueError) as exc:
        log.info("no fingerprint for %s: %s", path, exc)
        return None, b""


def _upright(settings: Settings, rules: FolderRules, path: str, digest: str) -> Image.Image:
    thumb = thumbnail_path(settings.thumbs_dir, digest, GRID)
    if thumb.exists():
        with Image.open(thumb) as image:
            return image.convert("RGB")
    real = real_path(path)
    refusal = rules.refusal(real)
    if refusal is not None:
        raise OSError(f"not read: the file now leads into {refusal}")
    return decode_image(real.read_bytes(), MIN_DECODE_SIDE, Path(path).name).image


def clip_vectors(
    conn: sqlite3.Connection, vectors_dir: Path, model: str | None
) -> ClipVectors | None:
    """The CLIP model's vectors, as a memory map and each photo's row, when there are any."""
    if not model:
        return None
    state = analyses.vector_set_state(conn, model)
    if state is None or state[0] == 0:
        return None
    row = conn.execute("SELECT dim FROM vector_sets WHERE model = ?", (model,)).fetchone()
    path = vector_file(vectors_dir, model, analyses.vector_generation(conn, model))
    try:
        store = VectorStore(path, int(row[0]), state[0], read_only=True)
    except (HachiError, OSError):
        return None
    photo_ids, rows = analyses.vector_rows(conn, model)
    return ClipVectors(store.matrix(), dict(zip(photo_ids.tolist(), rows.tolist(), strict=True)))


def fingerprints(columns: dups_db.FingerprintColumns, clip: ClipVectors | None) -> Fingerprints:
    rows: NDArray[np.int64] | None = None
    if clip is not None:
        rows = np.array([clip.rows.get(int(i), -1) for i in columns.ids], dtype=np.int64)
    return Fingerprints(
        ids=columns.ids,
        phash=columns.phash,
        chroma=chroma_array(columns.chroma),
        content=columns.content,
        camera=columns.camera,
        taken=columns.taken,
        aspect=columns.aspect,
        video=columns.video,
        clip=clip.matrix if clip is not None else None,
        clip_rows=rows,
    )


def update_groups(
    conn: sqlite3.Connection,
    clip: ClipVectors | None = None,
    thresholds: Thresholds | None = None,
    full: bool = False,
    stopping: threading.Event | None = None,
) -> int:
    """Groups the pending photos (every photo when ``full``); how many were checked.

    The groups are written in one transaction at the end; ``stopping`` set before then
    writes nothing (0), and the photos stay pending for the next idle moment."""
    th = thresholds or Thresholds()
    columns = dups_db.fingerprint_columns(conn)
    pending = np.flatnonzero(~columns.grouped) if not full else np.arange(len(columns.ids))
    if len(pending) == 0:
        _mark_unfingerprinted(conn)
        return 0
    fp = fingerprints(columns, clip)
    if full or len(pending) > FULL_REGROUP_SHARE * len(fp):
        left, right = bucket_pairs(fp, th)
        earlier: list[NDArray[np.int64]] = []
        checked = np.arange(len(fp))
    else:
        left, right = pairs_with(fp, pending, th)
        linked = link_kinds(fp, left, right, th) != NONE  # only real links pull groups in
        left, right = left[linked], right[linked]
        position = {int(pid): k for k, pid in enumerate(fp.ids)}
        touched = set(fp.ids[pending].tolist()) | set(fp.ids[right].tolist())
        touched |= set(fp.ids[left].tolist())
        earlier = [
            np.array([position[m] for m in members if m in position], dtype=np.int64)
            for members in dups_db.groups_of(conn, touched).values()
        ]
        earlier = [rows for rows in earlier if len(rows) >= 2]
        involved = {int(p) for p in pending} | {int(r) for rows in earlier for r in rows}
        involved |= set(left.tolist()) | set(right.tolist())
        checked = np.array(sorted(involved), dtype=np.int64)
    if _stopping(stopping):
        return 0
    found = group(fp, th, left, right, earlier)
    if _stopping(stopping):
        return 0
    with transaction(conn):
        dups_db.replace_groups(
            conn,
            [int(fp.ids[k]) for k in checked],
            [([int(fp.ids[m]) for m in g.members], g.kind) for g in found],
        )
        _mark_unfingerprinted(conn)
    return len(checked)


def _mark_unfingerprinted(conn: sqlite3.Connection) -> None:
    """Photos whose fingerprint could not be computed have nothing to group."""
    conn.execute(
        "UPDATE photos SET grouped_hash = content_hash WHERE phash IS NULL "
        "AND chroma IS NOT NULL AND grouped_hash IS NOT content_hash"
    )
