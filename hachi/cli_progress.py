"""Running index jobs in the foreground for `hachi index`, with a progress bar on a
terminal and a summary at the end.

If another Hachi process (a running server) has already claimed the job, this one waits
and shows that job's progress from the catalog instead of indexing the same files twice.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from hachi.catalog import jobs as jobs_db
from hachi.catalog import queries
from hachi.indexer.pipeline import Progress
from hachi.indexer.runner import run_next_job
from hachi.library import Library

POLL_S = 0.5
MAX_LISTED_FAILURES = 50


def run_jobs_in_foreground(
    library: Library, job_ids: set[int], quiet: bool = False
) -> list[jobs_db.Job]:
    bar = None if quiet or not sys.stderr.isatty() else tqdm(unit=" photos", file=sys.stderr)

    def show(progress: Progress, current: str | None) -> None:
        if bar is not None:
            bar.n = progress.done + progress.failed + progress.moved
            bar.set_postfix(
                found=progress.found, unchanged=progress.unchanged, failed=progress.failed
            )
            bar.refresh()

    try:
        while not all(_finished(library, j) for j in job_ids):
            ran = run_next_job(
                library.settings, library.extractor, show, library.models, library.after_job
            )
            if ran is None:
                time.sleep(POLL_S)  # claimed by another process: wait for it
    finally:
        if bar is not None:
            bar.close()
    jobs = [library.get_job(j) for j in sorted(job_ids)]
    for job in jobs:
        _summarise(library, job)
    return jobs


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
