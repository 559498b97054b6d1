"""Which models this library can use right now, and what to tell the user when one is
missing. Nothing loads here: sessions open on first use, so the server starts fast and
runs with any subset of models."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from hachi.config import DEFAULT_CLIP_MODEL, IMAGE_INT8_ON, Settings
from hachi.errors import HachiError
from hachi.ml.clip.encoders import ClipModel
from hachi.ml.faces.base import FaceBackend
from hachi.ml.faces.registry import create_backend
from hachi.ml.ocr import OCR_REQUIREMENT, TextReader, ocr_installed
from hachi.ml.store import model_dir

log = logging.getLogger(__name__)
FACES_OFF = "none"
OCR_INDEX_SIDE = 960
"""OCR works on this long side while indexing: 3x faster than 1280 for about 5% fewer
signs read (bench/bench_ocr.py: 0.62 s vs 2.08 s a photo, 19 vs 20 of 20 signs)."""


ENVIRONMENT, LIBRARY, DEFAULT = "environment", "library", "default"


@dataclass(frozen=True)
class ActiveClip:
    """Which CLIP model the library uses, and who chose it."""

    name: str
    source: str  # ENVIRONMENT (HACHI_CLIP_MODEL), LIBRARY (`hachi models use`) or DEFAULT


def active_clip(settings: Settings, chosen: str | None) -> ActiveClip:
    """HACHI_CLIP_MODEL when set, else the library's choice (``chosen``, from the catalog),
    else Hachi's default."""
    if settings.clip_model:
        return ActiveClip(settings.clip_model, ENVIRONMENT)
    return ActiveClip(chosen, LIBRARY) if chosen else ActiveClip(DEFAULT_CLIP_MODEL, DEFAULT)


@dataclass
class AvailableModels:
    settings: Settings
    clip: ClipModel | None = None
    ocr: TextReader | None = None
    faces: FaceBackend | None = None
    clip_name: str = DEFAULT_CLIP_MODEL
    problems: dict[str, str] = field(default_factory=dict)
    clip_batch: int | None = None  # photos per CLIP image batch; None: the indexer's default
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def discover(cls, settings: Settings, clip_name: str | None = None) -> AvailableModels:
        found = cls(settings, clip_name=clip_name or settings.clip_model or DEFAULT_CLIP_MODEL)
        found._find_clip()
        found._find_faces()
        found._find_ocr()
        return found

    @property
    def notices(self) -> list[str]:
        return list(self.problems.values())

    def sync_clip(self, name: str) -> bool:
        """Follow the library's active CLIP model ``name`` (another process may have
        switched it, or installed it); True when the model in use changed."""
        if name == self.clip_name and self.clip is not None:
            return False
        with self._lock:
            before = self.clip
            self.clip_name = name
            self._find_clip()
            return self.clip is not before

    def find_missing(self) -> None:
        """Look again for models that were missing (a download just installed one)."""
        with self._lock:
            if self.clip is None:
                self._find_clip()
            if self.faces is None:
                self._find_faces()

    def _find_faces(self) -> None:
        self.problems.pop("faces", None)
        if self.settings.face_backend == FACES_OFF:
            return
        try:
            self.faces = create_backend(self.settings.face_backend, self.settings)
        except HachiError as exc:
            self.problems["faces"] = f"faces are not recognised: {exc.message}"

    def _find_clip(self) -> None:
        self.problems.pop("clip", None)
        try:
            self.clip = ClipModel(
                model_dir(self.settings, self.clip_name),
                int8=self.settings.clip_image_int8 == IMAGE_INT8_ON,
                text_int8=self.settings.clip_text_int8,
            )
        except HachiError as exc:
            self.clip = None
            self.problems["clip"] = f"semantic search is off: {exc.message}"

    def _find_ocr(self) -> None:
        if not self.settings.ocr:
            return
        if not ocr_installed():
            self.problems["ocr"] = (
                f"text in photos is not read: the OCR package is missing "
                f"(pip install '{OCR_REQUIREMENT}')"
            )
            return
        self.ocr = TextReader(max_side=OCR_INDEX_SIDE)

    def release_idle(self, idle_seconds: float) -> None:
        """Give memory back between jobs: the image-side models are needed only while
        indexing; the text encoder stays loaded for queries."""
        if self.clip is not None:
            self.clip.unload_images_if_idle(idle_seconds)
        for model in (self.faces, self.ocr):
            if model is not None and model.loaded:
                model.unload()

    def semantic_off_notice(self) -> str:
        return (
            "semantic search is off (no CLIP model installed), so words match file names, "
            "folders, places, people and text in photos only; turn it on with: "
            f"hachi models pull {self.clip_name}"
        )

    def features(self) -> dict[str, bool]:
        return {
            "semantic_search": self.clip is not None,
            "ocr": self.ocr is not None,
            "faces": self.faces is not None,
        }
