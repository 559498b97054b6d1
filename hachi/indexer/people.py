"""People: clusters of face embeddings that respect what the user decided.

Pure functions over arrays (the catalog reads and writes the rows). Distances are
Euclidean between L2-normalised embeddings (0 = identical, 2 = opposite; the cosine
distance is d² / 2).

Algorithm (density-based and incremental, in the manner of Immich's):

1. Faces already assigned (by the user or an earlier run) stay where they are and act as
   seeds. Only unassigned, unlocked faces are "open".
2. A face is *core* when at least ``min_faces - 1`` faces of other photos lie within
   ``core_distance`` of it (it sits in a dense region).
3. Core open faces join the person of their nearest assigned neighbour when that
   neighbour is within ``core_distance``, nearest pair first, and spread from there.
4. Where no person reaches, a new person is founded only by a clique: ``min_faces`` open
   faces from different photos, all pairwise within ``core_distance`` (densest seed
   first). It then spreads as in 3.
5. Only when no more persons can be founded do the remaining open faces (sparse ones,
   and dense ones with no strong link) join the person of their nearest assigned
   neighbour within ``max_distance``, nearest pair first.

Throughout, a face never joins a person who already has a face in the same photo, nor a
person the user said it is not (a rejection). Processing is ordered by distance with
face ids breaking ties, never by input order, so the result is the same for any order of
``faces``. Founding persons (4) before attaching sparse faces (5) is what keeps two
close clusters ("siblings") apart: each is founded from its own dense core before the
faces between them are handed to whichever is nearer; a one-pass, input-ordered scheme
would let the first person founded swallow its sibling's outskirts.

Thresholds, dlib (tuned on the test corpus: 26 faces, 5 people in 2+ photos, 2 in one):
among faces of one person the largest nearest-neighbour distance is 0.360 and the
largest pairwise distance 0.365 (median 0.267); a three-face person's founding clique
needs all its pairs. The smallest distance between two different people is 0.443 (a
one-photo person against Obama; median 0.598). A grid sweep (step 0.01) finds every
setting with 0.37 <= core_distance <= max_distance <= 0.44 correct at ``min_faces`` 3;
we take core 0.40 and max 0.42, inside that region with about 0.03 to spare each side.
``min_faces`` 3, as in Immich: a stranger must appear in three photos to become a person
(2 would widen the region down to core 0.30 but found people from any pair of lookalike
or duplicate photos). dlib's own verification threshold (0.6) is far looser: it would
merge people here. Known limit: two people whose faces come within ``core_distance`` of
each other in several photos cannot be told apart by any threshold scheme.

Thresholds, insightface (a best guess, untested here because its weights cannot be
downloaded in this environment): ArcFace same-person cosine similarity is usually
above 0.5 and different people below 0.3; Immich's default 0.5 cosine distance is
Euclidean 1.0 here, used as ``max_distance``, with ``core_distance`` 0.95 (cosine 0.55).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hachi.errors import HachiError

MAX_NEIGHBOURS = 64  # nearest faces kept per open face: density saturates long before
BLOCK_ELEMENTS = 1 << 24  # distance-matrix cells per block: bounds memory to ~64 MB


@dataclass(frozen=True)
class FaceRecord:
    face_id: int
    photo_id: int
    embedding_row: int
    person_id: int | None
    locked: bool  # the user assigned (or unassigned) it: never moved


@dataclass(frozen=True)
class Decisions:
    """What the user said, which no automatic run may undo.

    Merged persons are one id by the time faces reach us, and hidden persons still
    receive faces, so neither needs a field here.
    """

    rejected: frozenset[tuple[int, int]] = frozenset()  # (face_id, person_id): not this person
    named: frozenset[int] = frozenset()  # persons with a name: a full re-cluster keeps their ids


@dataclass(frozen=True)
class ClusterParams:
    max_distance: float  # sparse faces join a person within this distance
    core_distance: float  # density radius; founding cliques and strong links
    min_faces: int  # faces (in different photos) that a new person needs

    def __post_init__(self) -> None:
        if not 0 < self.core_distance <= self.max_distance or self.min_faces < 1:
            raise HachiError("cluster parameters need 0 < core <= max distance, min_faces >= 1")


CLUSTER_PARAMS = {
    "dlib": ClusterParams(max_distance=0.42, core_distance=0.40, min_faces=3),
    "insightface": ClusterParams(max_distance=1.0, core_distance=0.95, min_faces=3),
}


def params_for(backend: str) -> ClusterParams:
    """The tuned parameters of one face backend (see the module docstring)."""
    try:
        return CLUSTER_PARAMS[backend]
    except KeyError:
        raise HachiError(f"no clustering parameters for face backend {backend!r}") from None


def assign_faces(
    faces: Sequence[FaceRecord],
    embeddings: NDArray[np.floating[Any]],
    decisions: Decisions,
    params: ClusterParams,
    new_person_id: Callable[[], int],
) -> dict[int, int | None]:
    """New assignments (face_id -> person_id) for the open faces that found a person.

    ``faces`` is every face of the library (assigned ones are the context);
    ``embeddings`` is indexed by ``embedding_row``. Faces that stay unassigned are absent.
    """
    run = _Run(faces, embeddings, decisions, params)
    run.cluster(new_person_id)
    return {
        run.faces[i].face_id: run.person[i]
        for i in np.flatnonzero(run.open)
        if run.person[i] is not None
    }


def recluster_all(
    faces: Sequence[FaceRecord],
    embeddings: NDArray[np.floating[Any]],
    decisions: Decisions,
    params: ClusterParams,
    new_person_id: Callable[[], int],
) -> dict[int, int | None]:
    """Person (or None) for every unlocked face, clustering from scratch.

    Locked faces keep their persons and seed the run. Every other face starts unassigned;
    each rebuilt cluster then takes the id of the old person it overlaps most (named
    persons first), so named people keep their ids and names; clusters matching nobody
    get new ids. A rejected (face, person) pair is never produced. Person ids are
    positive (as SQLite gives them): negative ids mark clusters while they are rebuilt.
    """
    fresh = [face if face.locked else replace(face, person_id=None) for face in faces]
    temporary = itertools.count(-1, -1)
    run = _Run(fresh, embeddings, decisions, params)
    run.cluster(lambda: next(temporary))
    previous = {face.face_id: face.person_id for face in faces}
    seeded = {face.person_id for face in faces if face.locked and face.person_id is not None}
    clusters = _clusters(run, lambda pid: pid is not None and pid < 0)
    names = _match_old_ids(clusters, previous, seeded, decisions.named, new_person_id)
    result: dict[int, int | None] = {}
    for i in np.flatnonzero(run.open):
        face_id, pid = run.faces[i].face_id, run.person[i]
        final = names.get(pid, pid) if pid is not None else None
        result[face_id] = None if (face_id, final) in decisions.rejected else final
    return result


class _Run:
    """One clustering pass; faces are held sorted by face id so input order never matters."""

    def __init__(
        self,
        faces: Sequence[FaceRecord],
        embeddings: NDArray[np.floating[Any]],
        decisions: Decisions,
        params: ClusterParams,
    ) -> None:
        self.faces = sorted(faces, key=lambda face: face.face_id)
        self.vectors = _unit_rows(embeddings, [face.embedding_row for face in self.faces])
        self.decisions, self.params = decisions, params
        self.photos = np.array([face.photo_id for face in self.faces], dtype=np.int64)
        self.person: list[int | None] = [face.person_id for face in self.faces]
        self.open = np.array(
            [face.person_id is None and not face.locked for face in self.faces], dtype=bool
        )
        self.photos_of: dict[int, set[int]] = {}
        for index, pid in enumerate(self.person):
            if pid is not None:
                self.photos_of.setdefault(pid, set()).add(int(self.photos[index]))
        radius = max(params.max_distance, params.core_distance)
        self.neighbours = _neighbour_lists(self.vectors, self.photos, self.open, radius)
        self.core = self._core_flags()
        self.heap: list[tuple[float, int, int]] = []
        self.waiting: list[tuple[float, int, int]] = []

    def cluster(self, new_person_id: Callable[[], int]) -> None:
        """Steps 3-5 of the module docstring."""
        for index in np.flatnonzero(self.open):
            self._push_links(int(index), towards_open=False)
        self._grow(self.params.core_distance, cores_only=True)
        for seed in self._seed_order():
            if self.person[seed] is not None:
                continue
            clique = self._clique(seed)
            if len(clique) >= self.params.min_faces:
                pid = new_person_id()
                for member in clique:
                    self._assign(member, pid)
                self._grow(self.params.core_distance, cores_only=True)
        for link in self.waiting:  # step 5: the sparse faces' turn
            heapq.heappush(self.heap, link)
        self._grow(self.params.max_distance, cores_only=False)

    def _core_flags(self) -> NDArray[np.bool_]:
        flags = np.zeros(len(self.faces), dtype=bool)
        for index, near in self.neighbours.items():
            photos = {int(self.photos[j]) for d, j in near if d <= self.params.core_distance}
            flags[index] = len(photos) + 1 >= self.params.min_faces
        return flags

    def _seed_order(self) -> list[int]:
        """Open core faces, most dense-neighboured first, then tightest, then by face id."""

        def density(index: int) -> tuple[int, float, int]:
            close = [d for d, _ in self.neighbours[index] if d <= self.params.core_distance]
            return (-len(close), float(np.mean(close)) if close else 0.0, index)

        return sorted((int(i) for i in np.flatnonzero(self.open & self.core)), key=density)

    def _clique(self, seed: int) -> list[int]:
        """Seed plus its nearest open neighbours that are all pairwise within core distance."""
        members, photos = [seed], {int(self.photos[seed])}
        for distance, candidate in self.neighbours[seed]:
            if distance > self.params.core_distance:
                break
            if not self.open[candidate] or self.person[candidate] is not None:
                continue
            if int(self.photos[candidate]) in photos:
                continue
            gaps = _distances(self.vectors[candidate][None], self.vectors[members])[0]
            if bool(np.all(gaps <= self.params.core_distance)):
                members.append(candidate)
                photos.add(int(self.photos[candidate]))
        return members

    def _grow(self, limit: float, cores_only: bool) -> None:
        """Hand open faces to their nearest assigned neighbour's person, nearest pair first.

        With ``cores_only``, links of sparse faces are set aside in ``waiting`` for step 5.
        """
        while self.heap and self.heap[0][0] <= limit:
            link = heapq.heappop(self.heap)
            _, face, via = link
            if self.person[face] is not None:
                continue
            if cores_only and not self.core[face]:
                self.waiting.append(link)
                continue
            pid = self.person[via]
            if pid is not None and self._may_join(face, pid):
                self._assign(face, pid)

    def _may_join(self, face: int, pid: int) -> bool:
        if (self.faces[face].face_id, pid) in self.decisions.rejected:
            return False
        return int(self.photos[face]) not in self.photos_of.get(pid, set())

    def _assign(self, face: int, pid: int) -> None:
        self.person[face] = pid
        self.photos_of.setdefault(pid, set()).add(int(self.photos[face]))
        self._push_links(face, towards_open=True)

    def _push_links(self, face: int, towards_open: bool) -> None:
        """Queue links between ``face`` and its neighbours; always open face first."""
        for distance, other in self.neighbours.get(face, []):
            if towards_open and self.open[other] and self.person[other] is None:
                heapq.heappush(self.heap, (distance, other, face))
            elif not towards_open and self.person[other] is not None:
                heapq.heappush(self.heap, (distance, face, other))


def _unit_rows(embeddings: NDArray[np.floating], rows: list[int]) -> NDArray[np.float32]:
    """float32 unit rows (float16 storage loses a little norm; re-normalising restores it)."""
    vectors = np.asarray(embeddings[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _distances(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Euclidean distances between unit rows of ``a`` and ``b``."""
    return np.sqrt(np.clip(2.0 - 2.0 * (a @ b.T), 0.0, None))


def _neighbour_lists(
    vectors: NDArray[np.float32],
    photos: NDArray[np.int64],
    wanted: NDArray[np.bool_],
    radius: float,
) -> dict[int, list[tuple[float, int]]]:
    """For each wanted face: up to MAX_NEIGHBOURS (distance, index) within ``radius``.

    Faces of the same photo are never neighbours (they cannot be the same person), nor
    is a face its own. Sorted by distance, then index (face id order), for determinism.
    """
    rows = np.flatnonzero(wanted)
    step = max(1, BLOCK_ELEMENTS // max(1, len(vectors)))
    result: dict[int, list[tuple[float, int]]] = {}
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        distance = _distances(vectors[block], vectors)
        distance[photos[block][:, None] == photos[None, :]] = np.inf
        for index, row in zip(block, distance, strict=True):
            result[int(index)] = _nearest(row, radius)
    return result


def _nearest(row: NDArray[np.float32], radius: float) -> list[tuple[float, int]]:
    close = np.flatnonzero(row <= radius)
    order = np.lexsort((close, row[close]))[:MAX_NEIGHBOURS]
    return [(float(row[close[k]]), int(close[k])) for k in order]


def _clusters(run: _Run, selected: Callable[[int | None], bool]) -> dict[int, list[int]]:
    """person id -> face ids, for the persons ``selected`` accepts."""
    members: dict[int, list[int]] = {}
    for face, pid in zip(run.faces, run.person, strict=True):
        if pid is not None and selected(pid):
            members.setdefault(pid, []).append(face.face_id)
    return members


def _match_old_ids(
    clusters: dict[int, list[int]],
    previous: dict[int, int | None],
    seeded: set[int],
    named: frozenset[int],
    new_person_id: Callable[[], int],
) -> dict[int, int]:
    """Temporary cluster id -> final person id, one old person per cluster at most.

    Pairs are taken greedily: named persons first, then by faces shared, then by ids.
    Persons kept by locked faces are already in the run and cannot be matched again.
    A named person is the user's own grouping (often several merged clusters, from
    libraries made before merges locked their faces), so every further cluster made
    mostly of one named person's faces stays with that person instead of splitting off.
    """
    pairs = []
    mostly_named: dict[int, int] = {}
    for temp, face_ids in clusters.items():
        shared: dict[int, int] = {}
        for face_id in face_ids:
            old = previous.get(face_id)
            if old is not None and old not in seeded:
                shared[old] = shared.get(old, 0) + 1
        pairs += [(old not in named, -count, old, -temp) for old, count in shared.items()]
        most = max(shared, key=lambda old: (shared[old], -old), default=None)
        if most in named and 2 * shared[most] > len(face_ids):
            mostly_named[temp] = most
    final: dict[int, int] = {}
    taken: set[int] = set()
    for _, _, old, negated in sorted(pairs):
        if -negated not in final and old not in taken:
            final[-negated] = old
            taken.add(old)
    for temp in sorted(clusters, reverse=True):
        if temp not in final:
            final[temp] = mostly_named.get(temp) or new_person_id()
    return final
