"""The int8 search copy: close to the float16 scores, kept in step by writers, rebuilt when
missing or stale, ignored by readers when it cannot be trusted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hachi.vectors import VectorStore, remove_vector_files
from hachi.vectors import q8 as vectors_q8
from hachi.vectors.kernel import Int8DotKernel
from hachi.vectors.q8 import copy_paths, quantize, quantize_query

DIM = 512  # CLIP width: the error bound below depends on it
MAX_ERROR = 0.003  # the margin the engine re-scores within is 0.01


def unit_rows(count: int, seed: int = 0, dim: int = DIM) -> NDArray[np.float32]:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def query(seed: int = 99) -> NDArray[np.float32]:
    return unit_rows(1, seed)[0]


def written(path: Path, rows: NDArray[np.float32], search_copy: bool = True) -> None:
    with VectorStore(path, DIM, 0, search_copy=search_copy) as store:
        store.append(rows)


def reader(path: Path, rows: int) -> VectorStore:
    return VectorStore(path, DIM, rows, read_only=True, search_copy=True)


def assert_copy_serves(path: Path, rows: int) -> None:
    """A reader of ``rows`` rows scores from the copy, within MAX_ERROR of float16."""
    with reader(path, rows) as store:
        assert store.has_search_copy
        assert np.abs(store.approximate_scores(query()) - store.scores(query())).max() < MAX_ERROR


def assert_exact_fallback(path: Path, rows: int) -> None:
    """A reader of ``rows`` rows finds no usable copy and scores exactly from float16."""
    with reader(path, rows) as store:
        assert not store.has_search_copy
        np.testing.assert_array_equal(store.approximate_scores(query()), store.scores(query()))


def test_quantised_rows_keep_direction_and_zero_rows_score_zero() -> None:
    rows = unit_rows(500).astype(np.float16)
    stored, scales = quantize(rows)
    ints = stored.astype(np.float32) - vectors_q8.OFFSET
    assert np.abs(ints).max(axis=1).min() == vectors_q8.LEVELS  # each row uses the full range
    restored = ints * scales[:, None]
    cosine = np.sum(restored * rows.astype(np.float32), axis=1)
    assert cosine.min() > 0.9995
    zero_stored, zero_scale = quantize(np.zeros((1, DIM), np.float16))
    assert zero_scale[0] == 0 and np.all(zero_stored == vectors_q8.OFFSET)


def test_query_quantisation_carries_its_offset_correction() -> None:
    q8, scale, offset = quantize_query(query())
    assert q8.shape == (DIM, 1) and q8.dtype == np.int8
    assert offset == vectors_q8.OFFSET * int(q8.astype(np.int64).sum())
    assert scale == pytest.approx(1 / np.linalg.norm(q8.astype(np.float64)), rel=1e-6)


@pytest.mark.parametrize("widened", [None, False, True], ids=["this CPU", "fast", "widened"])
def test_int8_dot_products_are_exact_at_the_extremes(widened: bool | None) -> None:
    """The largest stored bytes against the largest query components: the products a
    16-bit pair sum saturates on (AVX2 without VNNI). Chosen by default (``None``), the
    kernel must be exact on this CPU; forced, the widened graph must be exact anywhere,
    and the fast one exactly where the kernel's own probe found it does not saturate."""
    kernel = Int8DotKernel(widened=widened)
    rng = np.random.default_rng(3)
    extremes = rng.choice(np.array([1, 255], np.uint8), (64, DIM))
    matrix = np.concatenate([extremes, rng.integers(1, 256, (64, DIM), dtype=np.uint8)])
    column = rng.choice(np.array([-127, 127], np.int8), DIM)
    column[: DIM // 2] = 127  # every pair of the first half is 255 x 127 where a row is 255
    offset = float(vectors_q8.OFFSET * int(column.astype(np.int64).sum()))
    ones = np.ones(len(matrix), np.float32)
    dots = kernel.scores(matrix, ones, column.reshape(-1, 1), 1.0, offset)
    exact = (matrix.astype(np.int64) - vectors_q8.OFFSET) @ column.astype(np.int64)
    if widened is False:
        assert np.array_equal(dots, exact.astype(np.float32)) == (not kernel.saturates)
    else:
        np.testing.assert_array_equal(dots, exact.astype(np.float32))


def test_approximate_scores_are_close_to_exact(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    written(path, unit_rows(3000))
    with reader(path, 3000) as store:
        assert store.has_search_copy
        for seed in range(5):
            exact = store.scores(query(seed + 100))
            approx = store.approximate_scores(query(seed + 100))
            assert np.abs(approx - exact).max() < MAX_ERROR
            # and it is a real approximation, not the float16 scores again
            assert not np.array_equal(approx, exact)


def test_appends_extend_the_copy_and_readers_see_their_prefix(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    rows = unit_rows(1500)
    with VectorStore(path, DIM, 0, search_copy=True) as writer:
        for start in range(0, 1500, 100):
            writer.append(rows[start : start + 100])
            with reader(path, start + 100) as store:
                assert store.has_search_copy
                approx = store.approximate_scores(query())
                assert len(approx) == start + 100
                exact = rows[: start + 100].astype(np.float16).astype(np.float32) @ query()
                assert np.abs(approx - exact).max() < MAX_ERROR


def test_a_library_without_a_copy_gets_one_from_its_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    written(path, unit_rows(700), search_copy=False)
    assert not copy_paths(path)[0].exists()
    assert_exact_fallback(path, 700)  # no copy yet: a reader scores exactly
    with VectorStore(path, DIM, 700, search_copy=True) as writer:
        writer.append(unit_rows(10, seed=5))
    assert_copy_serves(path, 710)


def test_a_copy_of_other_vectors_is_ignored_then_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    written(path, unit_rows(300, seed=1))
    stale = [p.read_bytes() for p in copy_paths(path)]
    path.unlink()
    written(path, unit_rows(300, seed=2), search_copy=False)  # same name, other photos
    for p, data in zip(copy_paths(path), stale, strict=True):
        p.write_bytes(data)
    assert_exact_fallback(path, 300)
    VectorStore(path, DIM, 300, search_copy=True).close()
    assert_copy_serves(path, 300)


@pytest.mark.parametrize("damage", ["missing scales", "short copy", "torn scales"])
def test_a_damaged_copy_costs_speed_not_answers(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.f16"
    written(path, unit_rows(400))
    q8_path, scale_path = copy_paths(path)
    if damage == "missing scales":
        scale_path.unlink()
    elif damage == "short copy":
        with open(q8_path, "r+b") as f:
            f.truncate(200 * DIM)
    else:
        with open(scale_path, "r+b") as f:
            f.truncate(400 * 4 - 2)
    assert_exact_fallback(path, 400)
    VectorStore(path, DIM, 400, search_copy=True).close()  # the writer repairs it
    assert_copy_serves(path, 400)


def test_uncommitted_copy_rows_are_overwritten_like_float16_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    with VectorStore(path, DIM, 0, search_copy=True) as writer:
        writer.append(unit_rows(50))
        writer.append(unit_rows(50, seed=7))  # never committed: the catalog says 50
    with VectorStore(path, DIM, 50, search_copy=True) as writer:
        writer.append(unit_rows(50, seed=8))
    assert_copy_serves(path, 100)


def test_compaction_carries_the_copy_and_removal_deletes_it(tmp_path: Path) -> None:
    old = tmp_path / "m.f16"
    written(old, unit_rows(200))
    live = np.arange(0, 200, 3, dtype=np.int64)
    with VectorStore(old, DIM, 200, read_only=True) as store:
        store.compact(live, tmp_path / "m.1.f16").close()
    remove_vector_files(old)
    assert not old.exists() and not any(p.exists() for p in copy_paths(old))
    assert_copy_serves(tmp_path / "m.1.f16", len(live))
