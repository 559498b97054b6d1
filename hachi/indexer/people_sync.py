"""Keeping people up to date: run the clustering over the catalog's faces and store it.

The clustering itself (hachi.indexer.people) is pure; this module reads faces, the user's
decisions and the embeddings, and writes the new assignments in one transaction, so a
crash leaves either the old people or the new ones.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hachi.catalog import analyses
from hachi.catalog import faces as faces_db
from hachi.catalog.db import transaction
from hachi.indexer import people
from hachi.vectors import VectorStore, vector_file


def update_people(
    conn: sqlite3.Connection, backend: str, vectors_dir: Path, full: bool = False
) -> int:
    """Assign new faces to people (or re-cluster everything unlocked); returns changes."""
    rows = faces_db.face_rows(conn, backend)
    model = f"{analyses.FACE_VECTORS_PREFIX}{backend}"
    state = analyses.vector_set_state(conn, model)
    if not rows or state is None:
        return 0
    path = vector_file(vectors_dir, model, state[1])
    dim = analyses.vector_dim(conn, model)
    with VectorStore(path, dim, state[0], read_only=True) as store:
        embeddings = store.matrix()
        records = [people.FaceRecord(*row) for row in rows]
        decisions = people.Decisions(
            rejected=faces_db.rejections(conn, backend), named=faces_db.named_people(conn)
        )
        params = people.params_for(backend)
        cluster = people.recluster_all if full else people.assign_faces
        with transaction(conn):
            changes = cluster(
                records, embeddings, decisions, params, lambda: faces_db.create_person(conn)
            )
            before = {r[0]: r[3] for r in rows}
            changed = {fid: pid for fid, pid in changes.items() if before.get(fid) != pid}
            faces_db.set_assignments(conn, changed)
            faces_db.drop_empty_people(conn)
            faces_db.refresh_covers(conn)
            faces_db.refresh_people_text(conn, faces_db.photos_of_faces(conn, list(changed)))
    return len(changed)
