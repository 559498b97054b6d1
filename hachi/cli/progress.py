"""Running index jobs in the foreground for `hachi index`, with a progress bar on a
terminal and a summary at the end.

If another Hachi process (a running server) has already claimed the job, this one waits
and shows that job's progress from the catalog instead of indexing the same files twice.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time

from tqdm import tqdm

from hachi.catalog import jobs as jobs_db
from hachi.catalog import queries
from hachi.catalog.db import connect
from hachi.library import Library

POLL_S = 0.5
MAX_LISTED_FAILURES = 50


def run_jobs_in_foreground(
    library: Library, job_ids: set[int], quiet: bool = False
) -> list[jobs_db.Job]:
    watcher = None if quiet or not sys.stderr.isatty() else _Watcher(library, job_ids)
    if watcher is not None:
        watcher.start()
    try:
        while not all(_finished(library, j) for j in job_ids):
            if not library.index_pending():
                time.sleep(POLL_S)  # claimed by another process: wait for it
    finally:
        if watcher is not None:
            watcher.stop()
    jobs = [library.get_job(j) for j in sorted(job_ids)]
    for job in jobs:
        _summarise(library, job)
    return jobs


class _Watcher(threading.Thread):
    """Draws the job's progress from its catalog row: the scan, then each model pass
    (CLIP, faces, text), whichever process is doing the work."""

    def __init__(self, library: Library, job_ids: set[int]) -> None:
        super().__init__(name="hachi-progress", daemon=True)
        self.settings = library.settings
        self.job_ids = sorted(job_ids)
        self._halt = threading.Event()
        self.bar = tqdm(unit=" photos", file=sys.stderr, dynamic_ncols=True)

    def run(self) -> None:
        conn = connect(self.settings.catalog_path, migrate_schema=False)
        try:
            while not self._halt.wait(POLL_S):
                self._draw(conn)
        finally:
            conn.close()

    def _draw(self, conn: sqlite3.Connection) -> None:
        jobs = [jobs_db.get_job(conn, j) for j in self.job_ids]
        job = next((j for j in jobs if j.state in jobs_db.ACTIVE_STATES), jobs[-1])
        if job.phase:
            self.bar.set_description(f"{job.phase}")
            self.bar.total, self.bar.n = job.phase_total, job.phase_done
        else:
            self.bar.set_description("indexing")
            self.bar.total = max(0, job.found - job.unchanged) or None
            self.bar.n = job.done + job.failed + job.moved
        self.bar.set_postfix(found=job.found, failed=job.failed)
        self.bar.refresh()

    def stop(self) -> None:
        self._halt.set()
        self.join(2 * POLL_S)
        self.bar.close()


def _finished(library: Library, job_id: int) -> bool:
    return library.get_job(job_id).state in ("done", "cancelled", "failed")


def _summarise(library: Library, job: jobs_db.Job) -> None:
    out = sys.stderr
    print(
        f"Job {job.id} {job.state}: {job.done} indexed, {job.unchanged} unchanged, "
        f"{job.removed} removed, {job.moved} moved, {job.failed} failed "
        f"({job.found} photo files found)",
        file=out,
    )
    if job.error:
        print(f"  error: {job.error}", file=out)
    failures = [
        f
        for fid in job.folder_ids
        for f in queries.failed_files(library.conn, fid, MAX_LISTED_FAILURES, 0)
    ]
    for failure in failures[:MAX_LISTED_FAILURES]:
        print(f"  failed: {failure['path']}: {failure['error']}", file=out)
    if len(failures) > MAX_LISTED_FAILURES:
        print("  ... and more: see `hachi status`", file=out)
