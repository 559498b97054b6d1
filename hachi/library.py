"""The application service: what the CLI and the REST API can ask of a photo library.

Both front ends call these methods, so a folder added from a script and one added from
the browser go through the same validation, the same job queue and the same errors.
The services share one ``CatalogHandle`` (a connection per thread, one write lock).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hachi.catalog import analyses, overview, queries, suggest
from hachi.catalog import folders as folders_db
from hachi.catalog import jobs as jobs_db
from hachi.catalog import photos as photos_db
from hachi.catalog.db import transaction
from hachi.catalog.handle import CatalogHandle
from hachi.config import Settings
from hachi.errors import BadRequest, ModelUnavailable, NotFound, UnreadableFile
from hachi.indexer.extract import VIDEO_SECONDS_PER_FILE, Extractor
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.progress import RUNNING_STATES, PlannedPass, job_progress
from hachi.indexer.runner import BackgroundIndexer, inline_stages, pass_stages, run_next_job
from hachi.indexer.watch import FolderWatcher, watch_status
from hachi.library_albums import Albums
from hachi.library_duplicates import Duplicates
from hachi.library_models import ModelService, library_clip
from hachi.library_people import People
from hachi.media.decode import decode_image
from hachi.media.formats import is_video_path
from hachi.media.thumbnails import (
    GRID,
    GRID_2X,
    KINDS,
    MOMENT_SIDE,
    long_side,
    moment_thumbnail_path,
    moment_version,
    thumbnail_path,
    write_thumbnail,
)
from hachi.media.video import read_frame, read_poster
from hachi.ml.available import AvailableModels
from hachi.search import engine, timeline
from hachi.search.filters import SUGGEST_KINDS
from hachi.search.semantic import SemanticIndex
from hachi.stopping import Part, StopReport, stop_together
from hachi.textnorm import without_ocr_noise

PLAN_TTL_S = 10.0  # how long a running job's pending-pass counts are reused
MOMENT_FRAME_BUDGET_S = 10.0  # decoding one moment's picture, while a browser waits


class Library:
    """The services of one photo library, sharing its catalog handle: people and faces
    (``people``), models (``model_service``), and folders, jobs, search and photos here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self.rules = FolderRules.for_settings(settings)
        self.catalog = CatalogHandle(settings.catalog_path)
        self._models_lock = threading.Lock()  # not the write lock: searches never wait on writes
        self._extractor: Extractor | None = None
        self._models: AvailableModels | None = None
        self._semantic: SemanticIndex | None = None
        self._background: BackgroundIndexer | None = None
        self._watcher: FolderWatcher | None = None
        self._plan_cache: tuple[tuple[int, str | None], float, list[PlannedPass]] | None = None
        self.people = People(self.catalog, settings, self.original_path)
        self.albums = Albums(self.catalog, self.matching_ids)
        self.duplicates = Duplicates(self.catalog, settings, lambda: self.models.clip_name)
        self.model_service = ModelService(
            settings, lambda: self.conn, lambda: self.models, self._wake
        )

    @property
    def conn(self) -> sqlite3.Connection:
        return self.catalog.conn

    @property
    def extractor(self) -> Extractor:
        if self._extractor is None:
            self._extractor = Extractor(self.settings)
        return self._extractor

    @property
    def models(self) -> AvailableModels:
        """The models in use, following the library's active CLIP model as it changes."""
        with self._models_lock:
            if self._models is None:
                name = library_clip(self.settings, self.conn).name
                self._models = AvailableModels.discover(self.settings, name)
                return self._models
        self._models.sync_clip(library_clip(self.settings, self.conn).name)
        return self._models

    @property
    def semantic(self) -> SemanticIndex | None:
        clip = self.models.clip
        with self._models_lock:
            if clip is None:
                self._semantic = None
            elif self._semantic is None or self._semantic.clip is not clip:
                self._semantic = SemanticIndex(clip, self.settings.vectors_dir)
            return self._semantic

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, *, stopped: bool = False) -> None:
        """Stop the background work (unless the caller already did: ``stopped``, as
        `hachi serve` does with its other parts) and close this thread's connection."""
        if not stopped:
            self.stop_background()
        self.catalog.close()

    # -- background indexing ------------------------------------------------------------

    def start_background(self) -> None:
        if self._background is None:
            self._background = BackgroundIndexer(self.settings, self.extractor, self.models)
        self._background.start()
        if self._watcher is None and (self.settings.watch or self.settings.rescan_hours > 0):
            self._watcher = FolderWatcher(self.settings, self._wake)
        if self._watcher is not None:
            self._watcher.start()

    def index_pending(self, with_models: bool = True) -> int:
        """Run every queued index job here and now, as ``hachi index`` and scripts do; how
        many ran. ``with_models=False`` indexes files and metadata only (no CLIP, faces,
        OCR, people), as a quick library for tests of the catalog side."""
        models = self.models if with_models else None
        ran = 0
        while run_next_job(self.settings, self.extractor, models=models):
            ran += 1
        return ran

    def stop_parts(self) -> list[Part]:
        """The library's background work, to be stopped together (hachi.stopping)."""
        parts = []
        if self._watcher is not None:
            parts.append(Part.of("folder watcher", self._watcher))
        if self._background is not None:
            parts.append(Part.of("indexer", self._background))
        downloader = self.model_service.downloader()
        if downloader is not None:
            parts.append(Part.of("model downloads", downloader))
        semantic = self._semantic
        if semantic is not None and semantic.building():
            parts.append(Part("vector index build", semantic.stop_build, semantic.wait_for_index))
        return parts

    def stop_background(self) -> StopReport:
        """Stop the watcher, the indexer, downloads and index builds, all at once, within
        one deadline (instant for those already stopped)."""
        return stop_together(self.stop_parts())

    def _wake(self) -> None:
        if self._background is not None:
            self._background.wake()

    # -- folders and jobs ---------------------------------------------------------------

    def list_folders(self) -> list[folders_db.Folder]:
        return folders_db.list_folders(self.conn)

    def folder_dicts(self) -> list[dict[str, Any]]:
        """Folders, each with the unfinished job that covers it (its counts grow as the job
        commits, long before the scan ends and stamps last_scan_at)."""
        active = jobs_db.active_jobs(self.conn)
        listed = []
        for folder in self.list_folders():
            job = next((j for j in active if folder.id in j.folder_ids), None)
            indexing = job and {"job_id": job.id, "state": job.state, "phase": job.phase}
            listed.append({**folder.to_dict(), "indexing": indexing})
        return listed

    def add_folder(self, path: str) -> tuple[folders_db.Folder, jobs_db.Job]:
        resolved = self.rules.check_root(path)
        with self.catalog.write_lock:
            folder = folders_db.add_folder(self.conn, str(resolved))
            job = jobs_db.create_job(self.conn, [folder.id])
        self._wake()
        if self._watcher is not None:
            self._watcher.refresh()
        return folder, job

    def remove_folder(self, folder_id: int) -> None:
        folders_db.get_folder(self.conn, folder_id)
        with self.catalog.write_lock, transaction(self.conn):
            photos_db.remove_folder(self.conn, folder_id)
            jobs_db.drop_folder(self.conn, folder_id)
        if self._watcher is not None:
            self._watcher.refresh()

    def rescan(self, folder_ids: list[int] | None = None) -> jobs_db.Job:
        known = {f.id for f in self.list_folders()}
        wanted = list(known) if not folder_ids else folder_ids
        missing = [i for i in wanted if i not in known]
        if missing:
            raise NotFound(f"no folder with id {missing[0]}")
        if not wanted:
            raise BadRequest("no folders to scan: add a folder first")
        with self.catalog.write_lock:
            job = jobs_db.create_job(self.conn, wanted)
        self._wake()
        return job

    def job_dict(self, job: jobs_db.Job) -> dict[str, Any]:
        """The job's row, with each phase's rate and the ETA of the whole job."""
        data = job.to_dict()
        planned = self._planned_passes(job) if job.state in RUNNING_STATES else []
        rates = jobs_db.recorded_rates(self.conn)
        data.update(job_progress(job, planned, rates, time.time()))
        return data

    def _planned_passes(self, job: jobs_db.Job) -> list[PlannedPass]:
        """The passes the running job has still to make, with the photos each needs now.

        Counting costs ~25 ms a pass at 100,000 photos and the UI polls every second, so
        the counts are kept PLAN_TTL_S for the same job and phase.
        """
        key, now = (job.id, job.phase), time.monotonic()
        cached = self._plan_cache
        if cached is not None and cached[0] == key and now - cached[1] < PLAN_TTL_S:
            return cached[2]
        models = self.models
        scan_stages = inline_stages(models)
        inline = {stage.task for stage in scan_stages if stage.complete}
        screened = {stage.task for stage in scan_stages if not stage.complete}
        planned = []
        for stage in pass_stages(models):
            pending = analyses.count_needing(self.conn, stage.task, stage.model)
            # what the screen has left the pass of the photos scanned so far
            share = min(1.0, pending / job.done) if stage.task in screened and job.done else 1.0
            planned.append(PlannedPass(stage.task, stage.task in inline, pending, share))
        self._plan_cache = (key, now, planned)
        return planned

    def current_job(self) -> jobs_db.Job | None:
        active = jobs_db.active_jobs(self.conn)
        return active[0] if active else jobs_db.latest_job(self.conn)

    def get_job(self, job_id: int) -> jobs_db.Job:
        return jobs_db.get_job(self.conn, job_id)

    def cancel_job(self, job_id: int) -> jobs_db.Job:
        with self.catalog.write_lock:
            return jobs_db.request_cancel(self.conn, job_id)

    def failed_files(self, folder_id: int | None, limit: int, offset: int) -> list[dict[str, Any]]:
        return queries.failed_files(self.conn, folder_id, limit, offset)

    # -- reading ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        counts = queries.library_counts(self.conn)
        job = self.current_job()
        watch, watch_notices = watch_status(self.conn, self.settings)
        return {
            **counts,
            "home": str(self.settings.home),
            "job": self.job_dict(job) if job else None,
            "features": self.models.features(),
            "models": {"clip": self.model_service.active()},
            "downloads": self.model_service.downloads(),
            "watch": watch,
            "notices": [*self.model_service.notices(self.models.problems), *watch_notices],
        }

    def search(
        self,
        q: str,
        limit: int = 100,
        cursor: str | None = None,
        more: int = 0,
        with_timeline: bool = False,
    ) -> dict[str, Any]:
        """A page of results; ``with_timeline`` adds the days of the whole answer (None
        when it is ranked by relevance), counted from this search's own ranking."""
        found = self._result(q, limit, cursor, more)
        page = found.to_dict()
        if with_timeline:
            answer = found.answer
            assert answer is not None
            page["timeline"] = (
                None if answer.order == "rank" else timeline.of_answer(self.conn, q, answer)
            )
        return page

    def _result(
        self,
        q: str,
        limit: int,
        cursor: str | None,
        more: int,
        vector: NDArray[np.float32] | None = None,
    ) -> engine.SearchResult:
        return engine.search(
            self.conn,
            q,
            limit,
            cursor,
            self.semantic,
            more,
            query_vector=vector,
            face_backend=self.settings.face_backend,
            off_notice=self.models.semantic_off_notice(),
        )

    def points(self, q: str, more: int = 0) -> dict[str, Any]:
        """The geotagged photos a query finds, all of them, for a map."""
        return engine.points(
            self.conn,
            q,
            self.semantic,
            face_backend=self.settings.face_backend,
            off_notice=self.models.semantic_off_notice(),
            more=more,
        )

    def matching_ids(self, q: str) -> list[int]:
        """Every photo the query finds, in search order (what "select all" means)."""
        return engine.matching_ids(self.conn, q, self.semantic, self.settings.face_backend)

    def originals(self, ids: list[int]) -> Iterator[tuple[int, str, Path | None]]:
        """(id, file name, the real file to read or None) of existing photos, in order,
        looked up 500 at a time as they are consumed; the same folder rules as
        :meth:`original_path`."""
        roots = [Path(f.path) for f in self.list_folders()]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            files = queries.photo_files(self.conn, chunk)
            for i in chunk:
                if i in files:
                    name, path = files[i]
                    yield i, name, self.rules.readable_original(Path(path), roots)

    def timeline(self, q: str, more: int = 0) -> dict[str, Any]:
        """Photos per day of what ``search(q)`` finds, in its order (see search/timeline)."""
        return timeline.timeline(self.conn, q, self.semantic, more, self.settings.face_backend)

    def search_image(
        self,
        data: bytes,
        q: str = "",
        limit: int = 100,
        cursor: str | None = None,
        more: int = 0,
    ) -> dict[str, Any]:
        """Photos like an uploaded one (plus an optional query line to filter or steer)."""
        if self.semantic is None:
            raise ModelUnavailable(
                "searching with a photo needs semantic search, which is off: no CLIP model "
                "is installed",
                {"install": f"hachi models pull {self.models.clip_name}"},
            )
        image = decode_image(data, 256, "upload").image
        vector = self.semantic.image_vector(image)
        return self._result(q, limit, cursor, more, vector).to_dict()

    def _row(self, photo_id: int) -> dict[str, Any]:
        rows = queries.photo_rows(self.conn, [photo_id])
        if photo_id not in rows:
            raise NotFound(f"no photo with id {photo_id}")
        return rows[photo_id]

    def photo(self, photo_id: int) -> dict[str, Any]:
        row = self._row(photo_id)
        details = engine.summary(row, 0.0)
        details.pop("score")
        details.update(
            {
                "camera_make": row["camera_make"],
                "camera_model": row["camera_model"],
                "focal_length": row["focal_length"],
                "aperture": row["aperture"],
                "exposure_time": row["exposure_time"],
                "iso": row["iso"],
                "altitude": row["altitude"],
                "orientation": row["orientation"],
                "place_details": {
                    "name": row["place_name"],
                    "city": row["place_city"],
                    "region": row["place_region"],
                    "country": row["place_country"],
                    "country_code": row["place_country_code"],
                }
                if row["place"]
                else None,
                "content_hash": row["content_hash"],
                "indexed_at": row["indexed_at"],
                "faces": self.people.faces(photo_id=photo_id),
                "text": without_ocr_noise(analyses.ocr_text(self.conn, photo_id)) or None,
                "frame_rate": row["frame_rate"],
                "codec": row["codec"],
                "moments": self._moments(photo_id) if row["kind"] == "video" else [],
            }
        )
        return details

    def _moments(self, photo_id: int) -> list[float]:
        """Start times of a video's sampled moments (of the CLIP model search uses)."""
        if self.semantic is None:
            return []
        return analyses.moments_of(self.conn, self.semantic.model, photo_id)

    def moment_thumbnail(self, photo_id: int, index: int) -> tuple[Path, str]:
        """The picture of a video's ``index``-th moment (in ``moments`` order) and its
        version: decoded on first view and kept under thumbs/ by content and time."""
        row = self._row(photo_id)
        if row["kind"] != "video":
            raise NotFound(f"photo {photo_id} is not a video")
        moments = self._moments(photo_id)
        if not 0 <= index < len(moments):
            raise NotFound(f"video {photo_id} has no moment {index} ({len(moments)} moments)")
        at_s = moments[index]
        path = moment_thumbnail_path(self.settings.thumbs_dir, row["content_hash"], at_s)
        if not path.exists():
            original = self.original_path(photo_id)
            try:
                following = moments[index + 1] if index + 1 < len(moments) else None
                picture = read_frame(original, at_s, MOMENT_SIDE, MOMENT_FRAME_BUDGET_S, following)
            except OSError as exc:  # gone or unreadable since the check
                message = f"the video {photo_id} cannot be read: {exc.strerror}"
                raise UnreadableFile(message) from None
            write_thumbnail(picture, path, MOMENT_SIDE)
        return path, moment_version(row["content_hash"], at_s)

    def video_mime(self, photo_id: int) -> str | None:
        """The container type of a video (None for a photo); NotFound for no such id."""
        row = self._row(photo_id)
        return str(row["mime"]) if row["kind"] == "video" else None

    def original_path(self, photo_id: int) -> Path:
        """The original's real file, to be opened instead of the stored path.

        The stored path must lie in an indexed folder and what it leads to now must pass
        the folder rules, so a link swapped after indexing cannot serve /etc/passwd.
        """
        path = Path(self._row(photo_id)["path"])
        if not os.path.lexists(path):
            raise NotFound(f"the original of photo {photo_id} is no longer on disk")
        roots = [Path(f.path) for f in self.list_folders()]
        real = self.rules.readable_original(path, roots)
        if real is None:
            raise NotFound(f"the original of photo {photo_id} is not available")
        return real

    def thumbnail_path(self, photo_id: int, kind: str = GRID) -> Path:
        if kind not in KINDS:
            raise BadRequest(f"size must be one of {', '.join(KINDS)}")
        row = self._row(photo_id)
        path = thumbnail_path(self.settings.thumbs_dir, row["content_hash"], kind)
        if not path.exists():
            self._render(photo_id, kind, path)
        return path

    def thumbnail_by_hash(self, content_hash: str, kind: str) -> Path:
        """A content-addressed thumbnail: read from disk with no catalog query when it is
        there (the grid's case); made from a photo with that content otherwise (so
        libraries indexed before the 2x size get theirs on first view, no re-index)."""
        path = thumbnail_path(self.settings.thumbs_dir, content_hash, kind)
        if path.exists():
            return path
        for photo_id, _path in photos_db.photos_with_hash(self.conn, content_hash):
            try:
                return self.thumbnail_path(photo_id, kind)
            except NotFound:
                continue  # this copy is gone from disk; another may not be
        smaller = thumbnail_path(self.settings.thumbs_dir, content_hash, GRID)
        if kind == GRID_2X and smaller.exists():
            return smaller  # the original is offline: a soft tile beats a hole in the grid
        raise NotFound(f"no photo with content {content_hash}")

    def _render(self, photo_id: int, kind: str, path: Path) -> None:
        """Previews are made on first view, not while indexing: most are never opened."""
        size = long_side(kind, self.settings.thumb_size, self.settings.preview_size)
        original = self.original_path(photo_id)
        if is_video_path(original):
            poster = read_poster(original, size * 3 // 4, VIDEO_SECONDS_PER_FILE)
            write_thumbnail(poster.image, path, size)
            return
        decoded = decode_image(original.read_bytes(), size * 3 // 4, original.name)
        write_thumbnail(decoded.image, path, size)

    def years(self) -> list[dict[str, Any]]:
        """The Years page's cards (see ``catalog.overview``)."""
        return overview.years(self.conn)

    def places(self, country: str | None = None, region: str | None = None) -> dict[str, Any]:
        """The Places page's cards: countries, a country's regions, or a region's cities
        (a region without its country names nothing, so it is not looked at)."""
        return overview.places(self.conn, country, region if country is not None else None)

    def suggest(
        self, prefix: str, kind: str | None, limit: int = 10, q: str = ""
    ) -> list[dict[str, Any]]:
        """Completions of ``prefix``, counted among the photos that the filters of ``q``
        (the rest of the search bar) select."""
        if kind is not None and kind not in SUGGEST_KINDS:
            raise BadRequest(f"kind must be one of {', '.join(SUGGEST_KINDS)}")
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be between 1 and 100")
        within = None
        try:
            within = engine.filter_criteria(self.conn, q, self.settings.face_backend) if q else None
        except BadRequest:
            pass  # a half-typed bar: count over the whole library rather than fail
        found = suggest.suggestions(self.conn, prefix or "", kind, limit, within)
        for item in found:
            if item["count"] is None:  # a smart album: as many as its query finds now
                item["count"] = len(self.albums.photo_ids(self.albums.named(item["value"])["id"]))
        return sorted(found, key=lambda s: (-s["count"], s["label"].casefold()))
