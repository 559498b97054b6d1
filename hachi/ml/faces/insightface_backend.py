"""The accurate face backend: SCRFD detector + ArcFace embedder, both ONNX on ONNX Runtime.

Licence: the insightface model packs (buffalo_l, buffalo_sc) are released for
NON-COMMERCIAL RESEARCH USE ONLY. Hachi never downloads them unless the user asks
(`hachi models pull buffalo_l`), and the default backend is dlib for that reason.

Pipeline per photo: letterbox to the detector's input (see ``scrfd.letterbox``), decode
and suppress (``scrfd.decode``), align every face to 112 x 112 with its five landmarks
(``align.align_face``), normalise (x - 127.5) / 127.5 in RGB, embed in one batch,
L2-normalise. Everything here runs on the image the caller passed; boxes are then
scaled to original pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.errors import HachiError, ModelUnavailable
from hachi.ml.faces.align import ALIGNED_SIZE, align_face
from hachi.ml.faces.base import (
    DetectedFace,
    FaceBackend,
    l2_normalise,
    rgb_array,
    scale_box,
    scale_points,
)
from hachi.ml.faces.scrfd import INPUT_SIZE, RawDetection, decode, letterbox
from hachi.ml.sessions import create_session

EMBED_MEAN = 127.5
EMBED_STD = 127.5
MIN_FACE_PIXELS = 24  # ArcFace upsamples smaller faces into mush


class InsightFaceBackend(FaceBackend):
    """SCRFD + ArcFace (512-d). Weights: non-commercial research use only (see module)."""

    name = "insightface"
    dim = 512

    def __init__(self, detector: Path, embedder: Path, threads: int | None = None) -> None:
        super().__init__()
        self.detector_path = detector
        self.embedder_path = embedder
        self._threads = threads
        self._detector: Any = None
        self._embedder: Any = None

    def load(self) -> None:
        self._detector = self._open(self.detector_path)
        self._embedder = self._open(self.embedder_path)

    def _open(self, path: Path) -> Any:
        """A session, or ModelUnavailable naming the reinstall command for a damaged file."""
        try:
            return create_session(path, self._threads)
        except HachiError:
            raise
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            command = f"hachi models pull {path.parent.name}"
            raise ModelUnavailable(
                f"cannot open face model {path.name} ({exc}); reinstall with `{command}`",
                {"path": str(path), "command": command},
            ) from exc

    def release(self) -> None:
        self._detector = self._embedder = None

    def predict(self, image: Image.Image, scale: float = 1.0) -> list[DetectedFace]:
        self.ensure_loaded()
        pixels = rgb_array(image)
        found = [
            face for face in self.detect(pixels) if face.box[2] - face.box[0] >= MIN_FACE_PIXELS
        ]
        if not found:
            return []
        vectors = self.embed(np.stack([align_face(pixels, face.landmarks) for face in found]))
        return [
            DetectedFace(
                box=scale_box(face.box, image.size, scale),
                landmarks=scale_points(face.landmarks, scale),
                score=face.score,
                embedding=vector,
            )
            for face, vector in zip(found, vectors, strict=True)
        ]

    def detect(self, pixels: NDArray[np.uint8]) -> list[RawDetection]:
        """Faces in an RGB H x W x 3 array, in its pixels, strongest first."""
        size = _input_size(self._detector.get_inputs()[0].shape)
        blob, ratio = letterbox(pixels, size)
        outputs = self._detector.run(None, {self._detector.get_inputs()[0].name: blob})
        return decode(outputs, size, ratio)

    def embed(self, chips: NDArray[np.uint8]) -> list[NDArray[np.float32]]:
        """Unit 512-d vectors for N x 112 x 112 x 3 RGB aligned crops."""
        batch = ((chips.astype(np.float32) - EMBED_MEAN) / EMBED_STD).transpose(0, 3, 1, 2)
        meta = self._embedder.get_inputs()[0]
        if isinstance(meta.shape[0], int) and meta.shape[0] == 1:  # fixed-batch exports
            rows = [self._embedder.run(None, {meta.name: one[None]})[0][0] for one in batch]
        else:
            rows = list(self._embedder.run(None, {meta.name: np.ascontiguousarray(batch)})[0])
        return [l2_normalise(row) for row in rows]


def _input_size(shape: list[Any]) -> tuple[int, int]:
    """(width, height) the detector wants: its fixed size, or the trained 640 if dynamic."""
    height, width = shape[2], shape[3]
    if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
        return width, height
    return INPUT_SIZE, INPUT_SIZE


__all__ = ["ALIGNED_SIZE", "InsightFaceBackend"]
