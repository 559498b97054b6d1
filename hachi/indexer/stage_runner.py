"""Running model stages over photos: what the scan and the catch-up passes share.

Reader threads work ahead in input order with a bounded number in flight (``in_order``),
the results are cut into model batches (``batched``), each batch's models run on the
calling thread (``run_stages``) and what they found is stored in the caller's transaction
(``store_results``). Between batches ``check_stop`` raises ``Stopped``, saying whether the
user cancelled the job or the process is ending.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from hachi.catalog import analyses
from hachi.catalog import jobs as jobs_db
from hachi.indexer.stages import Stage

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", bound="StageInput")


class StopReason(StrEnum):
    CANCELLED = "cancelled"  # by the user (or every folder of the job removed): ends the job
    INTERRUPTED = "interrupted"  # the process is stopping: the job is queued to resume


class Stopped(Exception):
    """Raised between batches when a job must stop; ``reason`` says why."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class StageInput(Protocol):
    """One photo on its way through the stages, keyed by stage task."""

    prepared: dict[str, Any]  # model inputs from ``Stage.prepare``, consumed by the run
    results: dict[str, Any]  # model outputs, to store
    stage_errors: dict[str, str]  # why a stage has no result for this photo


def check_stop(conn: sqlite3.Connection, job_id: int, stopping: threading.Event | None) -> None:
    """Raises Stopped when the process is stopping or the user cancelled the job."""
    if stopping is not None and stopping.is_set():
        raise Stopped(StopReason.INTERRUPTED)
    if jobs_db.job_state(conn, job_id) in ("cancelling", "cancelled"):
        raise Stopped(StopReason.CANCELLED)


def window_size(workers: int, batch_size: int) -> int:
    """How many items may be in flight: every worker busy, and two model batches so the
    readers prepare the next batch while the models run on this one."""
    return max(workers * 4, 2 * batch_size)


def in_order(
    pool: ThreadPoolExecutor, work: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``work(item)`` for every item on the pool's threads, yielded in input order with at
    most ``window`` in flight (bounded memory)."""
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # left early (a stop, a cancel, an error): the work not yet begun is dropped, so
        # the pool's shutdown waits for the items in hand only, not for a whole window
        for future in pending:
            future.cancel()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items, the last one shorter."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_stages(stages: Sequence[Stage], items: list[S]) -> list[S]:
    """Batched inference for every stage; a failing batch marks its photos, never the job."""
    for stage in stages:
        ready = [i for i in items if stage.task in i.prepared]
        if not ready:
            continue
        try:
            outputs = stage.run([i.prepared.pop(stage.task) for i in ready])
        except Exception as exc:  # noqa: BLE001 - recorded per photo, the job goes on
            log.exception("%s inference failed", stage.task)
            for item in ready:
                item.stage_errors[stage.task] = f"{type(exc).__name__}: {exc}"
            continue
        for item, output in zip(ready, outputs, strict=True):
            item.results[stage.task] = output
    return items


def store_results(
    conn: sqlite3.Connection, stages: Sequence[Stage], stored: Sequence[tuple[int, StageInput]]
) -> None:
    """Each stage's results, and a failure row for each photo it has an error for, inside
    the caller's transaction."""
    for stage in stages:
        done = [
            (pid, item.results[stage.task]) for pid, item in stored if stage.task in item.results
        ]
        stage.store(conn, [pid for pid, _ in done], [output for _pid, output in done])
        for pid, item in stored:
            if stage.task in item.stage_errors:
                analyses.record_analysis(
                    conn, pid, stage.task, stage.model, item.stage_errors[stage.task]
                )
