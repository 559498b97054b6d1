"""Five-point face alignment for ArcFace-style embedders, as pure numpy + OpenCV.

ArcFace models were trained on 112 x 112 crops in which the eyes, nose tip and mouth
corners sit at fixed reference positions; feeding anything else costs accuracy. We fit
the similarity transform (rotation, uniform scale, translation: no shear, no mirror) that
best maps the detected landmarks onto those positions in the least-squares sense
(Umeyama's closed form), then warp the photo with it.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

ALIGNED_SIZE = 112
# Reference landmarks of the 112 x 112 ArcFace crop: left eye, right eye, nose tip,
# left mouth corner, right mouth corner (image left/right), in pixels.
ARCFACE_REFERENCE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def similarity_transform(
    source: NDArray[np.floating], target: NDArray[np.floating]
) -> NDArray[np.float64]:
    """2 x 3 matrix of the similarity that maps ``source`` points closest to ``target``.

    Closed form: centre both point sets, take the SVD of their cross-covariance; the
    rotation is U·D·Vᵀ where D flips the last axis if needed so the result is a proper
    rotation (a mirror image of a face is a different face), and the scale is the ratio
    of the singular values' (signed) sum to the source variance.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    flip = np.diag([1.0, float(np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0)])
    rotation = u @ flip @ vt
    variance = float((src_c**2).sum() / len(src))
    scale = float(np.trace(np.diag(singular) @ flip)) / variance if variance > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(
    pixels: NDArray[np.uint8], landmarks: NDArray[np.floating], size: int = ALIGNED_SIZE
) -> NDArray[np.uint8]:
    """The size x size crop (H x W x 3, same channel order as ``pixels``) of one face.

    Pixels that fall outside the photo are black, as in the crops ArcFace saw in training.
    """
    reference = ARCFACE_REFERENCE * (size / ALIGNED_SIZE)
    matrix = similarity_transform(landmarks, reference)
    crop = cv2.warpAffine(
        pixels, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
    )
    return np.asarray(crop, dtype=np.uint8)
