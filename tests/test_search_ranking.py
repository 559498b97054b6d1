"""The adaptive cutoff and hybrid blend, on score distributions with a known answer."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from hachi.search import ranking
from hachi.search.hybrid import scatter as _scatter


def rank(
    clip: NDArray[np.float32],
    lexical: NDArray[np.float32],
    must_keep: NDArray[np.bool_],
    more: int = 0,
) -> ranking.Ranked:
    """Cut adaptively, then blend and order, as the semantic search does."""
    return ranking.rank_above(clip, lexical, must_keep, ranking.cutoff(clip, more))


def _scores(relevant: int, total: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    body = rng.normal(0.18, 0.02, total - relevant)
    top = rng.normal(0.30, 0.015, relevant)
    return np.concatenate([top, body]).astype(np.float32)


def test_cutoff_follows_how_many_photos_are_relevant() -> None:
    for relevant in (5, 50, 400):
        scores = _scores(relevant, 2000)
        ranked = rank(scores, np.zeros_like(scores), np.zeros(len(scores), bool))
        kept = set(ranked.order.tolist())
        found = len(kept & set(range(relevant)))
        assert found >= 0.9 * relevant, (relevant, found)
        assert len(kept) <= relevant * 1.3 + 5, (relevant, len(kept))
        assert ranked.hidden == 2000 - len(kept)


def test_without_a_second_population_only_outliers_are_kept() -> None:
    scores = np.random.default_rng(1).normal(0.2, 0.02, 5000).astype(np.float32)
    ranked = rank(scores, np.zeros_like(scores), np.zeros(len(scores), bool))
    assert len(ranked.order) < 0.01 * len(scores)


def test_more_loosens_then_returns_everything() -> None:
    scores = _scores(30, 1000)
    counts = [
        len(rank(scores, np.zeros_like(scores), np.zeros(1000, bool), more).order)
        for more in (0, 1, 2)
    ]
    assert counts[0] <= counts[1] < counts[2] == 1000


def test_lexical_matches_are_boosted_and_full_matches_kept() -> None:
    scores = _scores(10, 500)
    lexical = np.zeros_like(scores)
    lexical[400] = 3.0  # a file named like the query, which CLIP scores as unrelated
    keep = np.zeros(500, bool)
    keep[400] = True
    ranked = rank(scores, lexical, keep)
    assert ranked.order[0] == 400, "a photo matching every word comes first"
    assert ranking.blend(scores, lexical)[400] > scores[400]


def test_scatter_places_values_by_photo_id() -> None:
    ids = np.asarray([40, 10, 30, 20], dtype=np.int64)
    got = _scatter(ids, {30: 2.5, 10: 1.0, 99: 7.0})
    assert got.tolist() == [0.0, 1.0, 2.5, 0.0]
