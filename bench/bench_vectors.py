"""Time VectorStore.scores on synthetic libraries: p50/p99 per query, in milliseconds.

Run: .venv/bin/python bench/bench_vectors.py [--rows 100000 1000000] [--queries 50]
The file lives in a temporary directory and is warm in the page cache, as it is on a
server that has answered a few searches; the first (cold) query is reported separately.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hachi.vectors import VectorStore

DIM = 512
APPEND_BATCH = 50_000
TOP_K = 100


def unit_rows(rng: np.random.Generator, count: int) -> NDArray[np.float32]:
    rows = rng.standard_normal((count, DIM), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def build_store(path: Path, rows: int, rng: np.random.Generator) -> VectorStore:
    store = VectorStore(path, DIM, 0)
    for start in range(0, rows, APPEND_BATCH):
        store.append(unit_rows(rng, min(APPEND_BATCH, rows - start)))
    return store


def time_searches(
    store: VectorStore, queries: NDArray[np.float32], allowed: NDArray[np.bool_] | None
) -> list[float]:
    """Score every row (or just the allowed ones) and take the best TOP_K, as search does."""
    rows = None if allowed is None else np.flatnonzero(allowed).astype(np.int64)
    times = []
    for query in queries:
        start = time.perf_counter()
        scores = store.scores(query, rows)
        np.argpartition(-scores, min(TOP_K, len(scores) - 1))[:TOP_K]
        times.append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, times: list[float]) -> None:
    p50, p99 = np.percentile(times, [50, 99])
    print(f"{label:<44} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   (n={len(times)})")


def bench(rows: int, n_queries: int, rng: np.random.Generator) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        writer = build_store(Path(tmp) / "bench.f16", rows, rng)
        store = VectorStore(writer.path, DIM, writer.rows, read_only=True)
        queries = unit_rows(rng, n_queries + 1)
        cold = time_searches(store, queries[:1], None)[0]
        print(f"{rows:,} x {DIM}: first search (kernel build) {cold:.1f} ms")
        report(f"{rows:,} rows, all allowed", time_searches(store, queries[1:], None))
        half = rng.random(rows) < 0.5
        report(f"{rows:,} rows, 50% allowed", time_searches(store, queries[1:], half))
        few = rng.random(rows) < 0.01
        report(f"{rows:,} rows, 1% allowed", time_searches(store, queries[1:], few))
        store.close()
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for rows in args.rows:
        bench(rows, args.queries, rng)


if __name__ == "__main__":
    main()
