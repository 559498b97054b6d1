"""CLIP similarity over the library: query vectors in, one score per photo out.

The map between photos and their rows in the model's vector file is cached in memory and
rebuilt only when the catalog says it changed (a trigger bumps a version on every change),
so a query costs one text encoding and one pass over the float16 matrix.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.catalog import analyses
from hachi.errors import NotFound
from hachi.ml.clip.encoders import ClipModel
from hachi.vectors import VectorStore, vector_file

TEXT_CACHE_SIZE = 256


@dataclass(frozen=True)
class Snapshot:
    """Photos with a vector, in row order, and the store to score them with."""

    photo_ids: NDArray[np.int64]
    rows: NDArray[np.int64]
    store: VectorStore | None
    state: tuple[int, int, int] | None


class SemanticIndex:
    def __init__(self, clip: ClipModel, vectors_dir: Path) -> None:
        self.clip = clip
        self.model = clip.name
        self.vectors_dir = vectors_dir
        self._lock = threading.Lock()
        self._snapshot = Snapshot(np.zeros(0, np.int64), np.zeros(0, np.int64), None, None)
        self._texts: OrderedDict[str, NDArray[np.float32]] = OrderedDict()

    def snapshot(self, conn: sqlite3.Connection) -> Snapshot:
        state = analyses.vector_set_state(conn, self.model)
        with self._lock:
            if state != self._snapshot.state:
                self._snapshot = self._load(conn, state)
            return self._snapshot

    def _load(self, conn: sqlite3.Connection, state: tuple[int, int, int] | None) -> Snapshot:
        if self._snapshot.store is not None:
            self._snapshot.store.close()
        ids, rows = analyses.vector_rows(conn, self.model)
        if state is None or state[0] == 0:
            return Snapshot(ids, rows, None, state)
        path = vector_file(self.vectors_dir, self.model, state[1])
        store = VectorStore(path, self.clip.embed_dim, state[0], read_only=True)
        return Snapshot(ids, rows, store, state)

    def text_vector(self, text: str) -> NDArray[np.float32]:
        key = " ".join(text.split()).casefold()
        with self._lock:
            cached = self._texts.get(key)
            if cached is not None:
                self._texts.move_to_end(key)
                return cached
        vector = self.clip.encode_texts([text])[0]
        with self._lock:
            self._texts[key] = vector
            while len(self._texts) > TEXT_CACHE_SIZE:
                self._texts.popitem(last=False)
        return vector

    def image_vector(self, image: Image.Image) -> NDArray[np.float32]:
        return self.clip.encode_images([image])[0]

    def photo_vector(self, conn: sqlite3.Connection, photo_id: int) -> NDArray[np.float32]:
        snap = self.snapshot(conn)
        row = analyses.vector_row_of(conn, self.model, photo_id)
        if row is None or snap.store is None:
            raise NotFound(f"photo {photo_id} has no {self.model} embedding yet")
        return snap.store.read(np.asarray([row], dtype=np.int64))[0]

    def scores(self, snap: Snapshot, query: NDArray[np.float32]) -> NDArray[np.float32]:
        """Cosine similarity of every photo of the snapshot, aligned with snap.photo_ids."""
        if snap.store is None or len(snap.rows) == 0:
            return np.zeros(0, dtype=np.float32)
        # Scoring the whole file and picking live rows beats gathering rows first: a
        # gather copies the float16 matrix, and live rows are nearly all rows anyway.
        return snap.store.scores(query.astype(np.float32))[snap.rows]
