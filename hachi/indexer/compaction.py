"""Compacting vector files once deleted photos and faces have left many dead rows.

Vector files are append-only: a removed photo's row stays as a tombstone. When more than
a third of a file is dead, its live rows are copied in order to the next generation's file
(written and fsynced beside the old one), then one transaction renumbers the owners and
switches the catalog to the new generation. A crash before that commit leaves the old
generation in use and a stray file that the next compaction overwrites.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from hachi.catalog import analyses
from hachi.catalog.db import transaction
from hachi.vectors import VectorStore, remove_vector_files, vector_file

DEAD_SHARE = 1 / 3
MIN_ROWS = 1024


def compact_all(conn: sqlite3.Connection, vectors_dir: Path, min_rows: int = MIN_ROWS) -> list[str]:
    """Compact every vector set worth compacting; returns the models compacted."""
    done = []
    for model, dim, committed in analyses.vector_sets(conn):
        owners = analyses.vector_owners(conn, model)
        if committed >= min_rows and len(owners) < (1 - DEAD_SHARE) * committed:
            compact(conn, vectors_dir, model, dim, committed, owners)
            done.append(model)
    return done


def compact(
    conn: sqlite3.Connection,
    vectors_dir: Path,
    model: str,
    dim: int,
    committed: int,
    owners: list[tuple[int, int]],
) -> None:
    generation = analyses.vector_generation(conn, model)
    old_path = vector_file(vectors_dir, model, generation)
    new_path = vector_file(vectors_dir, model, generation + 1)
    live = np.asarray([row for _, row in owners], dtype=np.int64)
    with VectorStore(old_path, dim, committed, read_only=True) as store:
        store.compact(live, new_path).close()
    with transaction(conn):
        analyses.renumber_vectors(conn, model, owners, generation + 1)
    remove_vector_files(old_path)
