"""Grouping near-duplicate photos from their fingerprints, without comparing all pairs.

Three tiers, the closest first: *identical* (the same bytes), *edited* copies (resized,
recompressed, converted, cropped a little, brightened, turned by an orientation tag) and
*bursts* (frames seconds apart from one camera). The thresholds below were measured on the
generated hold-out in tests/duplicate_holdout.py, with the drawn shapes of the semantic
tests as extra negatives (README, "Duplicates"); the CLIP cosine is a conservative veto,
not measured (no trained CLIP weights are available to the tests).

Candidates come from buckets, never from all pairs: byte-identical files share a content
hash; bursts are neighbours in (camera, time) order; edited copies share a bucket in at
least one of ``LSH_TABLES`` tables, each keyed by ``LSH_BITS`` sampled bits of the 64-bit
hash (within a bucket, rows are sorted by the whole hash and compared with their next
``BUCKET_WINDOW`` neighbours, so one huge bucket of dark photos stays linear). New photos
are instead compared with every photo (one vectorised XOR each), which is exact.

A candidate pair is *linked* only when it passes every test of its tier (hash bits, colour
layout, aspect ratio, dates, CLIP cosine when both photos have vectors). Groups are then
the connected components of links, except that a component whose members are not all
linked to each other is split by average linkage below one half, with dates more than a
burst apart as cannot-links: a photo joins a group only when it is linked to most of it,
so a chain of small steps (a slow pan) or one false link never joins two distinct scenes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.hierarchy import linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform

from hachi.media.perceptual import chroma_distances

NONE, IDENTICAL, EDITED, BURST = 0, 1, 2, 3
KINDS = {IDENTICAL: "identical", EDITED: "edited", BURST: "burst"}

HASH_BITS = 64
LSH_TABLES = 48
LSH_BITS = 16
BUCKET_WINDOW = 24
LSH_SEED = 20261207
CLIP_CHUNK = 4096
LINKAGE = "average"
LINKAGE_CUT = 0.49
"""Average linkage cut below one half: a group's photos are each linked to most of it."""
APART = 1000.0
"""The distance of two photos taken at different moments: average linkage never joins them."""
FULL_REGROUP_SHARE = 0.05
"""More new photos than this share of the library are grouped by buckets, not one by one."""


@dataclass(frozen=True)
class Thresholds:
    """The largest differences a link allows; measured, see the module docstring."""

    edit_bits: int = 14
    burst_bits: int = 22
    chroma: float = 9.0
    hues: float = 30.0
    aspect: float = 0.08
    burst_seconds: float = 10.0
    clip_min: float = 0.85


@dataclass
class Fingerprints:
    """Column arrays of the photos to group, row i describing ``ids[i]``."""

    ids: NDArray[np.int64]
    phash: NDArray[np.uint64]
    chroma: NDArray[np.int16]  # (n, 48): perceptual.color_layout
    content: NDArray[np.int64]  # equal numbers: equal content hashes
    camera: NDArray[np.int64]  # -1: unknown
    taken: NDArray[np.float64]  # seconds of the metadata's date; NaN: no metadata date
    aspect: NDArray[np.float64] | None = None  # log(width / height) upright; NaN: unknown
    video: NDArray[np.bool_] | None = None  # videos (by their poster) group only with videos
    clip: NDArray[np.floating] | None = None  # CLIP vectors (unit length), e.g. a memory map
    clip_rows: NDArray[np.int64] | None = None  # each photo's row of ``clip``; -1: none

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ClipVectors:
    """A CLIP model's vectors and the row of each photo that has one."""

    matrix: NDArray[np.floating]
    rows: dict[int, int]


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]  # row indices into the Fingerprints
    kind: str


def popcount(values: NDArray[np.uint64]) -> NDArray[np.int64]:
    return np.bitwise_count(values).astype(np.int64)


def link_kinds(
    fp: Fingerprints, left: NDArray[np.int64], right: NDArray[np.int64], th: Thresholds
) -> NDArray[np.int8]:
    """The tier linking each pair (left[k], right[k]), or NONE."""
    kinds = np.zeros(len(left), dtype=np.int8)
    if len(left) == 0:
        return kinds
    bits = popcount(fp.phash[left] ^ fp.phash[right])
    grid, hues = chroma_distances(fp.chroma[left], fp.chroma[right])
    looks_alike = (grid <= th.chroma) & (hues <= th.hues)
    if fp.aspect is not None:  # copies keep their shape; a crop of a few % barely moves it
        stretch = np.abs(fp.aspect[left] - fp.aspect[right])
        looks_alike &= ~(stretch > th.aspect)
    if fp.video is not None:  # a still of a video's poster is not a copy of the video
        looks_alike &= fp.video[left] == fp.video[right]
    if fp.clip is not None and fp.clip_rows is not None:
        looks_alike &= _clip_agrees(fp.clip, fp.clip_rows[left], fp.clip_rows[right], th)
    dated = ~np.isnan(fp.taken[left]) & ~np.isnan(fp.taken[right])
    apart = np.abs(np.nan_to_num(fp.taken[left] - fp.taken[right]))
    burst = (
        dated
        & (apart > 0)
        & (apart <= th.burst_seconds)
        & (fp.camera[left] == fp.camera[right])
        & (fp.camera[left] >= 0)
        & (bits <= th.burst_bits)
    )
    # Two dated shots further apart than a burst are two moments, however alike.
    edited = (bits <= th.edit_bits) & ~(dated & (apart > th.burst_seconds)) & ~burst
    kinds[looks_alike & edited] = EDITED
    kinds[looks_alike & burst] = BURST
    kinds[fp.content[left] == fp.content[right]] = IDENTICAL
    return kinds


def _clip_agrees(
    matrix: NDArray[np.floating],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    th: Thresholds,
) -> NDArray[np.bool_]:
    """False where both photos have vectors and CLIP sees different things (chunked: the
    pairs' vectors are gathered from a memory map a few thousand at a time)."""
    agrees = np.ones(len(left), dtype=bool)
    both = np.flatnonzero((left >= 0) & (right >= 0))
    for start in range(0, len(both), CLIP_CHUNK):
        part = both[start : start + CLIP_CHUNK]
        a = np.asarray(matrix[left[part]], dtype=np.float32)
        b = np.asarray(matrix[right[part]], dtype=np.float32)
        agrees[part] = (a * b).sum(axis=1) >= th.clip_min
    return agrees


# -- candidates ------------------------------------------------------------------------


def _neighbours_in_order(
    order: NDArray[np.int64], keys: NDArray[np.integer], window: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs of rows up to ``window`` apart in ``order`` whose ``keys`` are equal."""
    lefts, rights = [], []
    sorted_keys = keys[order]
    for offset in range(1, window + 1):
        if offset >= len(order):
            break
        match = sorted_keys[offset:] == sorted_keys[:-offset]
        if not match.any():
            break
        lefts.append(order[:-offset][match])
        rights.append(order[offset:][match])
    if not lefts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(lefts), np.concatenate(rights)


def bucket_pairs(fp: Fingerprints, th: Thresholds) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Candidate pairs of the whole set from buckets (content, LSH tables, camera time)."""
    n = len(fp)
    lefts, rights = [], []
    every = np.arange(n, dtype=np.int64)
    by_content = np.lexsort((every, fp.content))
    a, b = _neighbours_in_order(by_content, fp.content, n)
    lefts.append(a)
    rights.append(b)
    reach = th.edit_bits  # the tables look for edited copies; bursts come from time order
    rng = np.random.default_rng(LSH_SEED)
    for _ in range(LSH_TABLES):
        keys = np.zeros(n, dtype=np.uint64)
        for bit in rng.choice(64, LSH_BITS, replace=False):
            keys = (keys << np.uint64(1)) | ((fp.phash >> np.uint64(bit)) & np.uint64(1))
        order = np.lexsort((fp.phash, keys))
        a, b = _neighbours_in_order(order, keys, BUCKET_WINDOW)
        # Most pairs sharing a bucket share it by chance: drop them here, cheaply, before
        # they are gathered and compared in full.
        near = popcount(fp.phash[a] ^ fp.phash[b]) <= reach
        lefts.append(a[near])
        rights.append(b[near])
    a, b = _burst_neighbours(fp, th)
    lefts.append(a)
    rights.append(b)
    return _unique_pairs(np.concatenate(lefts), np.concatenate(rights), n)


def _burst_neighbours(
    fp: Fingerprints, th: Thresholds
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs of dated shots of one camera within ``burst_seconds`` (time order, windowed)."""
    dated = np.flatnonzero(~np.isnan(fp.taken) & (fp.camera >= 0))
    if len(dated) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = dated[np.lexsort((fp.taken[dated], fp.camera[dated]))]
    lefts, rights = [], []
    for offset in range(1, BUCKET_WINDOW + 1):
        if offset >= len(order):
            break
        a, b = order[:-offset], order[offset:]
        near = (fp.camera[a] == fp.camera[b]) & (fp.taken[b] - fp.taken[a] <= th.burst_seconds)
        if not near.any():
            break
        lefts.append(a[near])
        rights.append(b[near])
    if not lefts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(lefts), np.concatenate(rights)


def pairs_with(
    fp: Fingerprints, rows: NDArray[np.int64], th: Thresholds
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Candidate pairs of each of ``rows`` with every photo: exact, for a few new photos."""
    reach = max(th.edit_bits, th.burst_bits)
    lefts, rights = [], []
    for row in rows:
        close = popcount(fp.phash ^ fp.phash[row]) <= reach
        close |= fp.content == fp.content[row]
        close[row] = False
        found = np.flatnonzero(close)
        lefts.append(np.full(len(found), row, dtype=np.int64))
        rights.append(found.astype(np.int64))
    if not lefts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return _unique_pairs(np.concatenate(lefts), np.concatenate(rights), len(fp))


def _unique_pairs(
    left: NDArray[np.int64], right: NDArray[np.int64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    keep = lo != hi
    codes = np.sort(lo[keep] * n + hi[keep])  # sorting beats np.unique's hashing here
    if len(codes):
        codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])]
    return codes // n, codes % n


# -- groups ----------------------------------------------------------------------------


def group(
    fp: Fingerprints,
    th: Thresholds,
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    together: list[NDArray[np.int64]] | None = None,
) -> list[Group]:
    """Groups from candidate pairs; ``together`` are earlier groups to re-check with them."""
    kinds = link_kinds(fp, left, right, th)
    linked = kinds != NONE
    a, b = left[linked], right[linked]
    for rows in together or []:
        a = np.concatenate([a, np.full(len(rows) - 1, rows[0])])
        b = np.concatenate([b, rows[1:]])
    n = len(fp)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels, minlength=count)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    components = [order[starts[c] : starts[c + 1]] for c in np.flatnonzero(sizes >= 2)]
    # Most components are linked throughout: their pairs are checked in one batch, and
    # only the others are split (one by one, by linkage).
    pairs = [_pairs_of(len(members)) for members in components]
    none = [np.zeros(0, dtype=np.int64)]
    left = np.concatenate([m[i] for m, (i, _) in zip(components, pairs, strict=True)] or none)
    right = np.concatenate([m[j] for m, (_, j) in zip(components, pairs, strict=True)] or none)
    kinds = link_kinds(fp, left.astype(np.int64), right.astype(np.int64), th)
    ends = np.cumsum([len(i) for i, _ in pairs])
    groups: list[Group] = []
    for members, end, (i, _) in zip(components, ends, pairs, strict=True):
        inside = kinds[end - len(i) : end]
        if (inside != NONE).all():
            groups.append(Group(tuple(int(m) for m in members), _kind(inside)))
        else:
            groups += _complete_groups(fp, th, members)
    return groups


@functools.lru_cache(maxsize=64)
def _pairs_of(size: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    i, j = np.triu_indices(size, k=1)
    return i, j


def _complete_groups(fp: Fingerprints, th: Thresholds, members: NDArray[np.int64]) -> list[Group]:
    """Splits a component so that the photos of a group are linked to one another.

    Byte-identical files are one node here (their fingerprints are the same), so they are
    never split. Nodes are merged by average linkage below one half: a photo joins a group
    only when it is linked to most of it, so a chain of small steps (a slow pan) or one
    false link never carries a distinct scene into a group.
    """
    node_by_content: dict[int, int] = {}
    node_of = np.array(
        [node_by_content.setdefault(int(c), len(node_by_content)) for c in fp.content[members]]
    )
    first = np.array([int(np.argmax(node_of == k)) for k in range(len(node_by_content))])
    nodes = members[first]
    if len(nodes) == 1:
        return [Group(tuple(int(m) for m in members), KINDS[IDENTICAL])]
    i, j = _pairs_of(len(nodes))
    kinds = link_kinds(fp, nodes[i], nodes[j], th)
    if (kinds != NONE).all():
        labels = np.ones(len(nodes), dtype=np.int64)
    else:
        # Linked pairs are nearer the fewer bits they differ by, so an undated copy that
        # looks like two moments of one scene joins the one it is closest to.
        bits = popcount(fp.phash[nodes[i]] ^ fp.phash[nodes[j]]) / (4.0 * HASH_BITS)
        distance = np.where(kinds != NONE, bits, 1.0)
        distance[_moments_apart(fp, nodes[i], nodes[j], th)] = APART
        labels = _cut(linkage(distance, method=LINKAGE), len(nodes))
    matrix = squareform(kinds.astype(np.float64))
    groups = []
    for label in sorted(set(labels.tolist())):
        inside = np.flatnonzero(labels == label)
        rows = members[np.isin(node_of, inside)]
        if len(rows) < 2:
            continue
        if len(inside) == 1:
            kind = KINDS[IDENTICAL]
        else:
            kind = _kind(matrix[np.ix_(inside, inside)][np.triu_indices(len(inside), k=1)])
        groups.append(Group(tuple(int(m) for m in rows), kind))
    return groups


def _cut(tree: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """Flat clusters of a linkage tree: its merges up to LINKAGE_CUT (fcluster's
    "distance" criterion, without its validation, which costs more than the tree)."""
    cluster = list(range(2 * n - 1))
    for k, (a, b, height, _) in enumerate(tree):
        if height <= LINKAGE_CUT:
            cluster[int(a)] = cluster[int(b)] = n + k
    labels = np.zeros(n, dtype=np.int64)
    for leaf in range(n):
        node = leaf
        while cluster[node] != node:
            node = cluster[node]
        labels[leaf] = node
    return labels


def _moments_apart(
    fp: Fingerprints, left: NDArray[np.int64], right: NDArray[np.int64], th: Thresholds
) -> NDArray[np.bool_]:
    """Pairs whose metadata dates are further apart than a burst: two moments, which no
    number of undated copies in between may put into one group."""
    gap = np.abs(fp.taken[left] - fp.taken[right])
    return np.nan_to_num(gap, nan=0.0) > th.burst_seconds


def _kind(pair_kinds: NDArray[np.generic]) -> str:
    """A group is as loose as its loosest link: identical < edited copy < burst."""
    return KINDS[int(np.max(pair_kinds))]


def group_all(fp: Fingerprints, th: Thresholds | None = None) -> list[Group]:
    """Every group of the set, from buckets."""
    th = th or Thresholds()
    left, right = bucket_pairs(fp, th)
    return group(fp, th, left, right)
