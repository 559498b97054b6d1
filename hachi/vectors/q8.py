"""The int8 search copy that sits beside a float16 vector file.

Why a copy: scoring a query reads every row, so the bytes per row set the latency. The
float16 file (the record, 1 KB a row at 512-d) takes ~110 ms per query at a million
photos; int8 rows with one scale each take a third of that through ONNX Runtime's integer
matrix product. int8 scores are close to the float16 ones (about 3e-4 apart), so the
engine picks candidates with them and re-scores just those from the float16 rows.

Layout, for ``<model>[.<generation>].f16``: ``.q8`` holds ``N x D`` bytes, each row's
components scaled so its largest is +-127 and stored plus 128 (uint8, the operand ORT's
fast integer kernel takes); ``.q8s`` holds one float32 per row, ``1 / ||row||`` of the
integer row, so a dot product with a quantised query becomes a cosine.

Both files follow the float16 file's rules: the writer writes and fsyncs rows before the
catalog commits their count, and only committed rows are ever read. A copy that is missing,
too short, or does not match its float16 file (checked on the first and last committed
rows) is rebuilt by the writer into a temporary file and renamed into place, and ignored
by readers, which then score from float16: a damaged copy costs speed, never answers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Q8_SUFFIX = ".q8"
SCALE_SUFFIX = ".q8s"
OFFSET = 128  # stored byte = quantised value + OFFSET, so rows are uint8
LEVELS = 127
BUILD_CHUNK_ROWS = 65_536


def copy_paths(f16_path: Path) -> tuple[Path, Path]:
    """The two files of the copy of ``f16_path``."""
    return f16_path.with_suffix(Q8_SUFFIX), f16_path.with_suffix(SCALE_SUFFIX)


def quantize(rows: NDArray[np.floating]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """(stored bytes, 1 / integer norm) per row; zero rows get scale 0 and score 0."""
    values = np.asarray(rows, dtype=np.float32)
    peak = np.abs(values).max(axis=1, keepdims=True)
    scaled = np.rint(values * (LEVELS / np.maximum(peak, 1e-30)))
    # Squares of integers up to 127 summed over D <= 1024 stay below 2**24: exact in float32.
    exact = np.float32 if values.shape[1] <= 1024 else np.float64
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled, dtype=exact))
    scales = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0.0).astype(np.float32)
    return (scaled + OFFSET).astype(np.uint8), scales


def quantize_query(query: NDArray[np.float32]) -> tuple[NDArray[np.int8], float, float]:
    """(int8 column, 1 / its norm, the offset correction OFFSET * sum) for the kernel."""
    q = np.asarray(query, dtype=np.float32)
    peak = float(np.abs(q).max())
    ints = np.rint(q * (LEVELS / max(peak, 1e-30))).astype(np.int8)
    norm = float(np.linalg.norm(ints.astype(np.float32)))
    inverse = 1.0 / norm if norm > 0 else 0.0
    return ints.reshape(-1, 1), inverse, float(OFFSET * int(ints.astype(np.int64).sum()))


class SearchCopy:
    """Memory maps of one copy, sized like the float16 file (same capacity in rows)."""

    def __init__(self, f16_path: Path, dim: int, capacity: int) -> None:
        self.q8_path, self.scale_path = copy_paths(f16_path)
        self.dim = dim
        self.capacity = capacity
        self._q8: NDArray[np.uint8] | None = None
        self._scales: NDArray[np.float32] | None = None

    @classmethod
    def open_valid(cls, f16_path: Path, f16: NDArray[np.float16], rows: int) -> SearchCopy | None:
        """The copy if it covers and matches the first ``rows`` float16 rows, else None."""
        capacity = _capacity(f16_path, f16.shape[1])
        if capacity is None or capacity < rows:
            return None
        copy = cls(f16_path, f16.shape[1], capacity)
        return copy if copy.matches(f16, rows) else None

    def matches(self, f16: NDArray[np.float16], rows: int) -> bool:
        """Spot check: the first and last committed rows re-quantise to what is stored."""
        if rows == 0:
            return True
        probe = np.unique(np.asarray([0, rows - 1], dtype=np.int64))
        expected_q8, expected_scales = quantize(f16[probe])
        q8, scales = self.arrays(rows)
        same_rows = np.array_equal(q8[probe], expected_q8)
        return same_rows and bool(np.array_equal(scales[probe], expected_scales))

    def arrays(self, rows: int) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
        """Read-only views of the first ``rows`` rows and scales."""
        if self._q8 is None or self._scales is None:
            self._q8, self._scales = _map(self.q8_path, self.scale_path, self.dim, self.capacity)
        return self._q8[:rows], self._scales[:rows]

    def close(self) -> None:
        self._q8 = self._scales = None


class CopyWriter:
    """Keeps the copy in step with a float16 writer: same offsets, same growth, same fsync."""

    def __init__(self, f16_path: Path, dim: int) -> None:
        q8_path, scale_path = copy_paths(f16_path)
        self.dim = dim
        self._q8 = open(q8_path, "r+b")  # noqa: SIM115 - owned here, closed in close()
        self._scales = open(scale_path, "r+b")  # noqa: SIM115

    @classmethod
    def ensure(cls, f16_path: Path, f16: NDArray[np.float16], rows: int) -> CopyWriter:
        """A writer over a valid copy, rebuilding it first when it is missing or stale."""
        existing = SearchCopy.open_valid(f16_path, f16, rows)
        if existing is None:
            build(f16_path, f16[:rows])
        else:
            existing.close()
        return cls(f16_path, f16.shape[1])

    def write(self, first: int, rows: NDArray[np.float16]) -> None:
        q8, scales = quantize(rows)
        self._q8.seek(first * self.dim)
        self._q8.write(q8.tobytes())
        self._scales.seek(first * 4)
        self._scales.write(scales.tobytes())

    def reserve(self, capacity: int) -> None:
        self._q8.truncate(capacity * self.dim)
        self._scales.truncate(capacity * 4)

    def sync(self) -> None:
        for file in (self._q8, self._scales):
            file.flush()
            os.fsync(file.fileno())

    def close(self) -> None:
        self._q8.close()
        self._scales.close()


def build(f16_path: Path, f16: NDArray[np.float16]) -> None:
    """Write the copy of ``f16`` whole, beside its final names, then rename both into place.

    The scale file is renamed last and is what ``open_valid`` checks with the rows, so a
    crash between the renames leaves a copy that fails the check and is built again.
    """
    q8_path, scale_path = copy_paths(f16_path)
    scale_path.unlink(missing_ok=True)
    temps = [_temp_beside(q8_path), _temp_beside(scale_path)]
    try:
        with open(temps[0], "wb") as q8_out, open(temps[1], "wb") as scale_out:
            for start in range(0, len(f16), BUILD_CHUNK_ROWS):
                q8, scales = quantize(f16[start : start + BUILD_CHUNK_ROWS])
                q8_out.write(q8.tobytes())
                scale_out.write(scales.tobytes())
            for out in (q8_out, scale_out):
                out.flush()
                os.fsync(out.fileno())
        os.replace(temps[0], q8_path)
        os.replace(temps[1], scale_path)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def remove(f16_path: Path) -> None:
    for path in copy_paths(f16_path):
        path.unlink(missing_ok=True)


def _temp_beside(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    os.close(fd)
    return Path(name)


def _capacity(f16_path: Path, dim: int) -> int | None:
    """Rows both files can hold, or None when either is missing or not whole rows."""
    q8_path, scale_path = copy_paths(f16_path)
    try:
        q8_bytes, scale_bytes = q8_path.stat().st_size, scale_path.stat().st_size
    except FileNotFoundError:
        return None
    if q8_bytes % dim or scale_bytes % 4:
        return None
    return min(q8_bytes // dim, scale_bytes // 4)


def _map(
    q8_path: Path, scale_path: Path, dim: int, capacity: int
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    if capacity == 0:
        return np.empty((0, dim), np.uint8), np.empty(0, np.float32)
    q8 = np.memmap(q8_path, dtype=np.uint8, mode="r", shape=(capacity, dim))
    scales = np.memmap(scale_path, dtype=np.float32, mode="r", shape=(capacity,))
    return q8, scales
