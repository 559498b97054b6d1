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

The dot products run in ONNX Runtime (already Hachi's inference engine) because numpy converts
float16 to float32 with a scalar loop, about five times slower than the SIMD conversion inside
ONNX Runtime's Cast kernel. A tiny Scan graph (Cast + MatMul per cache-sized chunk) keeps each
converted chunk in L2 and costs one Python call per search.
"""

from __future__ import annotations

import io
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from types import TracebackType

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from hachi.errors import HachiError

ROW_DTYPE = np.dtype(np.float16)
MIN_CAPACITY_ROWS = 1024
"""The first growth of an empty file, so small libraries do not resize on every batch."""
MAX_GROWTH_ROWS = 262_144
"""Growth doubles the file but by at most this many rows, so a 1 GB file does not become 2 GB."""
KERNEL_CHUNK_ROWS = 512
"""Rows converted to float32 at a time inside the kernel: 1 MB at D=512, resident in L2."""
PARALLEL_MIN_ROWS = 65_536
"""Below this many rows a second thread costs more than it saves."""
SPARSE_ALLOWED_FRACTION = 0.125
"""When at most this share of rows is allowed, score just those rows instead of all."""
MAX_SEARCH_THREADS = 2


def vector_file(vectors_dir: Path, model: str, generation: int = 0) -> Path:
    """Where a model's vectors live; compaction moves them to the next generation's file."""
    suffix = f".{generation}" if generation else ""
    return vectors_dir / f"{model}{suffix}.f16"


class VectorStore:
    """The embedding matrix of one model; row indices are owned by the catalog."""

    def __init__(
        self, path: Path, dim: int, committed_rows: int, *, read_only: bool = False
    ) -> None:
        if dim <= 0 or committed_rows < 0:
            raise HachiError(f"invalid vector store shape: dim={dim}, rows={committed_rows}")
        self.path = Path(path)
        self.dim = dim
        self.rows = committed_rows
        self.read_only = read_only
        self._map: NDArray[np.float16] | None = None
        self._kernel: _DotKernel | None = None
        self._file = None if read_only else _open_for_writing(self.path)
        try:
            self._capacity = _rows_in_file(self.path, dim, read_only)
            _check_committed(self.path, self._capacity, committed_rows)
        except HachiError:
            self.close()
            raise

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

    def search(
        self,
        query: NDArray[np.float32],
        k: int,
        allowed: NDArray[np.bool_] | None = None,
        chunk_rows: int = 65536,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-k rows by cosine similarity, best first; ``allowed`` masks out other rows.

        ``chunk_rows`` bounds the rows gathered per step when only a few rows are allowed;
        the full scan is chunked inside the kernel.
        """
        candidates = self._candidates(allowed)
        if k <= 0 or (candidates is not None and len(candidates) == 0) or self.rows == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if candidates is None:
            scores = self.scores(query)
            if allowed is not None:
                scores[~allowed] = -np.inf
            ids = np.arange(self.rows, dtype=np.int64)
        else:
            ids = candidates
            scores = np.concatenate(
                [
                    self.scores(query, ids[i : i + chunk_rows])
                    for i in range(0, len(ids), max(1, chunk_rows))
                ]
            )
        return _top_k(ids, scores, k)

    def _candidates(self, allowed: NDArray[np.bool_] | None) -> NDArray[np.int64] | None:
        """Row ids to score one by one when the mask is sparse; None means scan everything."""
        if allowed is None:
            return None
        if allowed.shape != (self.rows,) or allowed.dtype != np.bool_:
            raise HachiError(f"allowed mask must be bool of shape ({self.rows},)")
        count = int(np.count_nonzero(allowed))
        if count > self.rows * SPARSE_ALLOWED_FRACTION:
            return None
        return np.flatnonzero(allowed).astype(np.int64)

    def _checked_ids(self, row_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        ids = np.asarray(row_ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise HachiError("row ids must be a 1-D integer array")
        ids = ids.astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() >= self.rows):
            raise HachiError(f"row id out of range 0..{self.rows - 1}")
        return ids

    def _dot_kernel(self) -> _DotKernel:
        if self._kernel is None:
            self._kernel = _DotKernel()
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
        return VectorStore(new_path, self.dim, len(ids))

    def close(self) -> None:
        self._map = None
        self._kernel = None
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


def _top_k(
    ids: NDArray[np.int64], scores: NDArray[np.float32], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Best k by score, ties broken by row id so results are stable; masked rows dropped."""
    if k < len(scores):
        part = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
        ids, scores = ids[part], scores[part]
    order = np.lexsort((ids, -scores))
    ids, scores = ids[order], scores[order]
    keep = scores > -np.inf
    return ids[keep], scores[keep].astype(np.float32)


class _DotKernel:
    """float16 matrix times float32 vector, float32 accumulate, in ONNX Runtime.

    The graph is a Scan over ``[chunks, KERNEL_CHUNK_ROWS, D]`` whose body casts one chunk to
    float32 and multiplies it by the query; the few leftover rows go through the same graph
    as one short chunk. Large matrices are split between two threads (ORT releases the GIL).
    """

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            _scan_dot_model(), options, providers=["CPUExecutionProvider"]
        )
        self._threads = max(1, min(MAX_SEARCH_THREADS, os.cpu_count() or 1))

    def scores(
        self, matrix: NDArray[np.float16], query: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        out = np.empty(len(matrix), np.float32)
        if len(matrix) < PARALLEL_MIN_ROWS or self._threads == 1:
            self._score_into(matrix, query, out)
            return out
        bounds = _split_rows(len(matrix), self._threads)
        with ThreadPoolExecutor(self._threads) as pool:
            jobs = [
                pool.submit(self._score_into, matrix[lo:hi], query, out[lo:hi]) for lo, hi in bounds
            ]
            for job in jobs:
                job.result()
        return out

    def _score_into(
        self, matrix: NDArray[np.float16], query: NDArray[np.float32], out: NDArray[np.float32]
    ) -> None:
        full = len(matrix) // KERNEL_CHUNK_ROWS * KERNEL_CHUNK_ROWS
        q = query.reshape(-1, 1)
        if full:
            chunks = matrix[:full].reshape(-1, KERNEL_CHUNK_ROWS, matrix.shape[1])
            out[:full] = self._run(chunks, q)
        if full < len(matrix):
            out[full:] = self._run(matrix[None, full:], q)

    def _run(self, chunks: NDArray[np.float16], q: NDArray[np.float32]) -> NDArray[np.float32]:
        inputs = {"X": np.ascontiguousarray(chunks), "Q": q}
        result = self._session.run(None, inputs)[0]
        return np.asarray(result, dtype=np.float32).reshape(-1)


def _split_rows(rows: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous ranges on chunk boundaries, so each thread runs whole chunks."""
    chunks = -(-rows // KERNEL_CHUNK_ROWS)
    edges = [min(rows, round(chunks * i / parts) * KERNEL_CHUNK_ROWS) for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in pairwise(edges) if hi > lo]


# -- the kernel's ONNX graph, serialised by hand so that running Hachi needs no `onnx` package.
# Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, ...).

_ONNX_FLOAT, _ONNX_FLOAT16 = 1, 10
_ATTR_INT, _ATTR_GRAPH = 2, 5
_IR_VERSION, _OPSET = 8, 17


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _tensor_info(name: str, elem_type: int, dims: tuple[str, ...]) -> bytes:
    shape = b"".join(_field_bytes(1, _field_bytes(2, d)) for d in dims)
    tensor = _field_int(1, elem_type) + _field_bytes(2, shape)
    return _field_bytes(1, name) + _field_bytes(2, _field_bytes(1, tensor))


def _node(op: str, inputs: tuple[str, ...], outputs: tuple[str, ...], attrs: bytes = b"") -> bytes:
    body = b"".join(_field_bytes(1, i) for i in inputs)
    body += b"".join(_field_bytes(2, o) for o in outputs)
    return body + _field_bytes(4, op) + attrs


def _attr_int(name: str, value: int) -> bytes:
    return _field_bytes(5, _field_bytes(1, name) + _field_int(3, value) + _field_int(20, _ATTR_INT))


def _attr_graph(name: str, graph: bytes) -> bytes:
    payload = _field_bytes(1, name) + _field_bytes(6, graph) + _field_int(20, _ATTR_GRAPH)
    return _field_bytes(5, payload)


def _graph(name: str, nodes: list[bytes], inputs: list[bytes], outputs: list[bytes]) -> bytes:
    body = b"".join(_field_bytes(1, n) for n in nodes) + _field_bytes(2, name)
    body += b"".join(_field_bytes(11, i) for i in inputs)
    return body + b"".join(_field_bytes(12, o) for o in outputs)


def _scan_dot_model() -> bytes:
    """Y[k, c, 1] = float32(X[k, c, d]) @ Q[d, 1], one Scan step per chunk of c rows."""
    body = _graph(
        "chunk",
        [
            _node("Cast", ("x",), ("xf",), _attr_int("to", _ONNX_FLOAT)),
            _node("MatMul", ("xf", "Q"), ("y",)),
        ],
        [_tensor_info("x", _ONNX_FLOAT16, ("c", "d"))],
        [_tensor_info("y", _ONNX_FLOAT, ("c", "one"))],
    )
    scan = _node(
        "Scan", ("X",), ("Y",), _attr_int("num_scan_inputs", 1) + _attr_graph("body", body)
    )
    graph = _graph(
        "scan_dot",
        [scan],
        [
            _tensor_info("X", _ONNX_FLOAT16, ("k", "c", "d")),
            _tensor_info("Q", _ONNX_FLOAT, ("d", "one")),
        ],
        [_tensor_info("Y", _ONNX_FLOAT, ("k", "c", "one"))],
    )
    opset = _field_bytes(1, "") + _field_int(2, _OPSET)
    return _field_int(1, _IR_VERSION) + _field_bytes(7, graph) + _field_bytes(8, opset)
