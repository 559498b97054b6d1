"""What every face backend returns, so the indexer and the people clustering never care
which detector or embedder produced a face.

Boxes and landmarks are always in the pixels of the original photo (after its EXIF
orientation was applied): the indexer usually hands a backend a reduced copy to save
time, and the catalog, thumbnails and UI all speak original pixels.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.ml.base import Model

Box = tuple[int, int, int, int]
Point = tuple[float, float]


@dataclass(frozen=True)
class DetectedFace:
    """One face: where it is (x, y, w, h), its 5 landmarks, how sure we are, who it looks like.

    Landmark meaning is per backend (dlib: eye corners and nose; insightface: eye
    centres, nose tip and mouth corners); both are 5 points in original pixels.
    """

    box: Box
    landmarks: tuple[Point, ...]
    score: float
    embedding: NDArray[np.float32]


class FaceBackend(Model):
    """Detector + aligner + embedder behind one call.

    ``predict(image, scale)``: ``image`` may be a reduced copy of the photo and ``scale``
    is original size / image size, so results come back in original pixels.
    """

    name: str = ""
    dim: int = 0
    concurrent: bool = False
    """Whether ``predict`` may run on several threads at once (then a pass runs it on its
    reader threads, one photo each, and both cores work)."""

    screens: bool = False
    """Whether ``might_hold_faces`` can rule photos out (else it always says yes)."""

    @abstractmethod
    def predict(self, image: Image.Image, scale: float = 1.0) -> list[DetectedFace]:
        """Find, align and embed every face in one (already oriented) photo."""

    def might_hold_faces(self, image: Image.Image) -> bool:
        """False only when ``image`` (any size; the indexer's small decode) surely holds no
        face this backend would find; needs no model loaded."""
        return True


def rgb_array(image: Image.Image) -> NDArray[np.uint8]:
    """Contiguous H x W x 3 uint8 RGB pixels; alpha is dropped, palettes and greys expanded."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def l2_normalise(vector: NDArray[np.floating]) -> NDArray[np.float32]:
    """Unit length float32, so cosine similarity is a dot product across the whole system."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def scale_box(box: tuple[float, float, float, float], size: tuple[int, int], scale: float) -> Box:
    """(x0, y0, x1, y1) in working pixels -> integer (x, y, w, h) in original pixels.

    Detectors happily return boxes that overhang the frame; clipping to the working
    image (``size`` = width, height) keeps face crops and the UI's overlays inside it.
    """
    width, height = size
    x0, x1 = (min(max(v, 0.0), float(width)) * scale for v in (box[0], box[2]))
    y0, y1 = (min(max(v, 0.0), float(height)) * scale for v in (box[1], box[3]))
    left, top = round(x0), round(y0)
    return left, top, max(1, round(x1) - left), max(1, round(y1) - top)


def scale_points(points: NDArray[np.floating], scale: float) -> tuple[Point, ...]:
    """N x 2 working-pixel points -> tuple of (x, y) floats in original pixels."""
    return tuple((float(x) * scale, float(y) * scale) for x, y in np.asarray(points))
