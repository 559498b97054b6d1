"""CLIP similarity over the library: query vectors in, one score per photo out.

The map between photos and their rows in the model's vector file is cached in memory and
rebuilt only when the catalog says it changed (a trigger bumps a version on every change),
so a query costs one text encoding, one pass over the int8 search copy of the vectors
(approximate cosines, within ~0.003 of the float16 ones), and an exact re-scoring from the
float16 rows of just the photos near or above the relevance cutoff.

From ``ANN_MIN_ROWS`` photos on, the int8 pass can read only the lists of the library's IVF
index (``hachi.vectors.ivf``) nearest to the query instead of every row. The index is
built on a background thread when a snapshot finds it missing or too far behind, and a
snapshot without a usable index scores every row, as before: the index saves time and
can cost recall, never correctness of the scores shown.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.catalog import analyses
from hachi.errors import NotFound
from hachi.ml.clip.encoders import ClipModel
from hachi.vectors import VectorStore, vector_file
from hachi.vectors import ivf as vectors_ivf

log = logging.getLogger(__name__)

TEXT_CACHE_SIZE = 256
MARGIN_PER_ERROR = 3.0
MIN_MARGIN = 0.002
"""How far below the cutoff an int8 score may sit and still be re-scored exactly: three
times the largest int8 error seen on this query's exactly-scored sample (so it follows the
model's width and the data; measured 4.5e-4 std and 2.3e-3 max over a million 512-d rows)."""
ANN_MIN_ROWS = 50_000
"""Below this, reading every int8 row costs a few milliseconds: no index is built."""
PROBE_SHARE = 0.2
PROBE_MIN_ROWS = 50_000
"""A query reads the index's lists nearest to it until it has read this share of the rows,
and at least this many (a small library needs a larger share for the same recall); chosen
with ``bench/bench_semantic_search.py`` for recall@100 >= 0.99 on clustered vectors."""
STALE_TAIL_SHARE = 0.1
"""Rows appended since the index was built are scored in full; past this share of the
index's rows a new index is built (the old one serves meanwhile)."""


def refine_margin(approximate: NDArray[np.float32], exact: NDArray[np.float32]) -> float:
    """The margin for one query, from the same rows scored both ways."""
    scored = np.isfinite(approximate)  # rows an index probe did not read are -inf
    if not scored.any():
        return MIN_MARGIN
    error = np.abs(approximate[scored] - exact[scored]).max()
    return max(MIN_MARGIN, MARGIN_PER_ERROR * float(error))


def probe_share(rows: int, min_rows: int = PROBE_MIN_ROWS) -> float:
    """The share of an index of ``rows`` rows that one query reads."""
    return min(1.0, max(PROBE_SHARE, min_rows / max(rows, 1)))


def sort_ids(ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(ids ascending, their positions in ``ids``): what id lookups search in."""
    order = np.argsort(ids, kind="stable")
    return ids[order], order


@dataclass(frozen=True)
class Moments:
    """Video moments of a snapshot, grouped by video: each one's photo position, vector row
    and start time, and where each video's group starts.

    A video's score is its best moment's, so scoring takes the maximum over these rows on
    top of the photo rows (where a video's own row is its poster moment)."""

    positions: NDArray[np.int64]  # index into the snapshot's photo_ids, ascending
    rows: NDArray[np.int64]
    at_s: NDArray[np.float32]
    starts: NDArray[np.int64]  # index of each video's first moment

    @classmethod
    def empty(cls) -> Moments:
        none = np.zeros(0, np.int64)
        return cls(none, none, np.zeros(0, np.float32), none)

    @classmethod
    def grouped(
        cls, positions: NDArray[np.int64], rows: NDArray[np.int64], at_s: NDArray[np.float32]
    ) -> Moments:
        order = np.lexsort((rows, positions))
        positions, rows, at_s = positions[order], rows[order], at_s[order]
        starts = np.flatnonzero(np.r_[True, positions[1:] != positions[:-1]])
        return cls(positions, rows, at_s, starts.astype(np.int64))

    def best(self, every: NDArray[np.float32]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(video positions, index of each one's best moment) for one query's scores of
        every row: a maximum per group (``reduceat``), no sort, linear in the moments."""
        scores = every[self.rows]
        top = np.maximum.reduceat(scores, self.starts)
        counts = np.diff(np.r_[self.starts, len(scores)])
        hits = np.flatnonzero(scores == np.repeat(top, counts))
        group = np.searchsorted(self.starts, hits, side="right") - 1
        first = np.r_[True, group[1:] != group[:-1]]
        return self.positions[self.starts], hits[first]


@dataclass(frozen=True)
class Snapshot:
    """Photos with a vector, in row order, and the store to score them with."""

    photo_ids: NDArray[np.int64]
    rows: NDArray[np.int64]
    store: VectorStore | None
    state: tuple[int, int, int] | None
    id_sort: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None  # see sorted_ids
    rows_are_all: bool = False  # rows == arange(store.rows): no gather needed
    moments: Moments = field(default_factory=Moments.empty)
    ann: vectors_ivf.IvfIndex | None = None  # the IVF index, when valid for this store
    held_rows: dict[int, NDArray[np.float32]] = field(default_factory=dict, compare=False)
    """The cutoff sample's rows in float32, by sample size: gathered once, not every query
    (10 MB at 512-d; a plain BLAS product then scores them in ~0.3 ms)."""

    @property
    def approximate(self) -> bool:
        """Scores from ``SemanticIndex.scores`` are int8 approximations to refine."""
        return self.store is not None and (self.store.has_search_copy or self.ann is not None)

    def sorted_ids(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(photo ids ascending, their positions in this snapshot), for id lookups."""
        return self.id_sort if self.id_sort is not None else sort_ids(self.photo_ids)

    def positions_of(self, rows: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """(positions in this snapshot, whether the row is live) for rows of the file."""
        if self.rows_are_all:
            return rows, np.ones(len(rows), bool)
        where = np.clip(np.searchsorted(self.rows, rows), 0, max(0, len(self.rows) - 1))
        return where, self.rows[where] == rows if len(self.rows) else np.zeros(len(rows), bool)


class SemanticIndex:
    def __init__(
        self,
        clip: ClipModel,
        vectors_dir: Path,
        *,
        use_index: bool = True,
        index_min_rows: int = ANN_MIN_ROWS,
        probe_min_rows: int = PROBE_MIN_ROWS,
    ) -> None:
        self.clip = clip
        self.model = clip.name
        self.vectors_dir = vectors_dir
        self.use_index = use_index  # False: every query reads every row (tests, benches)
        self.index_min_rows = index_min_rows
        self.probe_min_rows = probe_min_rows
        self._builder: threading.Thread | None = None
        self._stopping = threading.Event()  # set: the running build leaves off
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
        store = VectorStore(path, self.clip.embed_dim, state[0], read_only=True, search_copy=True)
        every_row = len(rows) == store.rows and bool(np.all(rows == np.arange(len(rows))))
        ann = None
        if self.use_index and store.rows >= self.index_min_rows:
            ann = vectors_ivf.IvfIndex.open_valid(path, store.matrix(), store.rows)
            if ann is None or store.rows - ann.rows > STALE_TAIL_SHARE * ann.rows:
                self._start_build(path, store.rows, state)
        id_sort = sort_ids(ids)
        moments = _moments(conn, self.model, id_sort)
        return Snapshot(ids, rows, store, state, id_sort, every_row, moments, ann=ann)

    # -- the IVF index ---------------------------------------------------------------------

    def _start_build(self, path: Path, rows: int, state: tuple[int, int, int]) -> None:
        """Build the index on a daemon thread (called with the lock held); one at a time."""
        if self._builder is not None and self._builder.is_alive():
            return
        self._stopping = threading.Event()
        self._builder = threading.Thread(
            target=self._build,
            args=(path, rows, state, self._stopping),
            name="hachi-ivf",
            daemon=True,
        )
        self._builder.start()

    def _build(
        self, path: Path, rows: int, state: tuple[int, int, int], stopping: threading.Event
    ) -> None:
        try:
            with VectorStore(path, self.clip.embed_dim, rows, read_only=True) as store:
                vectors_ivf.build(path, store.matrix(), stopping=stopping)
        except vectors_ivf.BuildStopped:
            return  # the next start builds it again
        except Exception:  # a failed build costs speed only: searches score every row
            log.exception("building the vector index %s failed", path)
            return
        if not path.exists():  # compacted away meanwhile: the index would outlive its file
            vectors_ivf.remove(path)
            return
        with self._lock:
            snap = self._snapshot
            if snap.state == state and snap.store is not None:
                ann = vectors_ivf.IvfIndex.open_valid(path, snap.store.matrix(), snap.store.rows)
                self._snapshot = replace(snap, ann=ann, held_rows=snap.held_rows)

    def building(self) -> bool:
        return self._builder is not None and self._builder.is_alive()

    def stop_build(self) -> None:
        """Let the background build leave off, between chunks (the process is ending; a
        later snapshot starts it again)."""
        self._stopping.set()

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for a background build to end; True when none is running any more."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
        return builder is None or not builder.is_alive()

    def close(self) -> None:
        """Unmap the vector files (a reopened snapshot maps them again)."""
        with self._lock:
            if self._snapshot.store is not None:
                self._snapshot.store.close()
            self._snapshot = Snapshot(np.zeros(0, np.int64), np.zeros(0, np.int64), None, None)

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

    def scores(
        self, snap: Snapshot, query: NDArray[np.float32], probe: bool = False
    ) -> NDArray[np.float32]:
        """Approximate cosine of every photo of the snapshot, aligned with snap.photo_ids
        (exact where the vectors have no int8 copy yet). With ``probe`` and a valid IVF
        index, only the rows the index reads are scored; the others get -inf."""
        if snap.store is None or len(snap.rows) == 0:
            return np.zeros(0, dtype=np.float32)
        if probe and snap.ann is not None:
            return self._probed_scores(snap, query.astype(np.float32))
        # Scoring the whole file and picking live rows beats gathering rows first: a
        # gather copies the matrix, and live rows are nearly all rows anyway.
        scores = snap.store.approximate_scores(query.astype(np.float32))
        return scores if snap.rows_are_all else scores[snap.rows]

    def moment_scores(
        self, snap: Snapshot, query: NDArray[np.float32], probe: bool = False
    ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32] | None]:
        """``scores``, with each video raised to its best moment's score, from one pass over
        the vector file; also the rows to re-score exactly (the snapshot's own array when
        there are no videos, so cached samples still apply) and, aligned with the snapshot,
        when each video's best moment starts (NaN for photos; None without videos)."""
        moments = snap.moments
        if snap.store is None or len(snap.rows) == 0 or len(moments.rows) == 0:
            return self.scores(snap, query, probe), snap.rows, None
        q = query.astype(np.float32)
        if probe and snap.ann is not None:
            # The index's rows for photos; every moment scored exactly (moments are few).
            scores = self._probed_scores(snap, q)
            every = np.full(snap.store.rows, -np.inf, dtype=np.float32)
            every[moments.rows] = snap.store.scores(q, moments.rows)
        else:
            every = snap.store.approximate_scores(q)
            scores = every[snap.rows]
        videos, best = moments.best(every)
        scores[videos] = every[moments.rows[best]]
        rows = snap.rows.copy()
        rows[videos] = moments.rows[best]
        at_s = np.full(len(rows), np.nan, np.float32)
        at_s[videos] = moments.at_s[best]
        return scores, rows, at_s

    def _probed_scores(self, snap: Snapshot, query: NDArray[np.float32]) -> NDArray[np.float32]:
        assert snap.store is not None and snap.ann is not None
        store, index = snap.store, snap.ann
        unit = query / max(float(np.linalg.norm(query)), 1e-12)
        share = probe_share(index.rows, self.probe_min_rows)
        found = index.probe(unit, share, store.int8_kernel())
        rows, scores = found.rows, found.scores
        if index.rows < store.rows:  # appended since the index was built: all of them
            tail = np.arange(index.rows, store.rows, dtype=np.int64)
            rows = np.concatenate([rows, tail])
            scores = np.concatenate([scores, store.approximate_scores(unit, index.rows)])
        out = np.full(len(snap.rows), -np.inf, dtype=np.float32)
        positions, live = snap.positions_of(rows)
        out[positions[live]] = scores[live]
        return out

    def sample_scores(
        self,
        snap: Snapshot,
        query: NDArray[np.float32],
        rows: NDArray[np.int64],
        positions: NDArray[np.int64],
    ) -> NDArray[np.float32]:
        """Exact scores of ``rows[positions]``; when ``rows`` are the snapshot's own (no
        photo excluded), the fixed cutoff sample's rows are kept in memory between queries."""
        if snap.store is None or rows is not snap.rows:
            return self.exact_scores(snap, query, rows[positions])
        with self._lock:
            held = snap.held_rows.get(len(positions))
            if held is None:
                held = snap.store.read(rows[positions])
                snap.held_rows[len(positions)] = held
        q = query.astype(np.float32)
        return held @ (q / max(float(np.linalg.norm(q)), 1e-12))

    def exact_scores(
        self, snap: Snapshot, query: NDArray[np.float32], rows: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """Cosine from the float16 vectors of the given rows (of the vector file)."""
        if snap.store is None or len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        return snap.store.scores(query.astype(np.float32), rows)


def _moments(
    conn: sqlite3.Connection, model: str, id_sort: tuple[NDArray[np.int64], NDArray[np.int64]]
) -> Moments:
    """The model's video moments, each placed at its video's position in the snapshot
    (moments of a video without its own row, mid-write, are left out)."""
    ids, rows, at_s = analyses.moment_rows(conn, model)
    if len(ids) == 0:
        return Moments.empty()
    ascending, order = id_sort
    where = np.clip(np.searchsorted(ascending, ids), 0, max(len(ascending) - 1, 0))
    found = ascending[where] == ids if len(ascending) else np.zeros(len(ids), bool)
    return Moments.grouped(order[where[found]], rows[found], at_s[found])
