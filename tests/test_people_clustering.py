"""People clustering: real dlib embeddings of the corpus, and synthetic clusters whose
geometry each test states (and checks) before relying on it."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hachi.errors import HachiError
from hachi.indexer.people import (
    ClusterParams,
    Decisions,
    FaceRecord,
    assign_faces,
    params_for,
    recluster_all,
)
from tests.test_faces_dlib import corpus_faces

DLIB = params_for("dlib")
WIDE = ClusterParams(max_distance=0.5, core_distance=0.3, min_faces=3)  # synthetic tests
NO_DECISIONS = Decisions()
Partition = set[frozenset[int]]


def counter(start: int = 100) -> Callable[[], int]:
    ids = itertools.count(start)
    return lambda: next(ids)


def unit(rows: NDArray[np.float64]) -> NDArray[np.float32]:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def blob(centre: NDArray[np.float64], n: int, spread: float, seed: int) -> NDArray[np.float32]:
    """n unit vectors around ``centre``, each about ``spread`` from it."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (n, centre.size))
    noise -= np.outer(noise @ centre, centre)  # orthogonal to the centre
    noise *= spread / np.linalg.norm(noise, axis=1, keepdims=True)
    return unit(centre + noise)


def axis(i: int, dim: int = 64) -> NDArray[np.float64]:
    v = np.zeros(dim)
    v[i] = 1.0
    return v


def records(n: int, photos: Sequence[int] | None = None) -> list[FaceRecord]:
    photo_ids = list(photos) if photos is not None else list(range(n))
    return [FaceRecord(i, photo_ids[i], i, None, False) for i in range(n)]


def partition(assigned: dict[int, int | None]) -> Partition:
    groups: dict[int, set[int]] = {}
    for face, person in assigned.items():
        if person is not None:
            groups.setdefault(person, set()).add(face)
    return {frozenset(group) for group in groups.values()}


def distances(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)


# --- the corpus, with real dlib embeddings -------------------------------------------


def corpus_records() -> tuple[list[FaceRecord], NDArray[np.float32], list[str]]:
    faces = corpus_faces()
    found = [FaceRecord(i, f.photo_id, i, None, False) for i, f in enumerate(faces)]
    return found, np.stack([f.face.embedding for f in faces]), [f.person for f in faces]


@pytest.mark.slow
def test_corpus_people_are_found_whole_and_pure() -> None:
    faces, vectors, names = corpus_records()
    result = assign_faces(faces, vectors, NO_DECISIONS, DLIB, counter())
    clusters = partition(result)
    photos_per_person: dict[str, set[int]] = {}
    for face, name in zip(faces, names, strict=True):
        photos_per_person.setdefault(name, set()).add(face.photo_id)
    expected = {
        frozenset(i for i, n in enumerate(names) if n == name)
        for name, photos in photos_per_person.items()
        if len(photos) >= 2 and name != "unknown"
    }
    assert len(expected) == 5
    assert expected <= clusters  # every recurring person is exactly one whole cluster
    for cluster in clusters:  # pairwise precision 1.0: no cluster mixes identities
        assert len({names[i] for i in cluster}) == 1


@pytest.mark.slow
def test_corpus_incremental_arrival_order_does_not_matter() -> None:
    faces, vectors, _ = corpus_records()
    reference = partition(assign_faces(faces, vectors, NO_DECISIONS, DLIB, counter()))
    photos = sorted({face.photo_id for face in faces})
    for seed in range(8):  # photos indexed one by one, in eight different orders
        random.Random(seed).shuffle(photos)
        state = {face.face_id: face for face in faces}
        indexed: list[FaceRecord] = []
        ids = counter()
        for photo in photos:
            indexed += [face for face in faces if face.photo_id == photo]
            current = [state[face.face_id] for face in indexed]
            for face_id, person in assign_faces(current, vectors, NO_DECISIONS, DLIB, ids).items():
                state[face_id] = FaceRecord(
                    face_id, state[face_id].photo_id, face_id, person, False
                )
        final = {face_id: face.person_id for face_id, face in state.items()}
        assert partition(final) == reference, f"order seed {seed}"


@pytest.mark.slow
def test_corpus_person_appears_at_most_once_per_photo() -> None:
    faces, vectors, _ = corpus_records()
    loose = ClusterParams(max_distance=0.9, core_distance=0.9, min_faces=2)  # merges freely
    result = assign_faces(faces, vectors, NO_DECISIONS, loose, counter())
    photo_of = {face.face_id: face.photo_id for face in faces}
    for cluster in partition(result):
        photos = [photo_of[face] for face in cluster]
        assert len(photos) == len(set(photos))
    # The rule is what binds here: these loose thresholds merge identities wholesale.
    assert max(len(cluster) for cluster in partition(result)) > 15


# --- synthetic geometry ----------------------------------------------------------------


def test_input_order_never_changes_the_result() -> None:
    vectors = np.vstack(
        [blob(axis(0), 6, 0.15, 1), blob(axis(1), 5, 0.15, 2), blob(axis(2), 2, 0.1, 3)]
    )
    faces = records(len(vectors))
    reference = assign_faces(faces, vectors, NO_DECISIONS, WIDE, counter())
    assert len(partition(reference)) == 2
    for seed in range(10):
        shuffled = faces[:]
        random.Random(seed).shuffle(shuffled)
        assert assign_faces(shuffled, vectors, NO_DECISIONS, WIDE, counter()) == reference


def test_new_person_needs_a_dense_core() -> None:
    vectors = blob(axis(0), 3, 0.1, 4)
    pair = assign_faces(records(2), vectors[:2], NO_DECISIONS, WIDE, counter())
    assert pair == {}  # two similar faces are not yet a person
    trio = assign_faces(records(3), vectors, NO_DECISIONS, WIDE, counter())
    assert partition(trio) == {frozenset({0, 1, 2})}


def arc(positions: Sequence[float], noise: float, seed: int) -> NDArray[np.float32]:
    """Unit vectors along a great circle (chord distance ~ position difference), jittered."""
    angles = np.asarray(positions, dtype=np.float64)
    rows = np.zeros((len(angles), 64))
    rows[:, 0], rows[:, 1] = np.cos(angles), np.sin(angles)
    rows[:, 2:] = np.random.default_rng(seed).normal(0, noise / np.sqrt(62), (len(angles), 62))
    return unit(rows)


def test_a_chain_is_not_a_dense_core() -> None:
    vectors = arc([0.0, 0.25, 0.5, 0.75], 0.0, 16)  # neighbours 0.25 apart, ends 0.5+ apart
    assert distances(vectors)[0, 2] > WIDE.core_distance
    assert assign_faces(records(4), vectors, NO_DECISIONS, WIDE, counter()) == {}


def test_sparse_faces_wait_for_every_person_then_go_to_the_nearest() -> None:
    params = ClusterParams(max_distance=0.5, core_distance=0.3, min_faces=4)
    # A: six faces at 0 and an outrider at 0.25; x at 0.53; B: b* at 0.73, five at 0.95.
    vectors = arc([0.0] * 6 + [0.25, 0.53, 0.73] + [0.95] * 5, 0.02, 17)
    d = distances(vectors)
    x = 7
    close = np.flatnonzero((d[x] <= params.core_distance) & (np.arange(14) != x))
    assert close.tolist() == [6, 8]  # x is not core: one A and one B face within reach
    assert d[x, 8] < d[x, 6]  # and B's is the nearer
    result = assign_faces(records(14), vectors, NO_DECISIONS, params, counter())
    assert len(partition(result)) == 2
    assert result[x] == result[8] == result[13] != result[0]


def test_two_faces_in_one_photo_never_share_a_person() -> None:
    twins = blob(axis(0), 6, 0.1, 5)  # all six look alike
    faces = records(6, photos=[1, 1, 2, 3, 4, 5])
    result = assign_faces(faces, twins, NO_DECISIONS, WIDE, counter())
    [person] = partition(result)
    assert len(person) == 5 and len(person & {0, 1}) == 1  # one twin joins, the other cannot
    twins[1] = twins[0]  # exact tie: which twin joins must still not depend on input order
    reference = assign_faces(faces, twins, NO_DECISIONS, WIDE, counter())
    for seed in range(6):
        shuffled = faces[:]
        random.Random(seed).shuffle(shuffled)
        assert assign_faces(shuffled, twins, NO_DECISIONS, WIDE, counter()) == reference


def test_siblings_stay_apart() -> None:
    a_centre = axis(0)
    b_centre = unit((axis(0) + 0.4 * axis(1))[None])[0].astype(np.float64)
    vectors = np.vstack([blob(a_centre, 8, 0.12, 6), blob(b_centre, 8, 0.12, 7)])
    d = distances(vectors)
    cross = d[:8, 8:]
    own = np.where(np.eye(16, dtype=bool), np.inf, d)
    # The geometry that makes it hard: cross pairs closer than max_distance, so chaining
    # at max_distance would merge them, yet every face's nearest neighbour is a sibling.
    assert cross.min() < WIDE.max_distance and cross.min() > WIDE.core_distance
    assert np.all(np.argmin(own, axis=1) // 8 == np.arange(16) // 8)
    for order in (list(range(16)), list(range(15, -1, -1))):
        faces = [records(16)[i] for i in order]
        assert partition(assign_faces(faces, vectors, NO_DECISIONS, WIDE, counter())) == {
            frozenset(range(8)),
            frozenset(range(8, 16)),
        }
    # Incremental: sibling A is already a person when B's photos arrive.
    known = [FaceRecord(i, i, i, 1, False) for i in range(8)] + records(16)[8:]
    later = assign_faces(known, vectors, NO_DECISIONS, WIDE, counter())
    assert sorted(later) == list(range(8, 16))
    assert len(set(later.values())) == 1 and later[8] != 1  # B is a new person, not A


def test_new_faces_join_the_existing_person() -> None:
    vectors = blob(axis(0), 6, 0.12, 8)
    faces = [FaceRecord(i, i, i, 7, False) for i in range(4)] + records(6)[4:]
    assert assign_faces(faces, vectors, NO_DECISIONS, WIDE, counter()) == {4: 7, 5: 7}


def test_rejection_is_never_undone() -> None:
    vectors = blob(axis(0), 6, 0.12, 9)
    faces = [FaceRecord(i, i, i, 7, False) for i in range(5)] + [FaceRecord(5, 5, 5, None, False)]
    decisions = Decisions(rejected=frozenset({(5, 7)}))
    assert assign_faces(faces, vectors, decisions, WIDE, counter()) == {}
    assert assign_faces(faces, vectors, NO_DECISIONS, WIDE, counter()) == {5: 7}
    again = recluster_all(faces, vectors, decisions, WIDE, counter())
    assert again[5] != 7 and all(again[i] == 7 for i in range(5))


def test_locked_faces_are_never_moved() -> None:
    vectors = np.vstack([blob(axis(0), 6, 0.12, 10), blob(axis(1), 4, 0.12, 11)])
    faces = records(10)
    faces[0] = FaceRecord(0, 0, 0, 9, True)  # user: this A-looking face is person 9
    faces[1] = FaceRecord(1, 1, 1, None, True)  # user: this face is nobody
    faces[6] = FaceRecord(6, 6, 6, 4, True)  # user: person 4 is B
    result = assign_faces(faces, vectors, NO_DECISIONS, WIDE, counter())
    assert not {0, 1, 6} & set(result)
    assert {result[i] for i in (7, 8, 9)} == {4}
    rebuilt = recluster_all(faces, vectors, NO_DECISIONS, WIDE, counter())
    assert not {0, 1, 6} & set(rebuilt)
    assert {rebuilt[i] for i in (7, 8, 9)} == {4}


def test_existing_assignments_are_not_returned_or_changed() -> None:
    vectors = blob(axis(0), 5, 0.12, 12)
    faces = [FaceRecord(0, 0, 0, 3, False)] + records(5)[1:]
    result = assign_faces(faces, vectors, NO_DECISIONS, WIDE, counter())
    assert 0 not in result and set(result.values()) == {3}


def test_recluster_keeps_named_people_and_rebuilds_the_rest() -> None:
    vectors = np.vstack([blob(axis(0), 5, 0.12, 13), blob(axis(1), 5, 0.12, 14)])
    # Before: a named person 7 wrongly holds one B face; unnamed 8 holds the other B faces.
    before = [FaceRecord(i, i, i, 7, False) for i in range(6)]
    before += [FaceRecord(i, i, i, 8, False) for i in range(6, 10)]
    ids = counter(500)
    after = recluster_all(before, vectors, Decisions(named=frozenset({7})), WIDE, ids)
    assert {after[i] for i in range(5)} == {7}  # the name stays with the A faces
    assert {after[i] for i in range(5, 10)} == {8}  # B's faces regrouped, id reused
    assert ids() == 500  # no new person was needed


def test_recluster_matches_named_before_unnamed() -> None:
    vectors = blob(axis(0), 6, 0.12, 15)
    before = [FaceRecord(i, i, i, 8, False) for i in range(4)]
    before += [FaceRecord(i, i, i, 7, False) for i in range(4, 6)]
    after = recluster_all(before, vectors, Decisions(named=frozenset({7})), WIDE, counter())
    assert set(after.values()) == {7}  # the split person is one again, under its name


def test_recluster_keeps_a_named_person_made_of_two_clusters() -> None:
    """A user's merge of two look-alike groups under one name is not split by a recluster."""
    vectors = np.vstack([blob(axis(0), 5, 0.12, 16), blob(axis(1), 5, 0.12, 17)])
    before = [FaceRecord(i, i, i, 7, False) for i in range(10)]
    ids = counter(500)
    after = recluster_all(before, vectors, Decisions(named=frozenset({7})), WIDE, ids)
    assert set(after.values()) == {7}
    assert ids() == 500


def test_recluster_still_splits_an_unnamed_person_made_of_two_clusters() -> None:
    vectors = np.vstack([blob(axis(0), 5, 0.12, 16), blob(axis(1), 5, 0.12, 17)])
    before = [FaceRecord(i, i, i, 7, False) for i in range(10)]
    after = recluster_all(before, vectors, NO_DECISIONS, WIDE, counter(500))
    assert {after[i] for i in range(5)} != {after[i] for i in range(5, 10)}


def test_parameters_are_checked() -> None:
    with pytest.raises(HachiError):
        ClusterParams(max_distance=0.3, core_distance=0.4, min_faces=3)
    with pytest.raises(HachiError):
        params_for("opencv")
    assert params_for("insightface").max_distance > DLIB.max_distance


def test_reads_float16_rows_from_a_memmap(tmp_path: Path) -> None:
    vectors = np.vstack([blob(axis(3), 4, 0.12, 18), blob(axis(4), 4, 0.12, 19)])
    stored = np.memmap(tmp_path / "faces.f16", dtype=np.float16, mode="w+", shape=(10, 64))
    stored[2:] = vectors  # rows 0-1 belong to faces deleted long ago
    stored.flush()
    rows = np.memmap(tmp_path / "faces.f16", dtype=np.float16, mode="r", shape=(10, 64))
    faces = [FaceRecord(i, i, i + 2, None, False) for i in range(8)]
    result = assign_faces(faces, rows, NO_DECISIONS, WIDE, counter())
    assert partition(result) == {frozenset(range(4)), frozenset(range(4, 8))}


def test_empty_library() -> None:
    empty = np.zeros((0, 128), np.float32)
    assert assign_faces([], empty, NO_DECISIONS, DLIB, counter()) == {}
    assert recluster_all([], empty, NO_DECISIONS, DLIB, counter()) == {}
