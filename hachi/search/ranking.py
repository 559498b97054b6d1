"""Hybrid ranking and the adaptive relevance cutoff, as pure functions over arrays.

CLIP similarities for one query form two populations: a large body of unrelated photos
and, when the query names something in the library, a smaller group of relevant ones
scoring higher. A fixed share of the library (rclip and others keep the top 5 %) is
wrong both for rare subjects (most of that 5 % is noise) and common ones (relevant photos
are cut). Here a two-component Gaussian mixture is fitted to each query's scores and
photos are kept where the high component is the more likely one; when the scores show no
second population, only clear outliers (z >= 3) are kept. ``more`` loosens the cutoff
step by step, and at its loosest returns everything, ranked.

Lexical matches (words found in file and folder names, places, people, OCR text) add a
small boost, and photos matching every word are always kept and come first: a user who
typed a place, a file name or words printed in a photo expects those photos at the top,
whatever CLIP thinks of them, and then the photos that only look like the words (as Google
Photos' search does). Within each group the blended score orders; scores are left as they
are, so they fall within a group but may rise where the exact matches end.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FIT_SAMPLE = 5_000  # enough for two 1-D Gaussians; 20,000 cost ~10 ms more a query
FIT_BINS = 256
"""EM runs on a histogram of the sample: 256 bin centres (weighted by counts) instead of
5,000 points makes each iteration ~20x cheaper; bins are ~1/256 of the score range wide,
far finer than the cutoff needs."""
EM_ITERATIONS = 30
EM_TOLERANCE = 1e-5
MIN_SEPARATION = 1.5  # high mean must sit this many low-std above the low mean
OUTLIER_Z = 3.0
LOOSER_POSTERIOR = (0.5, 0.1)  # posterior of "relevant" needed at more=0 and more=1
LOOSER_Z = (OUTLIER_Z, 1.5)
LEXICAL_WEIGHT = 0.05  # on the cosine scale, where relevant photos stand ~0.05-0.1 apart
MAX_MORE = 2


@dataclass(frozen=True)
class Ranked:
    order: NDArray[np.int64]  # positions into the input arrays, best first, kept only
    scores: NDArray[np.float32]  # blended scores in that order
    cutoff: float | None  # the score threshold used (None when everything is kept)
    hidden: int  # candidates left out by the cutoff (what ``more`` would add)


def blend(
    clip: NDArray[np.float32], lexical: NDArray[np.float32], top: float | None = None
) -> NDArray[np.float32]:
    """CLIP score plus a boost in [0, LEXICAL_WEIGHT] for the best lexical matches
    (``top``: the best lexical score among all candidates, when these are only some)."""
    if top is None:
        top = float(lexical.max()) if len(lexical) else 0.0
    if top <= 0:
        return clip
    return clip + LEXICAL_WEIGHT * (lexical / top).astype(np.float32)


def sample_positions(count: int) -> NDArray[np.int64] | None:
    """Which of ``count`` scores the cutoff is fitted on (None: all of them). The seed is
    fixed, so a query always gets one cutoff, and callers holding approximate scores can
    make exactly these exact first. Sorted, so rows are gathered in file order."""
    if count <= FIT_SAMPLE:
        return None
    return _sample_positions(count)


@functools.lru_cache(maxsize=4)
def _sample_positions(count: int) -> NDArray[np.int64]:
    """Cached per library size: drawing 5,000 of a million costs ~0.4 ms a query."""
    drawn = np.random.default_rng(0).choice(count, FIT_SAMPLE, replace=False)
    positions = np.sort(drawn).astype(np.int64)
    positions.flags.writeable = False
    return positions


def sample(scores: NDArray[np.floating]) -> NDArray[np.float64]:
    positions = sample_positions(len(scores))
    picked = scores if positions is None else scores[positions]
    return np.asarray(picked, dtype=np.float64)


def fit_two_gaussians(scores: NDArray[np.floating]) -> tuple[float, float, float, float, float]:
    """(weight_high, mean_low, std_low, mean_high, std_high) by EM on a sample's histogram.

    Each step needs only three weighted sums (count, first and second moment) of the high
    component; the low one's follow from the totals, so a step is a dozen small vector ops.
    """
    x = sample(np.asarray(scores))
    split = np.quantile(x, 0.9)
    low, high = x[x < split], x[x >= split]
    w, m0, s0, m1, s1 = 0.1, low.mean(), low.std() + 1e-6, high.mean(), high.std() + 1e-6
    counts, edges = np.histogram(x, bins=FIT_BINS)
    filled = counts > 0
    c = ((edges[:-1] + edges[1:]) / 2)[filled]
    n = counts[filled].astype(np.float64)
    powers = np.stack([np.ones_like(c), c, c * c], axis=1)  # (bins, 3): counts, sums, squares
    totals = n @ powers
    for _ in range(EM_ITERATIONS):
        means, stds = np.array([m0, m1]), np.array([s0, s1])
        z = (c[None, :] - means[:, None]) / stds[:, None]
        p = (np.array([1 - w, w]) / stds)[:, None] * np.exp(-0.5 * z * z)
        high = (n * p[1] / np.maximum(p[0] + p[1], 1e-300)) @ powers
        low = totals - high
        if high[0] <= 1e-9 or low[0] <= 1e-9:
            break
        previous = (w, m0, m1)
        w = min(max(high[0] / totals[0], 1e-6), 1 - 1e-6)
        m1, m0 = high[1] / high[0], low[1] / low[0]
        s1 = max(max(high[2] / high[0] - m1 * m1, 0.0) ** 0.5, 1e-4)
        s0 = max(max(low[2] / low[0] - m0 * m0, 0.0) ** 0.5, 1e-4)
        if max(abs(a - b) for a, b in zip(previous, (w, m0, m1), strict=True)) < EM_TOLERANCE:
            break
    return w, float(m0), float(s0), float(m1), float(s1)


def _pdf(x: NDArray[np.float64], mean: float, std: float) -> NDArray[np.float64]:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / std


def cutoff(scores: NDArray[np.float32], more: int = 0) -> float | None:
    """The score a photo needs to be shown; None means show everything."""
    return cutoff_of_sample(sample(scores), len(scores), more)


def cutoff_of_sample(picked: NDArray[np.floating], count: int, more: int = 0) -> float | None:
    """``cutoff`` from the scores at ``sample_positions(count)`` (all of them for a small
    library), for callers that score just those exactly."""
    if more >= MAX_MORE or count < 3:
        return None
    x = np.asarray(picked, dtype=np.float64)
    w, m0, s0, m1, s1 = fit_two_gaussians(x)
    if m1 - m0 >= MIN_SEPARATION * s0 and w < 0.5:
        grid = np.linspace(m0, m1 + 3 * s1, 512)
        p1 = w * _pdf(grid, m1, s1)
        post = p1 / np.maximum(p1 + (1 - w) * _pdf(grid, m0, s0), 1e-300)
        above = np.nonzero(post >= LOOSER_POSTERIOR[more])[0]
        if len(above):
            return float(grid[above[0]])
    mean, std = float(x.mean()), float(x.std())
    return mean + LOOSER_Z[more] * std


def rank_above(
    clip: NDArray[np.float32],
    lexical: NDArray[np.float32],
    must_keep: NDArray[np.bool_],
    threshold: float | None,
) -> Ranked:
    """Blend, cut at ``threshold`` (None keeps everything), order best first; arrays are
    aligned per candidate photo. Only the kept photos are blended and sorted, so a million
    candidates cost two vector passes."""
    if len(clip) == 0:
        return Ranked(np.zeros(0, np.int64), np.zeros(0, np.float32), None, 0)
    if threshold is None:
        kept = np.arange(len(clip))
    else:
        kept = np.flatnonzero((clip >= threshold) | must_keep)
    blended = blend(clip[kept], lexical[kept], float(lexical.max()))
    by_score = np.lexsort((-blended, ~must_keep[kept]))  # exact matches first, then score
    order = kept[by_score].astype(np.int64)
    return Ranked(order, blended[by_score], threshold, int(len(clip) - len(kept)))
