"""One indexing job: scan the folders, extract changed files in parallel, write in order.

Worker threads extract (decode, EXIF, thumbnails, the inline stages' preparation) in the
stage runner's ordered window; this thread runs the inline models and is the single
writer: it commits in batches, with the job's progress in the same transaction, so a
SIGKILL at any instant leaves the catalog either before or after a whole batch. Rerunning
the job then finds the finished files unchanged and carries on: resume is just a rescan.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hachi.catalog import folders as folders_db
from hachi.catalog import jobs as jobs_db
from hachi.catalog import photos as photos_db
from hachi.catalog.db import transaction
from hachi.indexer.extract import Extracted, Extractor
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.scan import (
    SETTLE_NS,
    FoundFile,
    is_settled,
    narrow_scope,
    walk_photos,
    walk_scope,
)
from hachi.indexer.stage_runner import (
    Stopped,
    StopReason,
    batched,
    check_stop,
    in_order,
    run_stages,
    store_results,
    window_size,
)
from hachi.indexer.stages import Stage

log = logging.getLogger(__name__)

PHOTOS_PER_COMMIT = 128
SECONDS_PER_COMMIT = 1.0
FOUND_REPORT_EVERY = 500


@dataclass
class Progress:
    """Counters of one job, written to the jobs row at every commit."""

    found: int = 0
    done: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    moved: int = 0
    unfinished: int = 0  # half-written when read: left for the change that completes them
    errors: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in jobs_db.COUNTERS}


@dataclass
class _Plan:
    """What a scan decided: files to extract, and vanished photos to delete or re-home."""

    todo: list[tuple[FoundFile, int, str]] = field(default_factory=list)
    vanished: dict[str, photos_db.KnownFile] = field(default_factory=dict)
    roots: dict[int, str] = field(default_factory=dict)
    fresh: list[tuple[FoundFile, int]] = field(default_factory=list)  # unread while changing
    final: bool = False  # the second reading of the fresh ones


class IndexJob:
    def __init__(
        self,
        conn: sqlite3.Connection,
        job: jobs_db.Job,
        extractor: Extractor,
        workers: int,
        on_progress: Callable[[Progress, str | None], None] | None = None,
        stages: Sequence[Stage] = (),
        rules: FolderRules | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.conn = conn
        self.rules = rules or FolderRules()
        self.stopping = stopping
        self.job = job
        self.stages = tuple(stages)
        self.extractor = extractor.with_preparers(self.stages)
        self.workers = max(1, workers)
        self.progress = Progress()
        self.on_progress = on_progress
        self._last_commit = time.monotonic()

    def run(self) -> Progress:
        """Scan, extract and write; raises Stopped when the user cancels in between or
        the process is stopping."""
        plan = self._scan()
        for stage in self.stages:
            stage.begin(self.conn)
        try:
            self._extract_all(plan)
            if plan.fresh:
                self._extract_again(plan)
        finally:
            for stage in self.stages:
                stage.end()
        self._remove_vanished(plan)
        if self.job.paths is None:  # a scoped job has not looked at the whole folder
            for folder_id in self.job.folder_ids:
                folders_db.mark_scanned(self.conn, folder_id)
        return self.progress

    # -- scanning -----------------------------------------------------------------------

    def _scan(self) -> _Plan:
        plan = _Plan()
        for folder_id in self.job.folder_ids:
            try:
                folder = folders_db.get_folder(self.conn, folder_id)
            except Exception:  # noqa: BLE001 - folder removed since the job was queued
                continue
            if not os.path.isdir(folder.path):  # an unplugged drive is not an empty folder
                log.warning("%s is not there: its photos are kept until it is back", folder.path)
                continue
            plan.roots[folder_id] = folder.path
            known, walk = self._scope(folder_id, Path(folder.path))
            seen: set[str] = set()
            for found in walk:
                seen.add(found.path)
                self._classify(found, known.get(found.path), folder_id, folder.path, plan)
            plan.vanished.update({p: k for p, k in known.items() if p not in seen})
        self._report(None, force=True)
        return plan

    def _scope(
        self, folder_id: int, root: Path
    ) -> tuple[dict[str, photos_db.KnownFile], Iterator[FoundFile]]:
        """What the catalog holds and what the disk has, for the whole folder or the
        job's paths only; comparing the two finds removals either way."""
        if self.job.paths is None:
            return photos_db.known_files(self.conn, folder_id), walk_photos(root, self.rules)
        paths = narrow_scope(self.job.paths)
        known = photos_db.known_files_under(self.conn, folder_id, paths)
        return known, walk_scope(root, paths, self.rules)

    def _classify(
        self,
        found: FoundFile,
        known: photos_db.KnownFile | None,
        folder_id: int,
        root: str,
        plan: _Plan,
    ) -> None:
        self.progress.found += 1
        if known and known.size == found.size and known.mtime_ns == found.mtime_ns:
            if known.job_id == self.job.id:  # finished by this job before a restart
                self.progress.failed += known.failed
                self.progress.done += not known.failed
            else:
                self.progress.unchanged += 1
        else:
            plan.todo.append((found, folder_id, root))
        if self.progress.found % FOUND_REPORT_EVERY == 0:
            self._check_cancel()
            self._report(found.path, force=True)

    # -- extraction and writing ---------------------------------------------------------

    def _extract_all(self, plan: _Plan) -> None:
        """Extracts the files in model batches, runs the inline stages on each, and
        writes when a commit's worth (or a second's) is ready."""
        moved_from = _by_hash(plan.vanished)
        batch: list[Extracted] = []
        infer_every = max([1, *(stage.batch_size for stage in self.stages)])
        for extracted in batched(self._results(plan.todo, infer_every), infer_every):
            if self.stopping is not None and self.stopping.is_set():
                raise Stopped(StopReason.INTERRUPTED)  # the batch in hand is read again
            batch += run_stages(self.stages, extracted)
            if len(batch) >= PHOTOS_PER_COMMIT or self._commit_due():
                self._write(batch, moved_from, plan)
                batch = []
        self._write(batch, moved_from, plan)

    def _results(
        self, todo: list[tuple[FoundFile, int, str]], batch_size: int
    ) -> Iterator[Extracted]:
        """Extracted files in input order, a bounded number in flight."""

        def extract(item: tuple[FoundFile, int, str]) -> Extracted:
            return self.extractor.extract(*item)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="hachi-extract") as pool:
            yield from in_order(pool, extract, todo, window_size(self.workers, batch_size))

    def _commit_due(self) -> bool:
        return time.monotonic() - self._last_commit >= SECONDS_PER_COMMIT

    def _write(
        self,
        batch: list[Extracted],
        moved_from: dict[str, list[photos_db.KnownFile]],
        plan: _Plan,
    ) -> None:
        with transaction(self.conn):
            batch = self._still_wanted(batch)
            stored: list[tuple[int, Extracted]] = []
            for item in batch:
                photo_id = self._write_one(item, moved_from, plan)
                if photo_id is not None:
                    stored.append((photo_id, item))
            store_results(self.conn, self.stages, stored)
            current = batch[-1].found.path if batch else None
            jobs_db.update_progress(self.conn, self.job.id, current, **self.progress.counts())
        self._last_commit = time.monotonic()
        self._report(batch[-1].found.path if batch else None)

    def _still_wanted(self, batch: list[Extracted]) -> list[Extracted]:
        """The batch less the files of folders removed meanwhile.

        Runs inside the write transaction, so a removal cannot slip in between this check
        and the write. Stopped as cancelled when the user cancelled or removed every folder
        of the job.
        """
        self._check_cancel()
        live = folders_db.present_ids(self.conn, self.job.folder_ids)
        if not live:
            raise Stopped(StopReason.CANCELLED)
        return [item for item in batch if item.folder_id in live]

    def _write_one(
        self, item: Extracted, moved_from: dict[str, list[photos_db.KnownFile]], plan: _Plan
    ) -> int | None:
        """Writes one file's row; returns the photo id when model results should be stored."""
        found = item.found
        if item.record is None and _maybe_half_written(found):
            if plan.final:
                self.progress.unfinished += 1  # still growing: left for the change after
            else:
                plan.fresh.append((found, item.folder_id))
            return None
        if item.record is None:
            photos_db.record_failure(
                self.conn,
                item.folder_id,
                found.path,
                found.size,
                found.mtime_ns,
                item.error or "unknown error",
                self.job.id,
            )
            self.progress.failed += 1
            self.progress.errors.append((found.path, item.error or "unknown error"))
            return None
        candidates = moved_from.get(item.record.content_hash)
        if candidates:
            origin = candidates.pop(0)
            plan.vanished.pop(origin.path, None)
            if photos_db.move_photo(self.conn, origin.id, item.record, self.job.id):
                self.progress.moved += 1
                return None  # same content: what the models found still holds
        photo_id = photos_db.upsert_photo(self.conn, item.record, self.job.id)
        self.progress.done += 1
        return photo_id

    def _extract_again(self, plan: _Plan) -> None:
        """Files that could not be read while they were changing are read once more after
        they settle: a copy in progress is not a bad file, but a bad file that has
        settled is one. A file still changing then is left for the change that ends it
        (the watcher's, or the next rescan)."""
        newest = max(found.mtime_ns for found, _folder in plan.fresh)
        wait_s = (newest + SETTLE_NS - time.time_ns()) / 1e9
        time.sleep(min(SETTLE_NS / 1e9, max(0.0, wait_s)))
        plan.todo = [
            (again, folder_id, plan.roots[folder_id])
            for found, folder_id in plan.fresh
            if (again := _restat(found)) is not None
        ]
        plan.fresh, plan.final = [], True
        self._extract_all(plan)

    def _remove_vanished(self, plan: _Plan) -> None:
        self._check_cancel()
        photo_ids = [k.id for k in plan.vanished.values() if not k.failed]
        failed_paths = [k.path for k in plan.vanished.values() if k.failed]
        with transaction(self.conn):
            photos_db.delete_photos(self.conn, photo_ids)
            photos_db.forget_failures(self.conn, failed_paths)
            self.progress.removed += len(photo_ids)
            jobs_db.update_progress(self.conn, self.job.id, None, **self.progress.counts())

    def _check_cancel(self) -> None:
        check_stop(self.conn, self.job.id, self.stopping)

    def _report(self, current: str | None, force: bool = False) -> None:
        if force:
            jobs_db.update_progress(self.conn, self.job.id, current, **self.progress.counts())
        if self.on_progress is not None:
            self.on_progress(self.progress, current)


def _maybe_half_written(found: FoundFile) -> bool:
    """Whether a file that could not be read may be half-written: it changed (or went)
    after the scan saw it, or its last change is under SETTLE_NS old."""
    if not is_settled(found.mtime_ns, time.time_ns()):
        return True
    again = _restat(found)
    return again is None or again != found


def _restat(found: FoundFile) -> FoundFile | None:
    """The file as it is now; None when it is gone (an unreadable one stays as found)."""
    try:
        st = os.stat(found.path)
    except FileNotFoundError:
        return None
    except OSError:
        return found
    return FoundFile(found.path, st.st_size, st.st_mtime_ns)


def _by_hash(vanished: dict[str, photos_db.KnownFile]) -> dict[str, list[photos_db.KnownFile]]:
    index: dict[str, list[photos_db.KnownFile]] = {}
    for known in vanished.values():
        if known.content_hash and not known.failed:
            index.setdefault(known.content_hash, []).append(known)
    return index
