"""Model stages: what a model adds to a photo, as three steps that fit the pipeline.

``prepare`` runs on the reader threads right after decoding (pure, e.g. CLIP's resize and
normalisation), ``run`` runs batched on the writer thread (ONNX Runtime releases the GIL,
so readers keep decoding the next photos meanwhile), and ``store`` runs inside the
writer's transaction. The same stage object serves the main indexing pass (inline, the
photo decoded once for everything) and catch-up passes over photos indexed before a model
was installed or changed.
"""

from __future__ import annotations

import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hachi.catalog import analyses
from hachi.catalog import faces as faces_db
from hachi.catalog import towers as towers_db
from hachi.catalog.db import transaction
from hachi.catalog.towers import TowerChoice
from hachi.config import IMAGE_INT8_OFF
from hachi.indexer.tower_check import TowerCheck, remove_stale
from hachi.indexer.towers import MIN_CHECK_PHOTOS, apply_image_tower
from hachi.indexer.video_input import MomentInputs, MomentVectors
from hachi.ml.clip.encoders import ClipModel
from hachi.ml.clip.preprocess import preprocess_image
from hachi.ml.faces.base import DetectedFace, FaceBackend
from hachi.ml.ocr import TextReader
from hachi.textnorm import without_ocr_noise
from hachi.vectors import VectorStore, vector_file

log = logging.getLogger(__name__)


class Stage(ABC):
    task: str
    model: str
    min_side: int
    batch_size: int = 16
    per_moment: bool = False
    """Whether a video's input is every sampled moment (else its poster frame alone)."""
    complete: bool = True
    """Whether running in the scan does the whole task (a screen only rules photos out)."""
    on_readers: bool = False
    """Whether a catch-up pass may ``run`` one photo at a time on its reader threads, right
    after decoding: for models that are thread-safe and do not gain from batches, so every
    core works instead of the single thread that runs the batches."""

    @abstractmethod
    def prepare(self, image: Image.Image) -> Any:
        """Per-photo work on a reader thread; must be thread-safe."""

    @abstractmethod
    def run(self, prepared: Sequence[Any]) -> list[Any]:
        """Batched inference on the writer thread."""

    @abstractmethod
    def store(
        self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Sequence[Any]
    ) -> None:
        """Write results inside the writer's open transaction."""

    def begin(self, conn: sqlite3.Connection) -> None:  # noqa: B027 - optional hook
        """Called once before a pass or job, on the writer thread."""

    def end(self) -> None:  # noqa: B027 - optional hook
        """Called once after, to release what ``begin`` opened."""


class ClipStage(Stage):
    """CLIP image embeddings into the model's own vector file (models never mix).

    ``tower_mode`` is HACHI_CLIP_IMAGE_INT8. In ``auto``, until the library has a decision
    for this model's int8 image tower, the first still photos are also kept for the check
    (``tower_check``), and once it is decided the stage goes on with the winning tower.
    """

    task = "clip"
    per_moment = True
    encode_batch = 32  # moments of long videos are encoded in slices of this many

    def __init__(
        self,
        clip: ClipModel,
        vectors_dir: Path,
        batch_size: int = 16,
        tower_mode: str = IMAGE_INT8_OFF,
        scratch_dir: Path | None = None,
    ) -> None:
        self.clip = clip
        self.model = clip.name
        self.vectors_dir = vectors_dir
        self.batch_size = batch_size
        self.tower_mode = tower_mode
        self.scratch_dir = scratch_dir or vectors_dir.parent / "tmp"
        self.min_side = min(clip.config.preprocess.image_size)
        self._store: VectorStore | None = None
        self._conn: sqlite3.Connection | None = None
        self._check: TowerCheck | None = None
        self._decided: TowerChoice | None = None  # measured; written with the next batch
        self._recorded = False

    def begin(self, conn: sqlite3.Connection) -> None:
        committed = analyses.committed_rows(conn, self.model, self.clip.embed_dim)
        generation = analyses.vector_generation(conn, self.model)
        path = vector_file(self.vectors_dir, self.model, generation)
        self._store = VectorStore(path, self.clip.embed_dim, committed, search_copy=True)
        self._conn = conn
        state = apply_image_tower(conn, self.tower_mode, self.clip)
        checking = state.fingerprint if state.checking else None
        # one check file at most: another model's or an older export's goes (its count
        # then reads as zero, should that model come back)
        remove_stale(self.scratch_dir, [(self.model, checking)] if checking else [])
        if checking is not None:
            self._check = TowerCheck(self.clip, self.scratch_dir, checking)
            self._check.open(conn)

    def end(self) -> None:
        try:
            self._finish_check()
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None
            # the faces and OCR passes that follow load their models into this memory; a
            # search by photo or the next job loads the tower again (~0.3 s)
            self.clip.image_encoder.unload()

    def _finish_check(self) -> None:
        """A job that ends with enough photos checked decides with what it has; fewer
        leave the check (and its file) to the next job."""
        check, conn, self._check = self._check, self._conn, None
        if check is None:
            return
        done = self._recorded
        try:
            enough = self._decided is not None or check.count >= MIN_CHECK_PHOTOS
            if not done and enough and conn is not None and not conn.in_transaction:
                choice = self._decided or check.measure()
                with transaction(conn):
                    towers_db.record_tower_choice(conn, choice)
                done = True
        except Exception:  # noqa: BLE001 - the check runs again next job; indexing stands
            log.exception("checking the int8 image tower of %s failed", self.model)
        finally:
            self._decided, self._recorded = None, False
            check.close(remove=done)

    def prepare(self, image: Image.Image) -> np.ndarray:
        return preprocess_image(image, self.clip.config.preprocess)

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        """Photos and every moment of the videos, encoded together, then split back."""
        if not prepared:
            return []
        counts = [len(p.inputs) if isinstance(p, MomentInputs) else 1 for p in prepared]
        flat = np.concatenate(
            [p.inputs if isinstance(p, MomentInputs) else p[None] for p in prepared]
        ).astype(np.float32, copy=False)
        vectors = np.concatenate(
            [
                self.clip.encode_image_batch(flat[i : i + self.encode_batch])
                for i in range(0, len(flat), self.encode_batch)
            ]
        )
        results: list[Any] = []
        start = 0
        for item, count in zip(prepared, counts, strict=True):
            chunk = vectors[start : start + count]
            start += count
            if isinstance(item, MomentInputs):
                results.append(MomentVectors(item.times, item.poster, chunk))
            else:
                results.append(chunk[0])
        self._keep_for_check(prepared, results)
        return results

    def _keep_for_check(self, prepared: Sequence[Any], results: Sequence[Any]) -> None:
        """Still photos go to the tower check until it has its photos; then it decides,
        and the next batch runs on the winner."""
        check = self._check
        if check is None or self._decided is not None:
            return
        stills = [
            (p, r)
            for p, r in zip(prepared, results, strict=True)
            if not isinstance(r, MomentVectors)
        ]
        check.add([p for p, _ in stills], [r for _, r in stills])
        if not check.full:
            return
        try:
            self._decided = check.measure()
        except Exception:  # noqa: BLE001 - an int8 graph that cannot run must not fail photos
            log.exception("checking the int8 image tower of %s failed", self.model)
            self.clip.use_image_tower(False)
            self._check = None  # float32 for the rest of the job; the next job tries again
            check.close()

    def store(
        self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Sequence[Any]
    ) -> None:
        if self._check is not None and self._decided is None:
            self._check.commit(conn)
        elif self._decided is not None and not self._recorded:
            towers_db.record_tower_choice(conn, self._decided)  # with this batch's commit
            self._recorded = True
        if not photo_ids:
            return
        assert self._store is not None, "begin() was not called"
        # Rows are flushed to disk before the transaction that commits their count.
        photos = [(pid, r) for pid, r in zip(photo_ids, results, strict=True)]
        stills = [(pid, r) for pid, r in photos if not isinstance(r, MomentVectors)]
        if stills:
            first = self._store.append(np.stack([r for _, r in stills]))
            analyses.store_vectors(conn, self.model, [pid for pid, _ in stills], first)
        for pid, result in photos:
            if isinstance(result, MomentVectors):
                first = self._store.append(result.vectors)
                analyses.store_moments(conn, self.model, pid, first, result.times, result.poster)
        for pid in photo_ids:
            analyses.record_analysis(conn, pid, self.task, self.model)


class OcrStage(Stage):
    """Text written in photos, into the full-text index. Slow, so it runs as its own pass."""

    task = "ocr"
    batch_size = 4

    def __init__(self, reader: TextReader) -> None:
        self.reader = reader
        self.model = reader.name
        self.on_readers = reader.concurrent
        # A 4:3 photo then reaches the reader with the long side it works at.
        self.min_side = reader.max_side * 3 // 4

    def prepare(self, image: Image.Image) -> Image.Image:
        return image

    def end(self) -> None:
        self.reader.unload()  # the next pass's model loads into the memory this one held

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        return [without_ocr_noise(self.reader.read_text(image)) for image in prepared]

    def store(
        self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Sequence[Any]
    ) -> None:
        for pid, text in zip(photo_ids, results, strict=True):
            analyses.store_ocr(conn, pid, text)
            analyses.record_analysis(conn, pid, self.task, self.model)


class FaceStage(Stage):
    """Faces: boxes, landmarks and embeddings (one vector file per backend)."""

    task = "faces"
    batch_size = 4
    min_side = 1200  # a 4:3 photo reaches the detector at 1600 px: faces down to ~5 % of the width

    def __init__(self, backend: FaceBackend, vectors_dir: Path) -> None:
        self.backend = backend
        self.model = backend.name
        self.vector_model = f"{analyses.FACE_VECTORS_PREFIX}{backend.name}"
        self.vectors_dir = vectors_dir
        self.on_readers = backend.concurrent
        self._store: VectorStore | None = None

    def begin(self, conn: sqlite3.Connection) -> None:
        committed = analyses.committed_rows(conn, self.vector_model, self.backend.dim)
        generation = analyses.vector_generation(conn, self.vector_model)
        path = vector_file(self.vectors_dir, self.vector_model, generation)
        self._store = VectorStore(path, self.backend.dim, committed)

    def end(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self.backend.unload()  # the next pass's model loads into the memory this one held

    def prepare(self, image: Image.Image) -> Image.Image:
        return image

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        return [(image.size, self.backend.predict(image)) for image in prepared]

    def store(
        self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Sequence[Any]
    ) -> None:
        assert self._store is not None, "begin() was not called"
        for pid, ((width, height), detected) in zip(photo_ids, results, strict=True):
            if detected:
                first = self._store.append(np.stack([d.embedding for d in detected]))
                analyses.store_vector_count(conn, self.vector_model, first + len(detected))
            else:
                first = 0
            faces_db.replace_faces(
                conn, pid, self.model, [_fractions(d, width, height) for d in detected], first
            )
            faces_db.inherit_people(conn, pid, self.model)
            analyses.record_analysis(conn, pid, self.task, self.model)


class FaceScreenStage(Stage):
    """The faces pass's first look, taken in the scan from the photo it decodes anyway.

    Most photos hold no face, and the faces pass spent most of its time on them decoding
    the photo again at 1600 px only for its gate to find nothing. Here the backend's
    screen looks at the scan's small copy (no model loaded, a few milliseconds): a photo
    it rules out gets its empty faces row now and the pass never opens it; any other photo
    is left to the pass, which decodes it and runs its own gate and detector as before.
    """

    task = "faces"
    complete = False
    min_side = 0  # the scan's decode for the grid is enough
    batch_size = 16

    def __init__(self, backend: FaceBackend) -> None:
        self.backend = backend
        self.model = backend.name

    def prepare(self, image: Image.Image) -> bool:
        try:
            return self.backend.might_hold_faces(image)
        except Exception:  # noqa: BLE001 - unsure: the pass looks at it properly
            return True

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        return list(prepared)

    def store(
        self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Sequence[Any]
    ) -> None:
        for pid, maybe in zip(photo_ids, results, strict=True):
            if not maybe:  # what the pass would store for a photo without faces
                faces_db.replace_faces(conn, pid, self.model, [], 0)
                analyses.record_analysis(conn, pid, self.task, self.model)


def _fractions(face: DetectedFace, width: int, height: int) -> faces_db.NewFace:
    x, y, w, h = face.box
    return faces_db.NewFace(
        box=(x / width, y / height, w / width, h / height),
        landmarks=tuple((px / width, py / height) for px, py in face.landmarks),
        score=float(face.score),
    )
