"""The default face backend: dlib's HOG detector, 5-point aligner and 128-d ResNet (the
ResNet run on ONNX Runtime, from dlib's own weights: :mod:`hachi.ml.faces.dlib_resnet`).

Its weights ship inside the ``face_recognition_models`` pip package, so it works with no
download. That package's ``__init__`` imports ``pkg_resources`` (gone from current
setuptools), so the weight files are located with ``importlib.util.find_spec``, which
finds the package folder without executing it.

Detection size: HOG cost grows with pixels, and recall depends on the face's size in the
detection image (about 70 px and up at no upsampling). On the test corpus a long side
of 896 px is the smallest that finds every labelled face with margin (the hardest one, a
downcast face 7.8% of the long side, scores 0.54 there but flickers around 0 at 800-880),
but group photos have smaller faces: at 896 px a face must be about a tenth of the photo's
width, at 1600 px a twentieth (a 200 px face in a 12 MP photo), so 1600 px is the working
size; upsampling a smaller image costs more than detecting on a larger one for the same
recall (measured: 896 px with one upsample took 2.4x as long as 1600 px without).
Landmarks and descriptors then use the full image the caller passed, because a
150 px aligned chip cut from the detection copy would lose detail.

Most photos hold no face, so HOG first runs only where a face could be: groups of
skin-coloured tiles with some detail in a quarter-size copy of the detection image
(:mod:`hachi.ml.regions`), each grown by a margin, at the same detection size; a photo
with none costs a few milliseconds, a photo of colourless pixels (black and white,
sepia) is scanned whole. ``gate=False`` scans every photo whole (the old path, kept for
``bench/bench_gates.py``, which measures that the gate loses nothing).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.errors import ModelUnavailable
from hachi.ml import regions
from hachi.ml.faces.base import (
    DetectedFace,
    FaceBackend,
    l2_normalise,
    rgb_array,
    scale_box,
    scale_points,
)
from hachi.ml.sessions import create_session

log = logging.getLogger(__name__)

INSTALL_COMMAND = "pip install dlib-bin face_recognition_models"
WEIGHTS_PACKAGE = "face_recognition_models"
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"

DETECT_LONG_SIDE = 1600  # px; see the module docstring. Photos under half that get a 2x upsample
MIN_DETECTION_SCORE = 0.0  # dlib's own threshold; corpus false positives all score < -0.2
MIN_FACE_PIXELS = 36  # narrower faces (in the working image) embed unreliably
DESCRIPTOR_JITTERS = 0  # jittering multiplies embed time; no measurable gain on the corpus
CHIP_PADDING = 0.25  # the padding dlib's ResNet was trained with
CHIP_SIZE = 150  # px, the aligned chip dlib's ResNet takes

GATE_REDUCTION = 4  # the skin gate looks at a copy about this many times smaller
GATE_TILE = 16  # px of that copy: ~64 px of the detection image, under a face's 80
GATE_MARGIN = 24  # px of that copy grown around each skin group (~96 of the detection image)
HOG_CELL = 8  # px; crops start on a cell boundary
GATE_MIN_SIDE = 256  # detection images smaller than this are scanned whole: cheap anyway
# The indexer's first look (``might_hold_faces``) sees the small decode it makes for the
# grid, not the 1600 px one, so its tiles are resampled from fewer pixels and fall a little
# off the detection gate's grid. It asks for this share of each threshold, so every photo
# the detection gate would look into is still looked into (checked on the face corpus,
# also under coloured light, by tests/test_faces_dlib.py and bench/bench_throughput.py).
SCREEN_LENIENCY = 0.5

RawFace = tuple[tuple[float, float, float, float], float]


@dataclass
class _Models:
    """One thread's copies: dlib's detector and ResNet keep scratch state between calls,
    so two threads must never share one (dlib documents them as not thread-safe). dlib's
    own ResNet is made only when its ONNX graph cannot be built."""

    detector: Any
    shapes: Any
    encoder: Any = None


def locate_weights() -> Path:
    """Folder holding dlib's .dat files, found without importing the package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "models"
        if (candidate / SHAPE_PREDICTOR_FILE).is_file() and (candidate / DESCRIPTOR_FILE).is_file():
            return candidate
    raise ModelUnavailable(
        f"dlib face weights are not installed; run `{INSTALL_COMMAND}`",
        {"model": "dlib", "command": INSTALL_COMMAND},
    )


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ModelUnavailable(
            f"dlib is not installed; run `{INSTALL_COMMAND}`",
            {"model": "dlib", "command": INSTALL_COMMAND},
        ) from exc
    return dlib


def _resnet_session(weights: Path) -> Any:
    """dlib's ResNet on ONNX Runtime, one core a call (the reader threads are the
    parallelism); None, with a warning, when the file does not read as that network."""
    # Imported here: ``onnx`` takes 0.5-1 s of CPU to import, which the scan (where this
    # module serves the faces screen) should not pay; the faces pass pays it once.
    from hachi.ml.faces.dlib_resnet import resnet_graph

    try:
        return create_session(resnet_graph(weights), threads=1)
    except Exception as exc:  # noqa: BLE001 - dlib's own kernels describe the same faces
        log.warning("describing faces with dlib's own ResNet: no ONNX graph of it (%s)", exc)
        return None


def detection_plan(
    size: tuple[int, int], detect_long_side: int = DETECT_LONG_SIDE
) -> tuple[float, int]:
    """(resize factor, upsample count) for the HOG pass over a photo of ``size``."""
    long_side = max(size)
    factor = min(1.0, detect_long_side / long_side) if long_side else 1.0
    upsample = 1 if long_side * factor < detect_long_side // 2 else 0
    return factor, upsample


class DlibBackend(FaceBackend):
    """HOG + 5-point + ResNet; 128-d embeddings, CPU only."""

    name = "dlib"
    dim = 128
    # Each thread has its own detector and aligner; dlib's HOG detector lets go of the GIL
    # while it works (1.7 cores on two threads). Faces are described by one ONNX Runtime
    # session of dlib's ResNet (:mod:`hachi.ml.faces.dlib_resnet`), which every thread
    # runs at once on its own core: about 3 ms a face where dlib's kernels took 58, one
    # face at a time, holding the GIL.
    concurrent = True

    def __init__(
        self, detect_long_side: int = DETECT_LONG_SIDE, gate: bool = True, onnx_resnet: bool = True
    ) -> None:
        super().__init__()
        self.detect_long_side = detect_long_side
        self.gate = gate
        self.screens = gate
        self._dlib: Any = None
        self._weights: Path | None = None
        self._local = threading.local()
        self.onnx_resnet = onnx_resnet
        self._resnet: Any = None  # the ONNX Runtime session, when it could be built

    def load(self) -> None:
        self._weights = locate_weights()
        self._dlib = _import_dlib()
        self._models()  # the loading thread's copies: a bad weight file fails here
        resnet = self._weights / DESCRIPTOR_FILE
        self._resnet = _resnet_session(resnet) if self.onnx_resnet else None
        if self._resnet is None:
            self._dlib.face_recognition_model_v1(str(resnet))  # and here, not in a reader

    @property
    def describes_with_onnx(self) -> bool:
        """Whether faces are described on ONNX Runtime (else with dlib's own kernels)."""
        return self._resnet is not None

    def release(self) -> None:
        self._resnet = None
        self._dlib = self._weights = None
        self._local = threading.local()  # every thread's copies go with the old one

    def _models(self) -> _Models:
        """This thread's detector, aligner and ResNet (about 30 MB), made on its first call."""
        models: _Models | None = getattr(self._local, "models", None)
        if models is None:
            assert self._weights is not None, "load() was not called"
            dlib = self._dlib
            models = _Models(
                dlib.get_frontal_face_detector(),
                dlib.shape_predictor(str(self._weights / SHAPE_PREDICTOR_FILE)),
            )
            self._local.models = models
        return models

    def predict(self, image: Image.Image, scale: float = 1.0) -> list[DetectedFace]:
        self.ensure_loaded()
        models = self._models()
        raw, pixels = self._detect(image, models.detector)
        if not raw or pixels is None:
            return []
        shapes = self._dlib.full_object_detections()
        for box, _ in raw:
            shapes.append(models.shapes(pixels, self._dlib.rectangle(*map(round, box))))
        # The chips dlib's compute_face_descriptor(pixels, shapes) would cut itself.
        chips = [
            np.asarray(chip)
            for chip in self._dlib.get_face_chips(pixels, shapes, CHIP_SIZE, CHIP_PADDING)
        ]
        if self._resnet is not None:
            vectors = self._resnet.run(None, {"chips": np.stack(chips)})[0]
        else:
            vectors = self._encoder(models).compute_face_descriptor(chips, DESCRIPTOR_JITTERS)
        return [
            DetectedFace(
                box=scale_box(box, image.size, scale),
                landmarks=scale_points(_shape_points(shape), scale),
                score=float(score),
                embedding=l2_normalise(np.asarray(vector)),
            )
            for (box, score), shape, vector in zip(raw, shapes, vectors, strict=True)
        ]

    def _encoder(self, models: _Models) -> Any:
        """This thread's own dlib ResNet, for when its ONNX graph cannot be built."""
        if models.encoder is None:
            assert self._weights is not None, "load() was not called"
            models.encoder = self._dlib.face_recognition_model_v1(
                str(self._weights / DESCRIPTOR_FILE)
            )
        return models.encoder

    def might_hold_faces(self, image: Image.Image) -> bool:
        """Whether any tile of a copy the size the detection gate looks at is both skin
        coloured and detailed, at ``SCREEN_LENIENCY`` of the gate's thresholds."""
        if not self.gate:
            return True
        factor = min(1.0, self.detect_long_side / max(1, max(image.size)))
        if max(image.size) * factor < GATE_MIN_SIDE:
            return True  # scanned whole by the detection pass anyway
        side = max(1, round(self.detect_long_side / GATE_REDUCTION))
        copy = _gate_source(image)
        if max(copy.size) > side:
            scale = side / max(copy.size)
            size = (max(1, round(copy.width * scale)), max(1, round(copy.height * scale)))
            copy = copy.resize(size, Image.Resampling.BOX)
        skin, detail = _gate_tiles(rgb_array(copy), SCREEN_LENIENCY)
        return bool((skin & detail).any())

    def _detect(
        self, image: Image.Image, detector: Any
    ) -> tuple[list[RawFace], NDArray[np.uint8] | None]:
        """HOG boxes in the pixels of ``image``, strongest first, small ones dropped; and
        those pixels at full size (None when the gate found nowhere to look), which the
        landmarks and chips are cut from."""
        factor, upsample = detection_plan(image.size, self.detect_long_side)
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        areas = face_regions(image, factor) if self.gate else [(0, 0, *size)]
        if not areas:
            return [], None
        full = rgb_array(image)
        pixels = full
        if factor < 1:
            # Averaging areas: Pillow's bilinear (its filter widened for the reduction) took
            # 30 ms for a 12 MP photo's 2000 px decode, OpenCV's areas take ~14, and find the
            # same faces. OpenCV's bilinear (4 ms) aliases: it lost a face a twentieth of
            # the photo's width (tests/test_people.py).
            pixels = np.asarray(
                cv2.resize(full, size, interpolation=cv2.INTER_AREA), dtype=np.uint8
            )
        faces: list[RawFace] = []
        for x0, y0, x1, y1 in areas:
            crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
            rects, scores, _ = detector.run(crop, upsample, MIN_DETECTION_SCORE)
            for rect, score in zip(rects, scores, strict=True):
                box = (
                    (rect.left() + x0) / factor,
                    (rect.top() + y0) / factor,
                    (rect.right() + x0) / factor,
                    (rect.bottom() + y0) / factor,
                )
                if box[2] - box[0] >= MIN_FACE_PIXELS and score >= MIN_DETECTION_SCORE:
                    faces.append((box, float(score)))
        return sorted(faces, key=lambda face: -face[1]), full


def face_regions(image: Image.Image, factor: float = 1.0) -> list[regions.Rect]:
    """Rectangles where a face could be (see the module docstring), in the pixels of the
    detection image, ``image`` resized by ``factor``. The gate looks at a copy reduced
    straight from ``image`` to about a quarter of the detection size, so a photo with no
    candidate is never resized whole."""
    width, height = max(1, round(image.width * factor)), max(1, round(image.height * factor))
    if max(width, height) < GATE_MIN_SIDE:
        return [(0, 0, width, height)]
    reduction = max(1, round(GATE_REDUCTION / factor))
    quarter = rgb_array(_gate_source(image).reduce(reduction))
    skin, detail = _gate_tiles(quarter)
    size = (quarter.shape[1], quarter.shape[0])
    found = regions.regions(skin, GATE_TILE, (GATE_MARGIN, GATE_MARGIN), size, keep=detail)
    return [
        # HOG's cells then fall where they did on the whole image
        (
            int(x0 * factor) // HOG_CELL * HOG_CELL,
            int(y0 * factor) // HOG_CELL * HOG_CELL,
            min(width, int(np.ceil(x1 * factor))),
            min(height, int(np.ceil(y1 * factor))),
        )
        for x0, y0, x1, y1 in regions.scaled_up(found, reduction, size, image.size)
    ]


def _gate_source(image: Image.Image) -> Image.Image:
    """``image`` in a mode the gate's copy can be shrunk in (palettes and the like are not)."""
    return image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")


def _gate_tiles(
    copy: NDArray[np.uint8], leniency: float = 1.0
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The skin-coloured tiles and the detailed tiles of the gate's copy, at ``leniency``
    of the gate's thresholds (the scan's screen asks for less of each)."""
    return (
        regions.skin_tiles(copy, GATE_TILE, regions.SKIN_TILE_SHARE * leniency),
        regions.textured_tiles(copy, GATE_TILE, regions.FEATURE_TILE_SHARE * leniency),
    )


def _shape_points(shape: Any) -> NDArray[np.float64]:
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)])
