"""Catch-up passes: run one model stage over photos indexed without it.

A model installed after the library was indexed, a model changed, a stage too slow to
run inline (OCR, faces): each is a pass over the photos that have no analysis row for
(task, model). Passes are resumable for free — done photos have their row — and
stoppable between batches. The ordered window, the batches, running the model and
storing what it found are the stage runner's, shared with the scan.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hachi.catalog import analyses
from hachi.catalog import jobs as jobs_db
from hachi.catalog import photos as photos_db
from hachi.catalog.db import transaction
from hachi.errors import UnreadableFile
from hachi.indexer.extract import VIDEO_SECONDS_PER_FILE
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.stage_runner import (
    batched,
    check_stop,
    in_order,
    run_stages,
    store_results,
    window_size,
)
from hachi.indexer.stages import Stage
from hachi.indexer.video_input import prepare_video
from hachi.media.decode import decode_image
from hachi.media.formats import is_video_path
from hachi.media.video import read_poster, read_video
from hachi.paths import real_path

CHUNK = 256
MIN_TIMED_PHOTOS = 8  # fewer say little about the pass's speed


@dataclass
class _Photo:
    """One photo of a pass: its stage input, then the model's result or an error."""

    photo_id: int
    prepared: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    stage_errors: dict[str, str] = field(default_factory=dict)


def run_pass(
    conn: sqlite3.Connection,
    job_id: int,
    stage: Stage,
    workers: int,
    rules: FolderRules | None = None,
    stopping: threading.Event | None = None,
) -> int:
    """Runs ``stage`` over every photo that lacks it; returns how many were analysed.

    A photo is read at its real path, and only where the folder rules allow (a link
    swapped since indexing is recorded as a failure, not read). Raises Stopped when the
    user cancels or ``stopping`` is set.
    """
    rules = rules or FolderRules()
    total = analyses.count_needing(conn, stage.task, stage.model)
    if total == 0:
        return 0
    done = 0
    stage.begin(conn)
    started = time.monotonic()  # the model is loaded: time the photos alone
    try:
        with transaction(conn):
            jobs_db.update_phase(conn, job_id, stage.task, 0, total)
        after = 0
        prepare = partial(_prepare_one, stage, rules)
        window = window_size(workers, stage.batch_size)
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix=f"hachi-{stage.task}") as pool:
            while chunk := analyses.photos_needing(conn, stage.task, stage.model, after, CHUNK):
                after = chunk[-1][0]
                for batch in batched(in_order(pool, prepare, chunk, window), stage.batch_size):
                    check_stop(conn, job_id, stopping)
                    done += len(batch)
                    _run_and_store(conn, job_id, stage, batch, done, total)
    finally:
        stage.end()
    if done >= MIN_TIMED_PHOTOS:
        jobs_db.record_rate(conn, stage.task, done / max(time.monotonic() - started, 1e-3))
    return done


def _prepare_one(stage: Stage, rules: FolderRules, photo: tuple[int, str]) -> _Photo:
    """The photo's stage input, or why there is none (one photo's failure is recorded,
    not fatal); for a stage that runs on the readers, its result already."""
    photo_id, path = photo
    item = _Photo(photo_id)
    try:
        item.prepared[stage.task] = _prepare(stage, path, rules)
    except UnreadableFile as exc:
        item.stage_errors[stage.task] = exc.message
    except OSError as exc:
        item.stage_errors[stage.task] = f"cannot read file: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - recorded for this photo, the pass goes on
        item.stage_errors[stage.task] = f"{type(exc).__name__}: {exc}"
    if stage.on_readers:
        run_stages([stage], [item])  # the decoded photo is freed here, not a batch later
    return item


def _prepare(stage: Stage, path: str, rules: FolderRules) -> Any:
    real = real_path(path)
    reason = rules.refusal(real)
    if reason is not None:
        raise UnreadableFile(f"not read: the file now leads into {reason}")
    if is_video_path(path) and stage.per_moment:
        return prepare_video(stage, read_video(real, stage.min_side, VIDEO_SECONDS_PER_FILE))
    if is_video_path(path):
        return stage.prepare(read_poster(real, stage.min_side, VIDEO_SECONDS_PER_FILE).image)
    data = real.read_bytes()
    return stage.prepare(decode_image(data, stage.min_side, Path(path).name).image)


def _run_and_store(
    conn: sqlite3.Connection, job_id: int, stage: Stage, batch: list[_Photo], done: int, total: int
) -> None:
    """Runs the model on the batch and stores it, less the photos removed meanwhile."""
    run_stages([stage], batch)
    with transaction(conn):
        present = photos_db.present_photo_ids(conn, [item.photo_id for item in batch])
        kept = [(item.photo_id, item) for item in batch if item.photo_id in present]
        store_results(conn, [stage], kept)
        jobs_db.update_phase(conn, job_id, stage.task, done, total)
