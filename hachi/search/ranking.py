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
small boost, and photos matching every word are always kept: a user who typed a file or
place name expects those photos whatever CLIP thinks of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FIT_SAMPLE = 5_000  # enough for two 1-D Gaussians; 20,000 cost ~10 ms more a query
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


def blend(clip: NDArray[np.float32], lexical: NDArray[np.float32]) -> NDArray[np.float32]:
    """CLIP score plus a boost in [0, LEXICAL_WEIGHT] for the best lexical matches."""
    top = float(lexical.max()) if len(lexical) else 0.0
    if top <= 0:
        return clip
    return clip + LEXICAL_WEIGHT * (lexical / top).astype(np.float32)


def fit_two_gaussians(scores: NDArray[np.float32]) -> tuple[float, float, float, float, float]:
    """(weight_high, mean_low, std_low, mean_high, std_high) by EM on a sample."""
    x = scores.astype(np.float64)
    if len(x) > FIT_SAMPLE:
        x = np.random.default_rng(0).choice(x, FIT_SAMPLE, replace=False)
    split = np.quantile(x, 0.9)
    low, high = x[x < split], x[x >= split]
    w, m0, s0, m1, s1 = 0.1, low.mean(), low.std() + 1e-6, high.mean(), high.std() + 1e-6
    for _ in range(EM_ITERATIONS):
        p1 = w * _pdf(x, m1, s1)
        p0 = (1 - w) * _pdf(x, m0, s0)
        r = p1 / np.maximum(p0 + p1, 1e-300)
        previous = (w, m0, m1)
        w = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        m0, s0 = _moments(x, 1 - r)
        m1, s1 = _moments(x, r)
        if max(abs(a - b) for a, b in zip(previous, (w, m0, m1), strict=True)) < EM_TOLERANCE:
            break
    return w, m0, s0, m1, s1


def _pdf(x: NDArray[np.float64], mean: float, std: float) -> NDArray[np.float64]:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / std


def _moments(x: NDArray[np.float64], weights: NDArray[np.float64]) -> tuple[float, float]:
    total = max(float(weights.sum()), 1e-12)
    mean = float((weights * x).sum() / total)
    var = float((weights * (x - mean) ** 2).sum() / total)
    return mean, max(var**0.5, 1e-4)


def cutoff(scores: NDArray[np.float32], more: int = 0) -> float | None:
    """The score a photo needs to be shown; None means show everything."""
    if more >= MAX_MORE or len(scores) < 3:
        return None
    w, m0, s0, m1, s1 = fit_two_gaussians(scores)
    if m1 - m0 >= MIN_SEPARATION * s0 and w < 0.5:
        grid = np.linspace(m0, m1 + 3 * s1, 512)
        p1 = w * _pdf(grid, m1, s1)
        post = p1 / np.maximum(p1 + (1 - w) * _pdf(grid, m0, s0), 1e-300)
        above = np.nonzero(post >= LOOSER_POSTERIOR[more])[0]
        if len(above):
            return float(grid[above[0]])
    mean, std = float(scores.mean()), float(scores.std())
    return mean + LOOSER_Z[more] * std


def rank(
    clip: NDArray[np.float32],
    lexical: NDArray[np.float32],
    must_keep: NDArray[np.bool_],
    more: int = 0,
) -> Ranked:
    """Blend, cut adaptively, order best first. Arrays are aligned per candidate photo."""
    if len(clip) == 0:
        return Ranked(np.zeros(0, np.int64), np.zeros(0, np.float32), None, 0)
    threshold = cutoff(clip, more)
    blended = blend(clip, lexical)
    keep = must_keep.copy() if threshold is not None else np.ones(len(clip), bool)
    if threshold is not None:
        keep |= clip >= threshold
    kept = np.nonzero(keep)[0]
    order = kept[np.argsort(-blended[kept], kind="stable")]
    return Ranked(order.astype(np.int64), blended[order], threshold, int(len(clip) - len(kept)))
