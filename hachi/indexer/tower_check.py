"""Measuring the int8 image tower against float32 on the library's first photos.

Both towers are never loaded together (that would raise the indexer's memory peak by the
int8 session's ~100-200 MB): while float32 indexes the first ``CHECK_PHOTOS`` still
photos, each one's preprocessed input (float16) and float32 embedding are appended to a
scratch file under HOME/tmp as soon as it is encoded. Then float32 is unloaded, int8
loaded, the kept inputs encoded from the file in slices, and the cosines decide which
tower indexes from then on.

The file is synced before the transaction that counts its records in the catalog, the way
vector rows are, so after a kill the count is never ahead of the file: the next job cuts
the file back to the counted records and goes on from there. A check that needs several
small jobs to reach its photos keeps its file between them.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from hachi.catalog import towers as towers_db
from hachi.catalog.towers import FLOAT32, INT8, TowerChoice
from hachi.indexer.towers import CHECK_PHOTOS, MIN_P1_COSINE, PERCENTILE
from hachi.ml.clip.encoders import ClipModel

log = logging.getLogger(__name__)
FILE_PREFIX = "tower-check-"
ENCODE_SLICE = 32  # kept inputs encoded this many at a time (bounded memory)


def scratch_name(model: str, fingerprint: str) -> str:
    return f"{FILE_PREFIX}{re.sub(r'[^A-Za-z0-9._-]', '_', model)}-{fingerprint}.bin"


def remove_stale(scratch_dir: Path, keep: Sequence[tuple[str, str]]) -> None:
    """Delete every check file but ``keep``'s (decided, another model, an older export)."""
    wanted = {scratch_name(m, f) for m, f in keep}
    for path in scratch_dir.glob(f"{FILE_PREFIX}*"):
        if path.name not in wanted:
            path.unlink(missing_ok=True)


class TowerCheck:
    """The open check of one model's int8 image tower (one per ClipStage)."""

    def __init__(self, clip: ClipModel, scratch_dir: Path, fingerprint: str) -> None:
        self.clip = clip
        self.fingerprint = fingerprint
        self.path = scratch_dir / scratch_name(clip.name, fingerprint)
        shape = (3, *clip.config.preprocess.image_size)
        self._input_shape = shape
        self._input_size = int(np.prod(shape))
        self._record_bytes = self._input_size * 2 + clip.embed_dim * 4
        self.count = 0  # records the file holds
        self._counted = 0  # records the catalog counts
        self._file: BinaryIO | None = None

    def open(self, conn: sqlite3.Connection) -> None:
        """Resume from the records the catalog counts (a kill may have left more)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        counted = towers_db.checked_photos(conn, self.clip.name, self.fingerprint)
        self._file = open(self.path, "r+b" if self.path.exists() else "w+b")
        held = os.fstat(self._file.fileno()).st_size // self._record_bytes
        self.count = min(counted, held)  # a file lost or cut short: its records are gone
        self._counted = counted
        self._file.truncate(self.count * self._record_bytes)

    @property
    def full(self) -> bool:
        return self.count >= CHECK_PHOTOS

    @property
    def wanted(self) -> int:
        return max(0, CHECK_PHOTOS - self.count)

    def add(
        self, inputs: Sequence[NDArray[np.float32]], vectors: Sequence[NDArray[np.float32]]
    ) -> None:
        """Keep photos' inputs with their float32 embeddings, as they are encoded (holding
        them until the writer commits would cost ~0.6 MB a photo); any photo will do, so
        one that is not stored after all still counts."""
        assert self._file is not None, "open() was not called"
        take = min(len(inputs), self.wanted)
        if take == 0:
            return
        self._file.seek(self.count * self._record_bytes)
        for image, vector in zip(inputs[:take], vectors[:take], strict=True):
            self._file.write(np.asarray(image, np.float16).tobytes())
            self._file.write(np.asarray(vector, np.float32).tobytes())
        self._file.flush()
        self.count += take

    def commit(self, conn: sqlite3.Connection) -> None:
        """Count the records kept so far, inside the caller's transaction, once the file
        holds them for sure."""
        assert self._file is not None, "open() was not called"
        if self.count == self._counted:
            return
        os.fsync(self._file.fileno())
        towers_db.set_checked_photos(conn, self.clip.name, self.fingerprint, self.count)
        self._counted = self.count

    def measure(self) -> TowerChoice:
        """Encode the kept inputs with the int8 tower (float32's session dropped first)
        and decide; the model is left on the winning tower."""
        assert self._file is not None, "open() was not called"
        started = time.monotonic()
        self.clip.use_image_tower(True)
        cosines = np.concatenate(
            [self._cosines(start) for start in range(0, self.count, ENCODE_SLICE)]
        )
        p1 = float(np.percentile(cosines, PERCENTILE))
        tower = INT8 if p1 >= MIN_P1_COSINE else FLOAT32
        self.clip.use_image_tower(tower == INT8)
        choice = TowerChoice(
            model=self.clip.name,
            fingerprint=self.fingerprint,
            photos=int(len(cosines)),
            p1_cosine=round(p1, 6),
            mean_cosine=round(float(cosines.mean()), 6),
            min_cosine=round(float(cosines.min()), 6),
            tower=tower,
            decided_at=time.time(),
        )
        log.info(
            "%s image tower: %s (%d photos, 1st percentile cosine %.5f; checked in %.1f s)",
            choice.model,
            tower,
            choice.photos,
            p1,
            time.monotonic() - started,
        )
        return choice

    def _cosines(self, start: int) -> NDArray[np.float32]:
        assert self._file is not None
        rows = min(ENCODE_SLICE, self.count - start)
        self._file.flush()
        self._file.seek(start * self._record_bytes)
        raw = np.frombuffer(self._file.read(rows * self._record_bytes), np.uint8)
        records = raw.reshape(rows, self._record_bytes)
        inputs = records[:, : self._input_size * 2].copy().view(np.float16)
        reference = records[:, self._input_size * 2 :].copy().view(np.float32)
        batch = inputs.reshape(rows, *self._input_shape).astype(np.float32)
        encoded = self.clip.encode_image_batch(batch)
        return np.sum(encoded * reference, axis=1).astype(np.float32)

    def close(self, remove: bool = False) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if remove:
            self.path.unlink(missing_ok=True)
