"""Append-only float16 embedding matrix on a numpy memmap, one file per embedding model.

Why this shape: a flat ``N x D`` file of L2-normalised float16 rows is the cheapest thing to
scan for cosine similarity and needs no server. Crash safety comes from the catalog, not from
this file: rows are written and fsynced *before* the catalog commits the new row count, so
rows past the committed count are leftovers of an interrupted write. They are ignored and
simply overwritten by the next append.

One process writes; any number may read the same file at the same time. A reader opens with
its own (possibly smaller) committed count and only ever looks at that prefix, which the
writer never rewrites. Compaction writes a new file and atomically renames it into place;
open readers keep the old inode until they reopen.

The dot products run in ONNX Runtime; ``hachi.vectors.kernel`` says why and how. Stores
opened with ``search_copy=True`` (CLIP vectors) also keep an int8 copy for fast approximate
scoring; ``hachi.vectors.q8`` describes it.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from hachi.errors import HachiError
from hachi.vectors import ivf as vectors_ivf
from hachi.vectors import q8 as vectors_q8
from hachi.vectors.kernel import DotKernel, Int8DotKernel
from hachi.vectors.q8 import CopyWriter, SearchCopy

ROW_DTYPE = np.dtype(np.float16)
MIN_CAPACITY_ROWS = 1024
"""The first growth of an empty file, so small libraries do not resize on every batch."""
MAX_GROWTH_ROWS = 262_144
"""Growth doubles the file but by at most this many rows, so a 1 GB file does not become 2 GB."""


def vector_file(vectors_dir: Path, model: str, generation: int = 0) -> Path:
    """Where a model's vectors live; compaction moves them to the next generation's file."""
    suffix = f".{generation}" if generation else ""
    return vectors_dir / f"{model}{suffix}.f16"


class VectorStore:
    """The embedding matrix of one model; row indices are owned by the catalog."""

    def __init__(
        self,
        path: Path,
        dim: int,
        committed_rows: int,
        *,
        read_only: bool = False,
        search_copy: bool = False,
    ) -> None:
        if dim <= 0 or committed_rows < 0:
            raise HachiError(f"invalid vector store shape: dim={dim}, rows={committed_rows}")
        self.path = Path(path)
        self.dim = dim
        self.rows = committed_rows
        self.read_only = read_only
        self.search_copy = search_copy
        self._map: NDArray[np.float16] | None = None
        self._kernel: DotKernel | None = None
        self._int8_kernel: Int8DotKernel | None = None
        self._copy: SearchCopy | None = None
        self._copy_writer: CopyWriter | None = None
        self._file = None if read_only else _open_for_writing(self.path)
        try:
            self._capacity = _rows_in_file(self.path, dim, read_only)
            _check_committed(self.path, self._capacity, committed_rows)
            if search_copy:
                self._open_copy()
        except HachiError:
            self.close()
            raise

    def _open_copy(self) -> None:
        """Writers bring the int8 copy up to date (building it once for older libraries);
        readers use it only when it covers and matches their committed rows."""
        if self._file is None:
            self._copy = SearchCopy.open_valid(self.path, self.matrix(), self.rows)
            return
        self._copy_writer = CopyWriter.ensure(self.path, self.matrix(), self.rows)

    # -- writing -------------------------------------------------------------------------

    def append(self, vectors: NDArray[np.floating]) -> int:
        """Store rows at the end and make them durable before the caller commits the count."""
        if self._file is None:
            raise HachiError(f"vector store {self.path} is open read-only")
        rows = _normalised_rows(vectors, self.dim)
        first = self.rows
        if len(rows) == 0:
            return first
        self._reserve(first + len(rows))
        self._file.seek(first * self._row_bytes)
        self._file.write(rows.tobytes())
        if self._copy_writer is not None:
            self._copy_writer.write(first, rows)
            self._copy_writer.sync()
        self._file.flush()
        os.fsync(self._file.fileno())
        self.rows = first + len(rows)
        return first

    def _reserve(self, needed: int) -> None:
        """Grow in large steps: fewer truncates, and readers' maps stay valid longer."""
        if needed <= self._capacity:
            return
        step = min(max(self._capacity, MIN_CAPACITY_ROWS), MAX_GROWTH_ROWS)
        capacity = max(needed, self._capacity + step)
        assert self._file is not None
        self._file.truncate(capacity * self._row_bytes)
        if self._copy_writer is not None:
            self._copy_writer.reserve(capacity)
        self._capacity = capacity
        self._map = None

    def refresh(self, committed_rows: int) -> None:
        """Move to a new committed count: a reader catching up with the writer, or a writer
        rolling back to the catalog's count after its commit failed (later appends overwrite)."""
        if committed_rows > self._capacity:
            self._capacity = _rows_in_file(self.path, self.dim, self.read_only)
            self._map = None
        if committed_rows > self._capacity or committed_rows < 0:
            raise HachiError(
                f"vector file {self.path} holds {self._capacity} rows, not {committed_rows}"
            )
        self.rows = committed_rows
        if self.search_copy and self._file is None:
            if self._copy is not None:
                self._copy.close()
            self._open_copy()

    # -- reading -------------------------------------------------------------------------

    def matrix(self) -> NDArray[np.float16]:
        """A read-only view of the committed rows, straight from the page cache."""
        if self._map is None:
            self._map = _map_rows(self.path, self.dim, self._capacity)
        return self._map[: self.rows]

    def read(self, row_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        ids = self._checked_ids(row_ids)
        return self.matrix()[ids].astype(np.float32)

    def scores(
        self, query: NDArray[np.float32], row_ids: NDArray[np.int64] | None = None
    ) -> NDArray[np.float32]:
        """Cosine similarity of the query with every committed row, or with the given rows."""
        q = _unit_query(query, self.dim)
        if row_ids is None:
            return self._dot_kernel().scores(self.matrix(), q)
        ids = self._checked_ids(row_ids)
        return self._dot_kernel().scores(self.matrix()[ids], q)

    def approximate_scores(self, query: NDArray[np.float32], start: int = 0) -> NDArray[np.float32]:
        """Cosine with every committed row from ``start`` on, from the int8 copy (within
        ~0.003 of ``scores``), or the exact scores when this store has no usable copy."""
        if self._copy is None:
            return self.scores(query, np.arange(start, self.rows, dtype=np.int64))
        q = _unit_query(query, self.dim)
        matrix, scales = self._copy.arrays(self.rows)
        q8, q_scale, offset = vectors_q8.quantize_query(q)
        return self.int8_kernel().scores(matrix[start:], scales[start:], q8, q_scale, offset)

    def int8_kernel(self) -> Int8DotKernel:
        """The int8 scorer (shared with the IVF index's probes)."""
        if self._int8_kernel is None:
            self._int8_kernel = Int8DotKernel()
        return self._int8_kernel

    @property
    def has_search_copy(self) -> bool:
        return self._copy is not None

    def _checked_ids(self, row_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        ids = np.asarray(row_ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise HachiError("row ids must be a 1-D integer array")
        ids = ids.astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() >= self.rows):
            raise HachiError(f"row id out of range 0..{self.rows - 1}")
        return ids

    def _dot_kernel(self) -> DotKernel:
        if self._kernel is None:
            self._kernel = DotKernel()
        return self._kernel

    @property
    def _row_bytes(self) -> int:
        return self.dim * ROW_DTYPE.itemsize

    # -- maintenance ---------------------------------------------------------------------

    def compact(self, live_rows: NDArray[np.int64], new_path: Path) -> VectorStore:
        """Write only the live rows, in the given order; row i of the result is live_rows[i].

        The new file appears atomically, so a crash leaves either the old or the new file.
        """
        ids = self._checked_ids(live_rows)
        new_path = Path(new_path)
        source = self.matrix()
        fd, tmp_name = tempfile.mkstemp(prefix=new_path.name + ".", dir=new_path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for i in range(0, len(ids), MAX_GROWTH_ROWS):
                    out.write(np.ascontiguousarray(source[ids[i : i + MAX_GROWTH_ROWS]]).tobytes())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, new_path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(new_path.parent)
        # opening as a writer builds the new file's int8 copy when the old one had one
        had_copy = vectors_q8.copy_paths(self.path)[0].exists()
        return VectorStore(new_path, self.dim, len(ids), search_copy=had_copy)

    def close(self) -> None:
        self._map = None
        self._kernel = self._int8_kernel = None
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        if self._copy_writer is not None:
            self._copy_writer.close()
            self._copy_writer = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def remove_vector_files(path: Path) -> None:
    """Delete a vector file, its int8 copy and its IVF index (after compaction replaced them)."""
    path.unlink(missing_ok=True)
    vectors_q8.remove(path)
    vectors_ivf.remove(path)


def _open_for_writing(path: Path) -> io.BufferedRandom:
    """Create the file if needed; the directory entry is fsynced so the file survives a crash."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        _fsync_dir(path.parent)
    return open(path, "r+b")  # owned by the store, closed in close()


def _check_committed(path: Path, rows_in_file: int, committed_rows: int) -> None:
    if rows_in_file < committed_rows:
        raise HachiError(
            f"vector file {path} holds {rows_in_file} rows but the catalog expects "
            f"{committed_rows}: the file is damaged; re-index to rebuild it",
            {"path": str(path), "rows": rows_in_file, "expected": committed_rows},
        )


def _rows_in_file(path: Path, dim: int, read_only: bool) -> int:
    if read_only and not path.exists():
        return 0
    size = path.stat().st_size
    row_bytes = dim * ROW_DTYPE.itemsize
    if size % row_bytes:
        raise HachiError(
            f"vector file {path} is {size} bytes, not a whole number of {dim}-d rows: "
            "it is damaged or belongs to another model",
            {"path": str(path), "bytes": size, "dim": dim},
        )
    return size // row_bytes


def _map_rows(path: Path, dim: int, rows: int) -> NDArray[np.float16]:
    if rows == 0:
        empty = np.empty((0, dim), ROW_DTYPE)
        empty.flags.writeable = False
        return empty
    return np.memmap(path, dtype=ROW_DTYPE, mode="r", shape=(rows, dim))


def _fsync_dir(directory: Path) -> None:
    """Make a new or renamed directory entry durable; not possible (nor needed) on Windows."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _normalised_rows(vectors: NDArray[np.floating], dim: int) -> NDArray[np.float16]:
    """Rows scaled to unit length, so that a dot product is a cosine similarity."""
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[1] != dim:
        raise HachiError(f"expected vectors of dimension {dim}, got shape {rows.shape}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise HachiError("cannot store a zero, infinite or NaN vector")
    return (rows / norms).astype(ROW_DTYPE)


def _unit_query(query: NDArray[np.float32], dim: int) -> NDArray[np.float32]:
    q = np.asarray(query, dtype=np.float32)
    if q.shape != (dim,):
        raise HachiError(f"query must have shape ({dim},), got {q.shape}")
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm == 0:
        raise HachiError("query vector is zero, infinite or NaN")
    return q / norm
