"""Catch-up passes: run one model stage over photos indexed without it.

A model installed after the library was indexed, a model changed, a stage too slow to
run inline (OCR, faces): each is a pass over the photos that have no analysis row for
(task, model). Passes are resumable for free — done photos have their row — and
cancellable between batches.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hachi.catalog import analyses
from hachi.catalog import jobs as jobs_db
from hachi.catalog import photos as photos_db
from hachi.catalog.db import transaction
from hachi.errors import UnreadableFile
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.pipeline import Interrupted
from hachi.indexer.stages import Stage
from hachi.media.decode import decode_image
from hachi.paths import real_path

CHUNK = 256
MIN_TIMED_PHOTOS = 8  # fewer say little about the pass's speed


class PassCancelled(Exception):
    pass


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
    swapped since indexing is recorded as a failure, not read). Raises PassCancelled when
    the user cancels, Interrupted when ``stopping`` is set.
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
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix=f"hachi-{stage.task}") as pool:
            while chunk := analyses.photos_needing(conn, stage.task, stage.model, after, CHUNK):
                after = chunk[-1][0]
                prepared = _prepared(pool, stage, chunk, workers, rules)
                for batch in _batches(prepared, stage.batch_size):
                    _check_cancel(conn, job_id, stopping)
                    done += len(batch)
                    _store(conn, job_id, stage, batch, done, total)
    finally:
        stage.end()
    if done >= MIN_TIMED_PHOTOS:
        jobs_db.record_rate(conn, stage.task, done / max(time.monotonic() - started, 1e-3))
    return done


def _prepare_one(stage: Stage, path: str, rules: FolderRules) -> Any:
    real = real_path(path)
    reason = rules.refusal(real)
    if reason is not None:
        raise UnreadableFile(f"not read: the file now leads into {reason}")
    data = real.read_bytes()
    return stage.prepare(decode_image(data, stage.min_side, Path(path).name).image)


def _prepared(
    pool: ThreadPoolExecutor,
    stage: Stage,
    chunk: list[tuple[int, str]],
    workers: int,
    rules: FolderRules,
) -> Iterator[tuple[int, Any, str | None]]:
    """(photo id, prepared input or None, error) in order, a bounded number in flight."""
    pending: deque[tuple[int, Future[Any]]] = deque()
    window = max(workers * 4, 2 * stage.batch_size)
    for photo_id, path in chunk:
        pending.append((photo_id, pool.submit(_prepare_one, stage, path, rules)))
        if len(pending) >= window:
            yield _outcome(*pending.popleft())
    while pending:
        yield _outcome(*pending.popleft())


def _outcome(photo_id: int, future: Future[Any]) -> tuple[int, Any, str | None]:
    try:
        return photo_id, future.result(), None
    except UnreadableFile as exc:
        return photo_id, None, exc.message
    except OSError as exc:
        return photo_id, None, f"cannot read file: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - one photo's failure is recorded, not fatal
        return photo_id, None, f"{type(exc).__name__}: {exc}"


def _batches(items: Iterator[tuple[int, Any, str | None]], size: int) -> Iterator[list[Any]]:
    batch: list[tuple[int, Any, str | None]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _store(
    conn: sqlite3.Connection, job_id: int, stage: Stage, batch: list[Any], done: int, total: int
) -> None:
    good = [(pid, prepared) for pid, prepared, error in batch if error is None]
    failed = [(pid, error) for pid, _prepared, error in batch if error is not None]
    try:
        outputs = stage.run([prepared for _pid, prepared in good])
    except Exception as exc:  # noqa: BLE001 - the batch is marked failed, the pass goes on
        failed += [(pid, f"{type(exc).__name__}: {exc}") for pid, _ in good]
        good, outputs = [], []
    with transaction(conn):
        present = photos_db.present_photo_ids(conn, [pid for pid, *_ in batch])
        kept = [(pid, out) for (pid, _p), out in zip(good, outputs, strict=True) if pid in present]
        stage.store(conn, [pid for pid, _ in kept], [out for _pid, out in kept])
        failed = [(pid, error) for pid, error in failed if pid in present]
        for pid, error in failed:
            analyses.record_analysis(conn, pid, stage.task, stage.model, error)
        jobs_db.update_phase(conn, job_id, stage.task, done, total)


def _check_cancel(conn: sqlite3.Connection, job_id: int, stopping: threading.Event | None) -> None:
    if stopping is not None and stopping.is_set():
        raise Interrupted
    if jobs_db.job_state(conn, job_id) in ("cancelling", "cancelled"):
        raise PassCancelled
