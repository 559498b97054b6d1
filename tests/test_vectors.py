"""The embedding store: durability rules, growth, search against brute force, compaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hachi.errors import HachiError
from hachi.vectors.kernel import KERNEL_CHUNK_ROWS, PARALLEL_MIN_ROWS
from hachi.vectors.store import MIN_CAPACITY_ROWS, VectorStore

DIM = 48
REPO_ROOT = Path(__file__).parents[1]
F16_TOLERANCE = 2e-3


def random_rows(count: int, dim: int = DIM, seed: int = 0) -> NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def unit(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def brute_force(
    store: VectorStore, query: NDArray[np.float32], k: int, allowed: NDArray[np.bool_] | None
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The definition of the answer: every score in float64, sorted, masked rows dropped."""
    scores = store.matrix().astype(np.float64) @ unit(query).astype(np.float64)
    ids = np.arange(store.rows) if allowed is None else np.flatnonzero(allowed)
    order = sorted(ids, key=lambda i: (-scores[i], i))[:k]
    return np.array(order, dtype=np.int64), scores[order].astype(np.float32)


def top(
    store: VectorStore, query: NDArray[np.float32], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Best k rows by ``store.scores``, ties by row id, as the search ranks them."""
    scores = store.scores(query)
    order = np.lexsort((np.arange(len(scores)), -scores))[:k].astype(np.int64)
    return order, scores[order]


class Stores:
    """Opens stores for a test and closes them all afterwards (open files would warn)."""

    def __init__(self) -> None:
        self.opened: list[VectorStore] = []

    def open(self, path: Path, dim: int = DIM, rows: int = 0, **kw: bool) -> VectorStore:
        return self.keep(VectorStore(path, dim, rows, **kw))

    def keep(self, store: VectorStore) -> VectorStore:
        self.opened.append(store)
        return store


@pytest.fixture
def stores() -> Iterator[Stores]:
    keeper = Stores()
    yield keeper
    for s in keeper.opened:
        s.close()


@pytest.fixture
def store(tmp_path: Path, stores: Stores) -> VectorStore:
    s = stores.open(tmp_path / "clip.f16")
    s.append(random_rows(3000))
    return s


# -- writing and reopening ---------------------------------------------------------------


def test_new_store_creates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "m.f16"
    with VectorStore(path, DIM, 0) as s:
        assert (s.rows, s.dim) == (0, DIM)
        assert s.matrix().shape == (0, DIM)
    assert path.exists() and path.stat().st_size == 0


def test_append_returns_first_row_and_stores_unit_float16(tmp_path: Path, stores: Stores) -> None:
    s = stores.keep(VectorStore(tmp_path / "m.f16", DIM, 0))
    a, b = random_rows(5, seed=1), random_rows(7, seed=2) * 30
    assert s.append(a) == 0
    assert s.append(b) == 5
    assert s.append(np.empty((0, DIM), np.float32)) == 12
    assert s.rows == 12
    m = s.matrix()
    assert m.dtype == np.float16 and m.shape == (12, DIM)
    assert not m.flags.writeable
    np.testing.assert_allclose(m.astype(np.float32), unit(np.vstack([a, b])), atol=F16_TOLERANCE)
    np.testing.assert_allclose(np.linalg.norm(m.astype(np.float32), axis=1), 1, atol=F16_TOLERANCE)


def test_single_vector_append(tmp_path: Path, stores: Stores) -> None:
    s = stores.keep(VectorStore(tmp_path / "m.f16", 3, 0))
    assert s.append(np.array([3.0, 0.0, 4.0])) == 0
    np.testing.assert_allclose(s.read(np.array([0])), [[0.6, 0.0, 0.8]], atol=F16_TOLERANCE)


def test_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    rows = random_rows(100)
    with VectorStore(path, DIM, 0) as s:
        s.append(rows[:60])
        s.append(rows[60:])
    with VectorStore(path, DIM, 100) as again:
        assert again.rows == 100
        np.testing.assert_allclose(again.read(np.arange(100)), unit(rows), atol=F16_TOLERANCE)
        assert again.append(random_rows(1, seed=9)) == 100


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, DIM), np.float32),
        np.full((1, DIM), np.nan, np.float32),
        np.full((1, DIM), np.inf, np.float32),
        np.ones((2, DIM + 1), np.float32),
        np.ones((2, 2, DIM), np.float32),
    ],
)
def test_append_refuses_bad_vectors_and_writes_nothing(
    tmp_path: Path, bad: NDArray, stores: Stores
) -> None:
    s = stores.keep(VectorStore(tmp_path / "m.f16", DIM, 0))
    s.append(random_rows(2))
    with pytest.raises(HachiError):
        s.append(bad)
    assert s.rows == 2


def test_file_grows_in_chunks_not_per_append(tmp_path: Path, stores: Stores) -> None:
    path = tmp_path / "m.f16"
    s = stores.keep(VectorStore(path, DIM, 0))
    sizes = set()
    for i in range(300):
        s.append(random_rows(10, seed=i))
        sizes.add(path.stat().st_size)
    assert s.rows == 3000
    row_bytes = DIM * 2
    assert min(sizes) == MIN_CAPACITY_ROWS * row_bytes
    assert len(sizes) <= 3  # 1024 -> 2048 -> 4096 rows
    assert path.stat().st_size >= 3000 * row_bytes


# -- crashes and damage ------------------------------------------------------------------


def test_uncommitted_rows_are_ignored_then_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    committed, lost, fresh = random_rows(10, seed=1), random_rows(5, seed=2), random_rows(3, seed=3)
    with VectorStore(path, DIM, 0) as s:
        s.append(committed)
        s.append(lost)  # the process "dies" before the catalog commits 15
    with VectorStore(path, DIM, 10) as s:
        assert s.rows == 10 and s.matrix().shape == (10, DIM)
        assert len(s.scores(lost[0])) == 10
        assert s.append(fresh) == 10
        np.testing.assert_allclose(s.read(np.arange(10, 13)), unit(fresh), atol=F16_TOLERANCE)
        np.testing.assert_allclose(s.read(np.arange(10)), unit(committed), atol=F16_TOLERANCE)


def test_writer_killed_mid_batch_leaves_a_usable_store(tmp_path: Path) -> None:
    """A real process appends, then dies without its commit; the old count still works."""
    path = tmp_path / "m.f16"
    with VectorStore(path, DIM, 0) as s:
        s.append(random_rows(20))
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from pathlib import Path
        from hachi.vectors import VectorStore
        s = VectorStore(Path({str(path)!r}), {DIM}, 20)
        s.append(np.ones((5000, {DIM}), np.float32))
        os._exit(9)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, cwd=REPO_ROOT
    )
    assert done.returncode == 9, done.stderr.decode()
    assert path.stat().st_size >= 5020 * DIM * 2
    with VectorStore(path, DIM, 20) as s:
        np.testing.assert_allclose(s.read(np.arange(20)), unit(random_rows(20)), atol=F16_TOLERANCE)
        assert s.append(random_rows(1, seed=5)) == 20


def test_file_shorter_than_committed_count_is_reported_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    with VectorStore(path, DIM, 0) as s:
        s.append(random_rows(10))
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(5 * DIM * 2)
    with pytest.raises(HachiError, match="damaged") as info:
        VectorStore(path, DIM, 10)
    assert info.value.detail["rows"] == 5
    assert size > 5 * DIM * 2


def test_file_of_another_dimension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    with VectorStore(path, 512, 0) as s:
        s.append(random_rows(3, dim=512))
    with pytest.raises(HachiError, match="not a whole number"):
        VectorStore(path, 500, 0)


def test_invalid_shape_arguments(tmp_path: Path) -> None:
    for dim, rows in ((0, 0), (DIM, -1)):
        with pytest.raises(HachiError):
            VectorStore(tmp_path / "m.f16", dim, rows)


# -- readers -----------------------------------------------------------------------------


def test_reader_with_smaller_count_sees_only_its_prefix(tmp_path: Path, stores: Stores) -> None:
    path = tmp_path / "m.f16"
    writer = stores.keep(VectorStore(path, DIM, 0))
    writer.append(random_rows(100))
    reader = stores.keep(VectorStore(path, DIM, 40, read_only=True))
    assert reader.matrix().shape == (40, DIM)
    writer.append(random_rows(5000, seed=7))  # grows the file under the reader
    assert len(reader.scores(random_rows(1)[0])) == 40
    reader.refresh(writer.rows)
    assert reader.rows == 5100
    np.testing.assert_array_equal(reader.matrix(), writer.matrix())
    with pytest.raises(HachiError, match="read-only"):
        reader.append(random_rows(1))
    with pytest.raises(HachiError):
        reader.refresh(10**6)
    reader.close()
    writer.close()


def test_reader_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "m.f16"
    with VectorStore(path, DIM, 0) as writer:
        writer.append(random_rows(600))
        script = textwrap.dedent(
            f"""
            import numpy as np
            from pathlib import Path
            from hachi.vectors import VectorStore
            s = VectorStore(Path({str(path)!r}), {DIM}, 512, read_only=True)
            print(s.rows, len(s.scores(np.ones({DIM}, np.float32))))
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            timeout=60,
            text=True,
            cwd=REPO_ROOT,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["512", "512"]


def test_reader_of_missing_file_is_empty(tmp_path: Path, stores: Stores) -> None:
    s = stores.keep(VectorStore(tmp_path / "none.f16", DIM, 0, read_only=True))
    assert s.scores(random_rows(1)[0]).size == 0
    assert not (tmp_path / "none.f16").exists()


# -- search ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 10, 2999, 3000, 5000])
def test_search_matches_brute_force(store: VectorStore, k: int) -> None:
    query = random_rows(1, seed=42)[0]
    ids, scores = top(store, query, k)
    want_ids, want_scores = brute_force(store, query, k, None)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_search_finds_a_stored_vector_first(store: VectorStore) -> None:
    target = random_rows(3000)[1234]
    ids, scores = top(store, target * 5, 3)
    assert ids[0] == 1234 and scores[0] == pytest.approx(1.0, abs=F16_TOLERANCE)


def test_scores_edge_cases(tmp_path: Path, store: VectorStore, stores: Stores) -> None:
    query = random_rows(1)[0]
    empty = stores.keep(VectorStore(tmp_path / "empty.f16", DIM, 0))
    assert empty.scores(query).size == 0
    with pytest.raises(HachiError):
        store.scores(np.zeros(DIM, np.float32))
    with pytest.raises(HachiError):
        store.scores(random_rows(2))
    with pytest.raises(HachiError):
        store.scores(query, np.array([store.rows]))


def test_results_are_best_first_with_ties_by_row(tmp_path: Path, stores: Stores) -> None:
    s = stores.keep(VectorStore(tmp_path / "m.f16", 4, 0))
    s.append(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]], np.float32))
    ids, scores = top(s, np.array([1, 0, 0, 0], np.float32), 4)
    assert ids.tolist() == [0, 2, 3, 1]
    np.testing.assert_allclose(scores, [1, 1, np.sqrt(0.5), 0], atol=F16_TOLERANCE)


@pytest.mark.parametrize(
    "rows", [1, KERNEL_CHUNK_ROWS - 1, KERNEL_CHUNK_ROWS, 3 * KERNEL_CHUNK_ROWS + 17]
)
def test_scores_cover_every_row_around_chunk_edges(
    tmp_path: Path, rows: int, stores: Stores
) -> None:
    s = stores.keep(VectorStore(tmp_path / "m.f16", DIM, 0))
    s.append(random_rows(rows, seed=rows))
    query = random_rows(1, seed=1)[0]
    want = s.matrix().astype(np.float64) @ unit(query)
    np.testing.assert_allclose(s.scores(query), want, atol=1e-5)
    picked = np.array([rows - 1, 0, rows // 2], np.int64)
    np.testing.assert_allclose(s.scores(query, picked), want[picked], atol=1e-5)


def test_large_store_split_between_threads_matches_brute_force(
    tmp_path: Path, stores: Stores
) -> None:
    rows = PARALLEL_MIN_ROWS + 3 * KERNEL_CHUNK_ROWS + 5
    s = stores.keep(VectorStore(tmp_path / "m.f16", 16, 0))
    s.append(random_rows(rows, dim=16, seed=8))
    query = random_rows(1, dim=16, seed=9)[0]
    want = s.matrix().astype(np.float64) @ unit(query)
    np.testing.assert_allclose(s.scores(query), want, atol=1e-5)
    ids, _ = top(s, query, 25)
    np.testing.assert_array_equal(ids, np.argsort(-want, kind="stable")[:25])


def test_read_checks_row_ids(store: VectorStore) -> None:
    assert store.read(np.array([], np.int64)).shape == (0, DIM)
    assert store.read(np.array([2, 0, 2])).dtype == np.float32
    for bad in (np.array([3000]), np.array([-1]), np.array([[1]]), np.array([0.5])):
        with pytest.raises(HachiError):
            store.read(bad)


# -- compaction --------------------------------------------------------------------------


def test_compact_keeps_live_rows_in_the_given_order(
    tmp_path: Path, store: VectorStore, stores: Stores
) -> None:
    live = np.array([2999, 5, 17, 1000, 6], np.int64)
    new = stores.keep(store.compact(live, tmp_path / "clip.new.f16"))
    assert new.rows == 5 and new.path.stat().st_size == 5 * DIM * 2
    np.testing.assert_array_equal(new.matrix(), store.matrix()[live])
    query = store.matrix()[17].astype(np.float32)
    assert live[top(new, query, 1)[0][0]] == 17
    assert new.append(random_rows(1)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.f16", "clip.new.f16"]


def test_compact_over_the_same_path_replaces_it_atomically(
    tmp_path: Path, store: VectorStore, stores: Stores
) -> None:
    before = store.matrix()[::2].copy()
    new = stores.keep(store.compact(np.arange(0, 3000, 2), store.path))
    store.close()
    assert new.rows == 1500
    np.testing.assert_array_equal(new.matrix(), before)
    with VectorStore(store.path, DIM, 1500) as reopened:
        np.testing.assert_array_equal(reopened.matrix(), before)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.f16"]


def test_compact_to_nothing_and_bad_ids(tmp_path: Path, store: VectorStore, stores: Stores) -> None:
    empty = stores.keep(store.compact(np.array([], np.int64), tmp_path / "empty.f16"))
    assert empty.rows == 0 and empty.path.stat().st_size == 0
    with pytest.raises(HachiError):
        store.compact(np.array([3000]), tmp_path / "bad.f16")
    assert not (tmp_path / "bad.f16").exists()
