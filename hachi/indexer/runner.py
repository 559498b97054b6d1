"""Running queued index jobs: in a background thread for the server, in the foreground
for `hachi index`. Both go through ``run_next_job``, which also resumes a job whose
process died mid-way."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from hachi.catalog import folders as folders_db
from hachi.catalog import jobs as jobs_db
from hachi.catalog.db import connect, refresh_statistics
from hachi.catalog.model_settings import active_clip_model
from hachi.config import Settings
from hachi.indexer.compaction import compact_all
from hachi.indexer.duplicates import catch_up
from hachi.indexer.extract import Extractor
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.passes import run_pass
from hachi.indexer.people_sync import update_people
from hachi.indexer.pipeline import IndexJob, Progress
from hachi.indexer.stage_runner import Stopped, StopReason, check_stop
from hachi.indexer.stages import ClipStage, FaceScreenStage, FaceStage, OcrStage, Stage
from hachi.ml.available import AvailableModels, active_clip
from hachi.ml.sessions import trim_heap
from hachi.stopping import Stoppable

log = logging.getLogger(__name__)
RELEASE_GEOCODER_MIN_PHOTOS = 32
"""After a whole-folder scan, or one this big, the gazetteer (~25 MB, ~95 MB more while it
loads) is dropped before the faces and OCR passes (and so does not stay in an idle
server); it reloads in about a second, which small jobs (a watched folder's few new files)
should not pay every time."""
IDLE_POLL_S = 2.0
IMAGE_MODELS_IDLE_S = 60.0
MIN_TIMED_FILES = 8  # a rescan that found a file or two says little about the scan's speed


def run_next_job(
    settings: Settings,
    extractor: Extractor,
    on_progress: Callable[[Progress, str | None], None] | None = None,
    models: AvailableModels | None = None,
    stopping: threading.Event | None = None,
) -> tuple[jobs_db.Job, Progress] | None:
    """Claim and run one job to its end; None when there is nothing to do.

    The job scans and indexes (CLIP inline when installed), then runs the catch-up and
    slow model passes (OCR, faces) and puts new faces into people; cancelling stops it
    between batches, and so does ``stopping`` (the process is ending), which leaves the job
    queued to resume.
    """
    conn = connect(settings.catalog_path)
    try:
        job = jobs_db.claim_next_job(conn)
        if job is None:
            return None
        progress = Progress()
        if job.state == "cancelling":
            jobs_db.finish_job(conn, job.id, "cancelled")
            return job, progress
        rules = FolderRules.for_settings(settings)
        try:
            inline = _stages(models, conn, inline=True)
            loads_model = any(stage.complete for stage in inline)
            if (
                loads_model
                and job.paths is None
                and folders_db.any_never_scanned(conn, job.folder_ids)
            ):
                # a first index: load the gazetteer before the CLIP tower, so that the two
                # loads' transient peaks (~120 and ~200 MB) never add up. A rescan (at every
                # start, and every HACHI_RESCAN_HOURS) mostly finds nothing new: it loads the
                # places lazily, only for a geotagged new photo.
                extractor.geocoder.load()
                trim_heap()
            started = time.monotonic()
            progress = IndexJob(
                conn, job, extractor, settings.workers, on_progress, inline, rules, stopping
            ).run()
            _record_scan_rate(conn, progress, time.monotonic() - started)
            if job.paths is None or progress.done >= RELEASE_GEOCODER_MIN_PHOTOS:
                extractor.geocoder.unload()  # the passes below need memory, not places
                trim_heap()
            # a model that arrived during the scan (a background download) runs right away
            for stage in _stages(models, conn, inline=False):
                run_pass(conn, job.id, stage, settings.workers, rules, stopping)
            catch_up(conn, settings, rules, _clip_name(models), stopping)
            check_stop(conn, job.id, stopping)  # the steps below are long in a big library
            compact_all(conn, settings.vectors_dir)
            if job.paths is None:  # a few changed files leave the statistics as they were
                refresh_statistics(conn)
            if models is not None and models.faces is not None:
                check_stop(conn, job.id, stopping)
                update_people(conn, settings.face_backend, settings.vectors_dir)
        except Stopped as stop:
            if stop.reason is StopReason.INTERRUPTED:
                jobs_db.release_job(conn, job.id)  # queued again: the next start resumes it
            else:
                jobs_db.finish_job(conn, job.id, "cancelled")
        except Exception as exc:
            log.exception("index job %s failed", job.id)
            jobs_db.finish_job(conn, job.id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        else:
            jobs_db.finish_job(conn, job.id, "done")
        return jobs_db.get_job(conn, job.id), progress
    finally:
        conn.close()


def _clip_name(models: AvailableModels | None) -> str | None:
    return models.clip_name if models is not None else None


def catch_up_duplicates(
    settings: Settings,
    models: AvailableModels | None = None,
    stopping: threading.Event | None = None,
) -> int:
    """Fingerprints and groups for what no job has covered (a library indexed before
    duplicates existed): run when the indexer is idle; a count when there is nothing."""
    conn = connect(settings.catalog_path)
    try:
        return catch_up(conn, settings, None, _clip_name(models), stopping)
    finally:
        conn.close()


def _record_scan_rate(conn: sqlite3.Connection, progress: Progress, seconds: float) -> None:
    """Files extracted per second, to time the next job's scan before it has a rate."""
    processed = progress.done + progress.failed + progress.moved
    if processed >= MIN_TIMED_FILES:
        jobs_db.record_rate(conn, "scan", processed / max(seconds, 1e-3))


def _stages(models: AvailableModels | None, conn: sqlite3.Connection, inline: bool) -> list[Stage]:
    """The stages of the models in use now (`hachi models use` or a download may have
    changed them since the last job)."""
    if models is None:
        return []
    models.sync_clip(active_clip(models.settings, active_clip_model(conn)).name)
    return inline_stages(models) if inline else pass_stages(models)


def inline_stages(models: AvailableModels) -> list[Stage]:
    """Stages cheap enough to run while the photo is decoded for indexing anyway: CLIP,
    and the faces pass's screen (which rules most photos out before that pass)."""
    stages: list[Stage] = clip_stages(models)
    if models.faces is not None and models.faces.screens:
        stages.append(FaceScreenStage(models.faces))
    return stages


def clip_stages(models: AvailableModels) -> list[Stage]:
    if models.clip is None:
        return []
    batch = models.clip_batch or ClipStage.batch_size
    settings = models.settings
    stage = ClipStage(
        models.clip,
        settings.vectors_dir,
        batch_size=batch,
        tower_mode=settings.clip_image_int8,
        scratch_dir=settings.scratch_dir,
    )
    return [stage]


def pass_stages(models: AvailableModels) -> list[Stage]:
    """Catch-up and slow stages, run after the scan, in this order."""
    stages = clip_stages(models)
    if models.faces is not None:
        stages.append(FaceStage(models.faces, models.settings.vectors_dir))
    if models.ocr is not None:
        stages.append(OcrStage(models.ocr))
    return stages


class BackgroundIndexer(Stoppable):
    """A daemon thread that runs jobs as they are queued, so the server stays responsive;
    asked to stop, it leaves its job (or the duplicates catch-up) between batches."""

    def __init__(
        self,
        settings: Settings,
        extractor: Extractor,
        models: AvailableModels | None = None,
    ) -> None:
        self.settings = settings
        self.extractor = extractor
        self.models = models
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="hachi-indexer", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wait_stopped(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _catch_up(self) -> None:
        try:
            catch_up_duplicates(self.settings, self.models, self._stop)
        except Exception:  # noqa: BLE001 - a later idle moment tries again; keep serving
            log.exception("grouping duplicates failed")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_next_job(
                    self.settings,
                    self.extractor,
                    models=self.models,
                    stopping=self._stop,
                )
            except Exception:  # noqa: BLE001 - logged in run_next_job; keep serving
                ran = None
            if ran is None:
                self._catch_up()
                if self.models is not None:
                    self.models.release_idle(IMAGE_MODELS_IDLE_S)
                self._wake.wait(IDLE_POLL_S)
                self._wake.clear()
