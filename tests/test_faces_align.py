"""Five-point alignment: the similarity fit and the 112 x 112 warp."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hachi.ml.faces.align import ALIGNED_SIZE, ARCFACE_REFERENCE, align_face, similarity_transform


def similarity(angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[cos, -sin, shift[0]], [sin, cos, shift[1]]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize("seed", range(5))
def test_recovers_a_known_similarity_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = similarity(
        rng.uniform(-math.pi, math.pi), rng.uniform(0.2, 5), tuple(rng.normal(0, 300, 2))
    )
    source = rng.uniform(0, 1000, (5, 2))
    fitted = similarity_transform(source, apply(truth, source))
    assert np.allclose(fitted, truth, atol=1e-8)


def test_noisy_points_give_the_least_squares_fit() -> None:
    rng = np.random.default_rng(7)
    truth = similarity(0.3, 0.5, (10.0, -4.0))
    source = rng.uniform(0, 400, (5, 2))
    target = apply(truth, source) + rng.normal(0, 1.0, (5, 2))
    fitted = similarity_transform(source, target)
    best = np.sum((apply(fitted, source) - target) ** 2)
    for _ in range(200):  # no nearby similarity fits better
        angle, scale = 0.3 + rng.normal(0, 0.01), 0.5 * (1 + rng.normal(0, 0.01))
        shift = (10.0 + rng.normal(0, 0.5), -4.0 + rng.normal(0, 0.5))
        other = apply(similarity(angle, scale, shift), source)
        assert np.sum((other - target) ** 2) >= best - 1e-9


def test_never_mirrors_a_face() -> None:
    mirrored = ARCFACE_REFERENCE * np.array([-1.0, 1.0]) + np.array([200.0, 0.0])
    fitted = similarity_transform(mirrored, ARCFACE_REFERENCE)
    assert np.linalg.det(fitted[:, :2]) > 0


def test_warp_puts_the_landmarks_on_the_reference() -> None:
    truth = similarity(math.radians(25), 3.2, (400.0, 150.0))
    landmarks = apply(truth, ARCFACE_REFERENCE)  # a tilted face, 3.2x larger, in a big photo
    photo = np.zeros((900, 1000, 3), dtype=np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    yy, xx = np.mgrid[:900, :1000]
    for (x, y), colour in zip(landmarks, colours, strict=True):
        photo[(xx - x) ** 2 + (yy - y) ** 2 <= 36] = colour
    crop = align_face(photo, landmarks)
    assert crop.shape == (ALIGNED_SIZE, ALIGNED_SIZE, 3) and crop.dtype == np.uint8
    for (x, y), colour in zip(ARCFACE_REFERENCE, colours, strict=True):
        mask = np.all(np.abs(crop.astype(int) - colour) < 60, axis=-1)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 3
        assert abs(xs.mean() - x) < 1.0 and abs(ys.mean() - y) < 1.0


def test_parts_outside_the_photo_are_black() -> None:
    photo = np.full((100, 100, 3), 200, dtype=np.uint8)
    landmarks = ARCFACE_REFERENCE * 0.5 - 20  # face hanging off the top-left corner
    crop = align_face(photo, landmarks)
    assert crop[0, 0].tolist() == [0, 0, 0]
    assert crop[-1, -1].tolist() == [200, 200, 200]


def test_other_crop_sizes_scale_the_reference() -> None:
    crop = align_face(np.zeros((300, 300, 3), np.uint8), ARCFACE_REFERENCE + 50, size=224)
    assert crop.shape == (224, 224, 3)
