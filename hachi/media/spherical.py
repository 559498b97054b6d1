"""Nearness on the globe: points as 3-D unit vectors and a grid that finds neighbours fast.

Distances are measured between 3-D unit vectors (chord length), never in latitude/longitude
degrees, so Fiji's two sides of the antimeridian and the streets around a pole are neighbours
like any others.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Pairs = tuple[IntArray, IntArray, FloatArray]

EARTH_RADIUS_KM = 6371.0088
MAX_PAIRS_PER_CHUNK = 1_000_000

_NEIGHBOUR_OFFSETS = np.array(
    [(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)], dtype=np.int64
)


def km_to_chord(km: float) -> float:
    """Straight-line distance through the unit sphere for an arc of ``km`` on the Earth."""
    return 2.0 * math.sin(min(km / EARTH_RADIUS_KM, math.pi) / 2.0)


def chord_to_km(chord: FloatArray) -> FloatArray:
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


def unit_vectors(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Points on the unit sphere, where nearness needs no special case at any seam."""
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=-1)


def first_of_runs(keys: IntArray) -> NDArray[np.bool_]:
    """Marks the first element of each run of equal values in an already grouped array."""
    mask = np.ones(len(keys), dtype=bool)
    mask[1:] = keys[1:] != keys[:-1]
    return mask


class SphereGrid:
    """Unit vectors bucketed in cubic cells of 3-D space, so that every point within one
    cell's width of a query lies in the query's cell or one of its 26 neighbours. Pure numpy
    and vectorised over queries: a k-d tree would need SciPy and a Python loop per batch."""

    def __init__(self, points: FloatArray, cell: float) -> None:
        self.points = points
        self.cell = cell
        self._side = int(2.0 / cell) + 4
        keys = self._keys(self._cells(points))
        self._order = np.argsort(keys, kind="stable")
        unique = np.unique(keys[self._order], return_index=True, return_counts=True)
        self._cell_keys, self._cell_starts, self._cell_counts = unique

    def _cells(self, vectors: FloatArray) -> IntArray:
        return np.floor((vectors + 1.0) / self.cell).astype(np.int64) + 1

    def _keys(self, cells: IntArray) -> IntArray:
        return (cells[..., 0] * self._side + cells[..., 1]) * self._side + cells[..., 2]

    def _candidates(self, queries: FloatArray) -> tuple[IntArray, IntArray]:
        """Start and length, in sorted order, of the points in each query's 27 cells."""
        keys = self._keys(self._cells(queries)[:, None, :] + _NEIGHBOUR_OFFSETS)
        pos = np.searchsorted(self._cell_keys, keys).clip(max=len(self._cell_keys) - 1)
        hit = self._cell_keys[pos] == keys
        return np.where(hit, self._cell_starts[pos], 0), np.where(hit, self._cell_counts[pos], 0)

    def pairs_within(self, queries: FloatArray, radius: float) -> Iterator[Pairs]:
        """(query, point, squared chord) for every pair closer than ``radius`` (at most one
        cell), grouped by query and yielded in chunks so that a dense city cannot exhaust
        memory."""
        if radius > self.cell * (1 + 1e-9):
            raise ValueError("radius exceeds the grid cell; neighbours would be missed")
        starts, counts = self._candidates(queries)
        ends = np.cumsum(counts.sum(axis=1))
        first = 0
        while first < len(queries):
            base = ends[first - 1] if first else 0
            last = max(int(np.searchsorted(ends, base + MAX_PAIRS_PER_CHUNK, "right")), first + 1)
            chunk = slice(first, last)
            yield self._pairs(queries, first, starts[chunk], counts[chunk], radius)
            first = last

    def _pairs(
        self, queries: FloatArray, first: int, starts: IntArray, counts: IntArray, radius: float
    ) -> Pairs:
        flat = counts.ravel()
        query = np.repeat(np.arange(first, first + len(counts)), counts.sum(axis=1))
        within = np.arange(int(flat.sum())) - np.repeat(np.cumsum(flat) - flat, flat)
        point = self._order[np.repeat(starts.ravel(), flat) + within]
        chord2 = np.square(queries[query] - self.points[point]).sum(axis=1)
        keep = chord2 <= radius * radius
        return query[keep], point[keep], chord2[keep]

    def nearest(self, queries: FloatArray, radius: float) -> tuple[IntArray, FloatArray]:
        """Index of each query's nearest point within ``radius`` (-1 if none) and its chord."""
        best = np.full(len(queries), -1, dtype=np.int64)
        chord = np.full(len(queries), np.inf)
        for query, point, chord2 in self.pairs_within(queries, radius):
            if len(query) == 0:
                continue
            starts = np.flatnonzero(first_of_runs(query))
            lengths = np.diff(np.r_[starts, len(query)])
            is_min = chord2 == np.repeat(np.minimum.reduceat(chord2, starts), lengths)
            rows = np.flatnonzero(is_min)
            first = rows[first_of_runs(query[rows])]
            best[query[first]] = point[first]
            chord[query[first]] = np.sqrt(chord2[first])
        return best, chord
