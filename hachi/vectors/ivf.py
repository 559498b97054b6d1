"""An inverted-file (IVF) index beside a vector file: an approximate first pass for big libraries.

Why: scoring a query reads every row, so at a million photos even the int8 search copy
(``hachi.vectors.q8``) costs most of a query. Photos of one subject sit close together, so
the rows are grouped once around k-means centroids trained on the library itself, and a
query reads only the groups ("lists") whose centroids are nearest to it: a fixed share
of the rows, chosen by measurement (``bench/bench_semantic_search.py``), instead of all.
The engine re-scores what it shows exactly from the float16 rows, so the index only picks
candidates; what it can cost is recall, never wrong scores.

The float16 file stays the record. The index is a cache of it: one file,
``<model>[.<generation>].ivf``, holding the centroids, each list's rows in list order as
int8 codes (the same quantisation as the search copy) with their scales and row numbers,
and a fingerprint of the float16 rows it was built from. It covers the first ``rows``
rows; rows appended later are scored in full by the caller. It is ignored when missing,
damaged, or when the fingerprint no longer matches (the file was rewritten), and it is
written whole to a temporary file and renamed into place, so a crash leaves the old index
or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from hachi.vectors import q8 as vectors_q8

INDEX_SUFFIX = ".ivf"
MAGIC = b"HACHI-IVF-1\n"
ALIGN = 64
FINGERPRINT_ROWS = 64
TRAIN_ITERATIONS = 10
TRAIN_ROWS_PER_LIST = 32
"""k-means is trained on a sample of this many rows per list (64k rows for 2,000 lists):
enough to place centroids, and it keeps training a small part of a build."""
ASSIGN_CHUNK_ROWS = 16_384
ABANDONED_AFTER_S = 3600
GROUP_ROWS_BYTES = 16 << 20
"""Probed lists are scored in groups of about 16 MB of int8 rows: few kernel calls, and
never a copy of the whole probe."""


def index_path(f16_path: Path) -> Path:
    return f16_path.with_suffix(INDEX_SUFFIX)


def list_count(rows: int) -> int:
    """Twice the square root of the row count (632 at 100k, 2,000 at 1M). Finer lists lose
    less recall for the same rows read (measured at 100k: 1,000 lists reading 24 % of the
    rows found 0.970 of the top 100, 316 lists reading 23 % found 0.937), at the cost of a
    longer build."""
    return int(min(4096, max(16, round(2 * rows**0.5))))


def fingerprint(f16: NDArray[np.float16], rows: int) -> str:
    """A hash of evenly spread rows among the first ``rows``: a rewritten file (compaction
    into the same name, a restored backup) changes it, appending rows does not."""
    if rows == 0:
        return ""
    probe = np.unique(np.linspace(0, rows - 1, FINGERPRINT_ROWS).round().astype(np.int64))
    digest = hashlib.sha256(np.ascontiguousarray(f16[probe]).tobytes())
    digest.update(str(rows).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Probe:
    """The rows a query read through the index, with their int8 cosines."""

    rows: NDArray[np.int64]
    scores: NDArray[np.float32]


class IvfIndex:
    """A read-only map of one index file."""

    def __init__(self, path: Path, header: dict[str, object], base: int) -> None:
        self.path = path
        self.dim = int(header["dim"])  # type: ignore[call-overload]
        self.rows = int(header["rows"])  # type: ignore[call-overload]
        self.lists = int(header["lists"])  # type: ignore[call-overload]
        self.fingerprint = str(header["fingerprint"])
        sizes = _layout(self.dim, self.rows, self.lists)
        arrays: dict[str, np.ndarray] = {}
        offset = base
        for name, (dtype, shape) in sizes.items():
            count = int(np.prod(shape))
            mapped = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
            arrays[name] = mapped.view(np.ndarray)  # plain views: slicing a memmap is slow
            offset += _padded(count * np.dtype(dtype).itemsize)
        self.centroids: NDArray[np.float32] = arrays["centroids"]
        self.starts: NDArray[np.int64] = arrays["starts"]
        self.row_ids: NDArray[np.int64] = arrays["row_ids"]
        self.codes: NDArray[np.uint8] = arrays["codes"]
        self.scales: NDArray[np.float32] = arrays["scales"]

    @classmethod
    def open_valid(cls, f16_path: Path, f16: NDArray[np.float16], rows: int) -> IvfIndex | None:
        """The index of ``f16_path`` when it is whole and was built from these rows (it may
        cover fewer than ``rows``: later ones are appended and scored apart), else None."""
        path = index_path(f16_path)
        try:
            header, base = _read_header(path)
            index = cls(path, header, base)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if index.dim != f16.shape[1] or index.rows > rows:
            return None
        if index.fingerprint != fingerprint(f16, index.rows):
            return None
        return index

    def probe(self, query: NDArray[np.float32], share: float, kernel: _Int8Scorer) -> Probe:
        """Int8 cosines of the rows in the lists nearest ``query`` (unit length), taking
        lists in order of centroid similarity until ``share`` of the rows are read."""
        sizes = np.diff(self.starts)
        order = np.argsort(-(self.centroids @ query), kind="stable")
        covered = np.cumsum(sizes[order])
        wanted = min(self.rows, max(1, int(share * self.rows)))
        count = int(np.searchsorted(covered, wanted) + 1)
        chosen = np.sort(order[:count])
        runs = _runs(self.starts, chosen)
        rows = np.concatenate([self.row_ids[lo:hi] for lo, hi in runs])
        scores = np.empty(len(rows), np.float32)
        q8, q_scale, offset = vectors_q8.quantize_query(query)
        done = 0
        for group in _groups(runs, GROUP_ROWS_BYTES // self.dim):
            codes = _gather(self.codes, group)
            scales = _gather(self.scales, group)
            scores[done : done + len(codes)] = kernel.scores(codes, scales, q8, q_scale, offset)
            done += len(codes)
        return Probe(rows, scores)


class _Int8Scorer(Protocol):
    """What ``probe`` needs of ``hachi.vectors.kernel.Int8DotKernel``."""

    def scores(
        self,
        matrix: NDArray[np.uint8],
        row_scales: NDArray[np.float32],
        query: NDArray[np.int8],
        query_scale: float,
        offset: float,
    ) -> NDArray[np.float32]: ...


class BuildStopped(Exception):
    """``stopping`` was set: the build left off and wrote nothing."""


def _check(stopping: threading.Event | None) -> None:
    if stopping is not None and stopping.is_set():
        raise BuildStopped


def build(
    f16_path: Path,
    f16: NDArray[np.float16],
    *,
    seed: int = 0,
    stopping: threading.Event | None = None,
) -> Path:
    """Train, assign and write the index of the first ``len(f16)`` rows; returns its path.

    ``stopping`` is looked at between iterations and chunks (a build over a large library
    takes long enough to hold up a server's stop): BuildStopped, and nothing is left.

    Spherical k-means (centroids kept at unit length, rows assigned by dot product) on a
    fixed-seed sample, then every row goes to its nearest centroid. Memory stays at the
    sample plus one chunk of rows at a time.
    """
    rows, dim = f16.shape
    lists = min(list_count(rows), rows)
    centroids = train(f16, lists, seed, stopping)
    assign = np.empty(rows, np.int64)
    for lo in range(0, rows, ASSIGN_CHUNK_ROWS):
        _check(stopping)
        chunk = np.asarray(f16[lo : lo + ASSIGN_CHUNK_ROWS], dtype=np.float32)
        assign[lo : lo + len(chunk)] = np.argmax(chunk @ centroids.T, axis=1)
    order = np.argsort(assign, kind="stable").astype(np.int64)
    starts = np.zeros(lists + 1, np.int64)
    np.cumsum(np.bincount(assign, minlength=lists), out=starts[1:])
    header = {
        "dim": dim,
        "rows": rows,
        "lists": lists,
        "fingerprint": fingerprint(f16, rows),
    }
    path = index_path(f16_path)
    _remove_abandoned(path)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            _write_header(out, header)
            _write_array(out, centroids.astype(np.float32))
            _write_array(out, starts)
            _write_array(out, order)
            scales = np.empty(rows, np.float32)
            for lo in range(0, rows, ASSIGN_CHUNK_ROWS):
                _check(stopping)
                ids = order[lo : lo + ASSIGN_CHUNK_ROWS]
                codes, scales[lo : lo + len(ids)] = vectors_q8.quantize(f16[ids])
                out.write(codes.tobytes())
            _pad(out, rows * dim)
            _write_array(out, scales)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def train(
    f16: NDArray[np.float16], lists: int, seed: int, stopping: threading.Event | None = None
) -> NDArray[np.float32]:
    """Unit-length centroids by spherical k-means on a sample; empty lists are re-seeded."""
    rng = np.random.default_rng(seed)
    rows = len(f16)
    take = min(rows, lists * TRAIN_ROWS_PER_LIST)
    sample = np.asarray(f16[np.sort(rng.choice(rows, take, replace=False))], dtype=np.float32)
    centroids = sample[rng.choice(take, lists, replace=False)].copy()
    for _ in range(TRAIN_ITERATIONS):
        _check(stopping)
        nearest = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        empty = np.bincount(nearest, minlength=lists) == 0
        sums[empty] = sample[rng.choice(take, int(empty.sum()), replace=False)]
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return centroids.astype(np.float32)


def remove(f16_path: Path) -> None:
    index_path(f16_path).unlink(missing_ok=True)


def _remove_abandoned(path: Path) -> None:
    """Temporary files of builds killed with their process (a one-shot CLI search exits
    while its background build runs); old enough that no live build still writes them."""
    now = time.time()
    for temp in path.parent.glob(path.name + ".*"):
        try:
            if now - temp.stat().st_mtime > ABANDONED_AFTER_S:
                temp.unlink()
        except OSError:
            continue


# -- the file -----------------------------------------------------------------------------


def _layout(dim: int, rows: int, lists: int) -> dict[str, tuple[type, tuple[int, ...]]]:
    return {
        "centroids": (np.float32, (lists, dim)),
        "starts": (np.int64, (lists + 1,)),
        "row_ids": (np.int64, (rows,)),
        "codes": (np.uint8, (rows, dim)),
        "scales": (np.float32, (rows,)),
    }


def _padded(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def _write_header(out: object, header: dict[str, object]) -> None:
    text = json.dumps(header, sort_keys=True).encode()
    blob = MAGIC + struct.pack("<I", len(text)) + text
    out.write(blob + b"\0" * (_padded(len(blob)) - len(blob)))  # type: ignore[attr-defined]


def _read_header(path: Path) -> tuple[dict[str, object], int]:
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
            raise ValueError("not an index file")
        (length,) = struct.unpack("<I", head[len(MAGIC) :])
        header = json.loads(f.read(length))
    base = _padded(len(MAGIC) + 4 + length)
    dim, rows, lists = int(header["dim"]), int(header["rows"]), int(header["lists"])
    expected = base + sum(
        _padded(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        for dtype, shape in _layout(dim, rows, lists).values()
    )
    if path.stat().st_size != expected:
        raise ValueError("index file is truncated or padded")
    return header, base


def _write_array(out: object, array: np.ndarray) -> None:
    data = np.ascontiguousarray(array).tobytes()
    out.write(data)  # type: ignore[attr-defined]
    _pad(out, len(data))


def _pad(out: object, size: int) -> None:
    out.write(b"\0" * (_padded(size) - size))  # type: ignore[attr-defined]


def _groups(runs: list[tuple[int, int]], rows: int) -> list[list[tuple[int, int]]]:
    """Runs packed into groups of about ``rows`` rows: one kernel call per group, and
    never a copy of the whole probe (20 % of a million rows would be 100 MB)."""
    groups: list[list[tuple[int, int]]] = [[]]
    size = 0
    for lo, hi in runs:
        if size >= rows:
            groups.append([])
            size = 0
        groups[-1].append((lo, hi))
        size += hi - lo
    return groups


def _gather(array: np.ndarray, runs: list[tuple[int, int]]) -> np.ndarray:
    """The rows of ``runs``, without a copy when they are one range."""
    if len(runs) == 1:
        lo, hi = runs[0]
        return np.asarray(array[lo:hi])
    return np.concatenate([array[lo:hi] for lo, hi in runs])


def _runs(starts: NDArray[np.int64], chosen: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Row ranges of the chosen lists (ascending), adjacent lists merged into one range."""
    runs: list[tuple[int, int]] = []
    for lst in chosen.tolist():
        lo, hi = int(starts[lst]), int(starts[lst + 1])
        if hi == lo:
            continue
        if runs and runs[-1][1] == lo:
            runs[-1] = (runs[-1][0], hi)
        else:
            runs.append((lo, hi))
    return runs or [(0, 0)]


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
