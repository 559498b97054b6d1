"""Text in photos (signs, plates, banners, documents) via PP-OCR on ONNX Runtime.

The PP-OCRv6 small detector and recogniser and the PP-OCR angle classifier ship inside the
``rapidocr`` 3.x wheel. We hand rapidocr the paths of those bundled files ourselves: given
only a model root it checks each file's hash and downloads a replacement when the hash is
off, and Hachi must never reach the network behind the user's back. Photos go in at a
reduced size: text detection cost grows with the pixel count, and a long side of
``OCR_MAX_SIDE`` still reads sign-sized text in a 12 MP photo (measured by
``bench/bench_ocr.py``). Boxes come back in the pixels of the image the caller passed,
whatever size the model actually saw.

Most photos hold no text, so the reader first looks for where text could be (tiles whose
pixel rows cross several sharp strokes, in the working image and in a quarter-size copy
for big or soft words: :mod:`hachi.ml.regions`), then reduces and reads only those
rectangles, at the same resolution (one detection each; recognition only where it finds
lines). A photo with no candidate costs a few milliseconds and is never reduced in
colour; most of the rest cost a fraction of the whole-photo pass. ``gate=False`` reads
the whole photo every time (the old path, kept for ``bench/bench_gates.py``, which
measures that the gate loses nothing the whole-photo pass reads).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.errors import ModelUnavailable
from hachi.ml import regions
from hachi.ml.base import Model
from hachi.ml.sessions import create_session, trim_heap

log = logging.getLogger(__name__)

OCR_PACKAGE = "rapidocr"
# One minor version: the bundled models (and so the file names below) change between minors.
OCR_REQUIREMENT = "rapidocr>=3.10,<3.11"
# Recorded with each photo's OCR analysis: a different model means the text is read again.
OCR_MODEL = "rapidocr-ppocr-v6-small"
# ONNX Runtime threads per engine. Within one photo most of the work is small crops, where
# a second thread mostly waits (spinning): 224 CPU-ms a photo on two threads against 100 on
# one, in one run at load 6.7 (the same text read). Photos are read on several threads
# instead, each with its own engine, so both cores still work.
ENGINE_THREADS = 1
# The detector is different. rapidocr runs it without ONNX Runtime's memory arena, so
# every call faults in fresh activations (up to ~280 MB for a whole 960 x 720 px image,
# the indexer's size): 149 ms on one thread. The same graph with an arena and no
# per-shape memory plan takes 73 ms on two threads for 128 CPU-ms, and holds ~120 MB
# through the pass (1280 x 960: 296 ms, against 152 for 270 CPU-ms). So every thread's
# engine hands its detection to one shared session on every core, one call at a time,
# and goes on with the rest of its reading (recognition, the next photo's gate) in its
# own thread. On bench/bench_throughput.py's library that read the same text and boxes
# in 91-94 -> 85-89 OCR CPU-ms a photo, peak RSS 589-600 -> 505-534 MB (against
# detecting crops on each thread's own session and whole photos on the shared one); two
# whole photos in two threads' own detectors at once had taken the pass to 746 MB.
# Except for the gate's small rectangles, which go to a second session of the same graph
# on one thread, run by each reading thread at once: an image that small keeps a second
# thread mostly waiting (a 224 x 160 px crop: 24 CPU-ms on two threads, 15 on one, where
# a whole 1280 x 960 photo takes about the same either way), and one planned block per
# shape is small there (the planned arena is also ~15 % faster on such crops). Up to
# 640 x 480 px the one thread still cost less CPU, but two such crops at once took the
# OCR pass's peak RSS from 574-605 to 620-633 MB (bench/bench_throughput.py).
SMALL_DETECTION_PIXELS = 512 * 256
# The ONNX files inside the wheel's ``models`` folder, by rapidocr config section.
BUNDLED_MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
RAPIDOCR_LOGGER = "RapidOCR"
# rapidocr warns on every photo without text; for a photo library that is the normal case.
NO_TEXT_MESSAGES = ("detection result is empty", "classifier is empty", "recognize result is empty")
# Long side, in pixels, of the image the detector sees (see bench/bench_ocr.py).
OCR_MAX_SIDE = 1280
DEFAULT_MIN_SCORE = 0.5
# Lines whose vertical centres differ by less than this fraction of their height share a row.
SAME_ROW_FRACTION = 0.5

Box = tuple[int, int, int, int]
Read = tuple[NDArray[np.float64], str, float]  # a line's corners, text and score


@dataclass(frozen=True)
class TextLine:
    """One line of text: what it says, how sure the recogniser is, and where (x, y, w, h)."""

    text: str
    score: float
    box: Box


class TextReader(Model):
    """Reads the lines of text in a photo; the engine loads on first use."""

    name = OCR_MODEL

    concurrent = True  # each thread reads with its own engine

    def __init__(
        self,
        threads: int | None = ENGINE_THREADS,
        min_score: float = DEFAULT_MIN_SCORE,
        max_side: int = OCR_MAX_SIDE,
        gate: bool = True,
    ) -> None:
        super().__init__()
        self.threads = threads
        self.min_score = min_score
        self.max_side = max_side
        self.gate = gate
        self._params: dict[str, Any] | None = None
        # rapidocr keeps use_cls / use_rec as engine state between calls, so an engine is
        # never shared: each thread that reads gets its own (about 20 MB of weights).
        self._local = threading.local()
        self._shared: SharedDetector | None = None

    def load(self) -> None:
        try:
            import rapidocr  # noqa: F401 - a clear error now rather than in a reader thread
        except ImportError as exc:
            raise _missing_package() from exc
        quiet_rapidocr_logger()
        models = bundled_model_paths()
        self._params = engine_params(models, self.max_side, self.min_score, self.threads)
        self._shared = SharedDetector(models["Det"])
        self._engine()  # the loading thread's engine: a broken install fails here

    def release(self) -> None:
        self._params = None
        self._local = threading.local()  # every thread's engine goes with the old one
        self._shared = None

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            from rapidocr import RapidOCR

            assert self._params is not None and self._shared, "load() was not called"
            engine = RapidOCR(params=self._params)
            self._shared.serve(engine)
            self._local.engine = engine
        return engine

    @property
    def shared_detector(self) -> SharedDetector | None:
        """The text detector session every reading thread shares (None until loaded)."""
        return self._shared

    def predict(self, image: Image.Image) -> list[TextLine]:
        """Lines of text in reading order (top to bottom, then left to right)."""
        self.ensure_loaded()
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        size, scale = reduced_size(rgb.size, self.max_side)
        whole = (0, 0, *size)
        areas = text_regions(rgb, size) if self.gate else [whole]
        if not areas:
            return []
        reduction = Reduction(rgb, size)  # only the areas' own pixels are reduced
        read: list[Read] = []
        for area in areas:
            read += self._read(reduction.bgr(area), (area[0], area[1]))
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in areas) * 4 >= size[0] * size[1]:
            # A large read leaves freed buffers (the detector's input and output maps,
            # the recogniser's batches) in this thread's malloc arena, where the other
            # reader thread cannot reuse them: two such arenas once held the OCR pass at
            # ~560 MB where one thread needed ~430. Handing them back costs a few ms, on
            # photos whose reading costs 100-200.
            trim_heap()
        lines = [
            _to_line(quad, text, score, scale, image.size)
            for quad, text, score in read
            if score >= self.min_score and text
        ]
        return reading_order(lines)

    def _read(self, crop: NDArray[np.uint8], origin: tuple[int, int]) -> list[Read]:
        """(corners in the reduced photo, text, score) of each line rapidocr reads in
        ``crop``, whose top left corner is ``origin`` there."""
        result = self._engine()(crop, use_det=True, use_cls=True, use_rec=True)
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        if boxes is None:
            return []
        return [
            (
                np.asarray(quad, dtype=np.float64).reshape(-1, 2) + origin,
                str(text).strip(),
                float(score),
            )
            for quad, text, score in zip(boxes, texts, scores, strict=False)
        ]

    def read_text(self, image: Image.Image) -> str:
        """All the text of a photo: a row's pieces joined by spaces, rows by newlines."""
        return "\n".join(" ".join(line.text for line in row) for row in rows(self.predict(image)))


class SharedDetector:
    """The text detector of every thread's engine: for whole photos and large areas one
    session on every core, with an arena and no per-shape memory plan, one call at a
    time; for the gate's small rectangles a one-thread session that every thread runs at
    once (see ``ENGINE_THREADS`` and ``SMALL_DETECTION_PIXELS``). rapidocr takes no
    session options, so :meth:`serve` puts this in place of each engine's own."""

    def __init__(self, model: Path) -> None:
        self.model = model
        self.engines = 0  # engines whose detector this serves
        self.runs = 0  # detections it ran
        self.small_runs = 0  # of which on the one-thread session for small crops
        self._session: Any = None
        self._small: Any = None
        self._lock = threading.Lock()

    def serve(self, engine: Any) -> bool:
        """Detects for ``engine`` from now on; False, and the engine left as it was, when
        this rapidocr keeps its detector's session elsewhere."""
        detector = engine._load_det_model()
        # rapidocr normalises the detector's input in float64 (its mean and std are
        # float64 arrays), 26 ms of a 1280 px image's read; in float32 it is the same
        # input within rounding, in about half the time.
        for name in ("mean", "std"):
            value = getattr(detector, name, None)
            if value is not None:
                setattr(detector, name, np.array(list(value), dtype=np.float32))
        holder: Any = getattr(detector, "session", None)
        if holder is None or not hasattr(getattr(holder, "session", None), "run"):
            log.warning("rapidocr's text detector has no session to share; it stays on one core")
            return False
        holder.session = self
        with self._lock:
            self.engines += 1
        return True

    def run(self, outputs: Any, feed: dict[str, Any], *args: Any) -> Any:
        if all(_pixels(value) <= SMALL_DETECTION_PIXELS for value in feed.values()):
            with self._lock:
                self.runs += 1
                self.small_runs += 1
                session = self._small_opened()
            return session.run(outputs, feed, *args)  # thread-safe, without the lock
        with self._lock:
            self.runs += 1
            return self._opened().run(outputs, feed, *args)

    def _opened(self) -> Any:
        if self._session is None:
            self._session = create_session(self.model, plan_memory=False)
        return self._session

    def _small_opened(self) -> Any:
        if self._small is None:
            self._small = create_session(self.model, threads=1)
        return self._small

    def __getattr__(self, name: str) -> Any:
        """The session's inputs and outputs, which rapidocr reads on each call."""
        with self._lock:
            return getattr(self._opened(), name)


def _pixels(value: Any) -> int:
    """Pixels of one image of a detector input (batch, channels, height, width)."""
    shape: tuple[int, ...] = tuple(getattr(value, "shape", ()))
    return int(shape[-1]) * int(shape[-2]) if len(shape) >= 2 else 0


def ocr_installed() -> bool:
    """Whether the OCR package is importable, without importing it (that takes a while)."""
    return importlib.util.find_spec(OCR_PACKAGE) is not None


def bundled_model_paths() -> dict[str, Path]:
    """The wheel's own ONNX files by config section; missing ones are a ModelUnavailable,
    because letting rapidocr look for them itself would start a download."""
    spec = importlib.util.find_spec(OCR_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise _missing_package()
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    paths = {section: folder / name for section, name in BUNDLED_MODELS.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise ModelUnavailable(
            f"the {OCR_PACKAGE} package lacks its bundled models; reinstall it: "
            f"pip install --force-reinstall '{OCR_REQUIREMENT}'",
            {"model": OCR_MODEL, "missing": missing},
        )
    return paths


def engine_params(
    models: dict[str, Path], max_side: int, min_score: float, threads: int | None
) -> dict[str, Any]:
    """rapidocr settings: explicit model files (so it never downloads), ONNX Runtime with a
    bounded thread pool, and a detector that works at ``max_side`` like the caller does."""
    cpus = os.cpu_count() or 1
    params: dict[str, Any] = {
        "Global.text_score": min_score,
        "Global.max_side_len": max_side,
        "Global.log_level": "warning",
        "Det.limit_side_len": max_side,
        "Det.limit_type": "max",
        "EngineConfig.onnxruntime.intra_op_num_threads": min(cpus, max(1, threads or cpus)),
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    for section, path in models.items():
        params[f"{section}.model_path"] = str(path)
    return params


def quiet_rapidocr_logger() -> None:
    """rapidocr logs every model load at INFO through its own coloured stderr handler.
    Route its records through Python logging instead, warnings and worse only, and drop
    the "nothing found" warnings that a photo without text would otherwise print."""
    logger = logging.getLogger(RAPIDOCR_LOGGER)
    logger.setLevel(logging.WARNING)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    if not any(isinstance(f, _NoTextFilter) for f in logger.filters):
        logger.addFilter(_NoTextFilter())


class _NoTextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in NO_TEXT_MESSAGES)


def _missing_package() -> ModelUnavailable:
    return ModelUnavailable(
        f"OCR needs the {OCR_PACKAGE} package: pip install '{OCR_REQUIREMENT}'",
        {"model": OCR_MODEL, "command": f"pip install '{OCR_REQUIREMENT}'"},
    )


def reduced_size(size: tuple[int, int], max_side: int) -> tuple[tuple[int, int], float]:
    """(width, height) of a photo of ``size`` reduced to ``max_side`` at most, and the
    factor that maps its pixels back to the original (original = reduced * factor)."""
    long_side = max(size)
    if long_side <= max_side:
        return size, 1.0
    scale = long_side / max_side
    return (max(1, round(size[0] / scale)), max(1, round(size[1] / scale))), scale


def reduced_bgr(
    image: Image.Image, max_side: int, area: regions.Rect | None = None
) -> tuple[NDArray[np.uint8], float]:
    """The photo as a BGR array whose long side is at most ``max_side``, or only ``area``
    of that reduced photo (x0, y0, x1, y1 in its pixels), and the factor that maps its
    pixels back to the original (original = reduced * factor)."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    size, scale = reduced_size(rgb.size, max_side)
    return Reduction(rgb, size).bgr(area), scale


class Reduction:
    """An RGB photo reduced to ``size``, made one area at a time.

    Most photos leave the reader a few small rectangles, and reducing the whole photo
    cost more than reading them. Pillow centres the filter of every output pixel of an
    area where the whole reduction would, and reads past the area's edge, so an area's
    pixels are the whole reduction's (within a level of rounding). A photo many times
    larger than ``size`` is first box-reduced by a whole factor, once, as Pillow's own
    ``reducing_gap`` would; every area is then cut from that same copy."""

    GAP = 2.0

    def __init__(self, rgb: Image.Image, size: tuple[int, int]) -> None:
        self.size = size
        factor = max(1, int(min(rgb.width / size[0], rgb.height / size[1]) / self.GAP))
        self.source = rgb.reduce(factor) if factor > 1 else rgb
        self.sx = rgb.width / factor / size[0]
        self.sy = rgb.height / factor / size[1]

    def bgr(self, area: regions.Rect | None = None) -> NDArray[np.uint8]:
        """``area`` of the reduction (the whole of it by default) as a BGR array."""
        x0, y0, x1, y1 = area or (0, 0, *self.size)
        if self.size == self.source.size:
            part = self.source.crop((x0, y0, x1, y1)) if area is not None else self.source
        else:
            box = (x0 * self.sx, y0 * self.sy, x1 * self.sx, y1 * self.sy)
            part = self.source.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box)
        return np.ascontiguousarray(np.asarray(part, dtype=np.uint8)[:, :, ::-1])


def text_regions(image: Image.Image, size: tuple[int, int]) -> list[regions.Rect]:
    """Rectangles of ``image`` reduced to ``size`` where text could be (see
    :func:`regions.text_areas`). The grey copies and their local contrast (a 3 x 3
    morphological gradient) come from OpenCV, which rapidocr brings: a few milliseconds,
    the reduction included, where reducing the colour photo alone takes 15-40."""
    import cv2

    grey = np.asarray(image.convert("L"))
    grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    small = (max(1, grey.shape[1] // 4), max(1, grey.shape[0] // 4))
    quarter = np.asarray(cv2.resize(grey, small, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    square = np.ones((3, 3), np.uint8)
    return regions.text_areas(
        grey,
        np.asarray(cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, square), dtype=np.uint8),
        quarter,
        np.asarray(cv2.morphologyEx(quarter, cv2.MORPH_GRADIENT, square), dtype=np.uint8),
    )


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    return [line for row in rows(lines) for line in row]


def rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Group lines into visual rows, so that words detected separately read left to right."""
    grouped: list[list[TextLine]] = []
    for line in sorted(lines, key=_centre_y):
        if grouped and _same_row(grouped[-1][-1], line):
            grouped[-1].append(line)
        else:
            grouped.append([line])
    return [sorted(row, key=lambda line: line.box[0]) for row in grouped]


def _same_row(a: TextLine, b: TextLine) -> bool:
    height = min(a.box[3], b.box[3]) or 1
    return abs(_centre_y(a) - _centre_y(b)) < SAME_ROW_FRACTION * height


def _centre_y(line: TextLine) -> float:
    return line.box[1] + line.box[3] / 2


def _to_line(quad: Any, text: Any, score: Any, scale: float, size: tuple[int, int]) -> TextLine:
    corners = np.asarray(quad, dtype=np.float64).reshape(-1, 2) * scale
    x0, y0 = max(0.0, float(corners[:, 0].min())), max(0.0, float(corners[:, 1].min()))
    x1 = min(float(size[0]), float(corners[:, 0].max()))
    y1 = min(float(size[1]), float(corners[:, 1].max()))
    box = (round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0)))
    return TextLine(text=str(text).strip(), score=float(score), box=box)
