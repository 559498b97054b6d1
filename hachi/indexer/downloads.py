"""Missing models fetched in the background while `hachi serve` runs.

One daemon thread downloads each wanted model in turn with the resumable, checksummed
downloader (hachi.ml.download) and records its progress in the catalog, so the API, the
UI and `hachi status` in another terminal all see it. A failure (no network, a broken
mirror, a wrong checksum) is recorded with the one command that retries; nothing else
waits on it, and the next start of the server tries again. Stopping the thread leaves the
partial files in place, so that retry resumes instead of starting over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from hachi.catalog.db import connect
from hachi.catalog.model_settings import DownloadRecord, forget_download, put_download
from hachi.config import Settings
from hachi.errors import HachiError
from hachi.ml.download import manifest_entry, pull_model
from hachi.ml.store import InstalledModel, pull_command
from hachi.stopping import Stoppable

log = logging.getLogger(__name__)
RECORD_EVERY_S = 0.5
HEARTBEAT_S = 10.0
"""A stalled download still refreshes its record this often, so that it does not read as
abandoned (model_settings.DOWNLOAD_STALE_S) while its thread is alive and waiting."""

Installed = Callable[[InstalledModel], object]


class DownloadStopped(Exception):
    """Raised from the progress callback to end a download early (server stopping)."""


class ModelDownloader(Stoppable):
    """Downloads ``wanted`` model names one after another, then calls ``on_installed``."""

    def __init__(self, settings: Settings, wanted: list[str], on_installed: Installed) -> None:
        self.settings = settings
        self.wanted = wanted
        self.on_installed = on_installed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.wanted and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hachi-models", daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()  # the next bytes that arrive end the download (DownloadStopped)

    def wait_stopped(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        conn = connect(self.settings.catalog_path, migrate_schema=False)
        try:
            for name in self.wanted:
                if self._stop.is_set():
                    break
                self._fetch(conn, name)
        finally:
            conn.close()

    def _fetch(self, conn: sqlite3.Connection, name: str) -> None:
        progress = _Recorder(conn, name, self._stop)
        try:
            entry = manifest_entry(self.settings, name)
            progress.task = entry.task
            installed = pull_model(self.settings, name, progress=False, on_progress=progress)
            progress.record("installed")
            if entry.task == "clip":
                _quantize(self.settings, name)
        except DownloadStopped:
            progress.record("stopped")
            return
        except HachiError as exc:
            log.warning("automatic download of %s failed: %s", name, exc.message)
            progress.record("failed", exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - recorded for the user; the server goes on
            log.exception("automatic download of %s failed", name)
            progress.record("failed", f"{type(exc).__name__}: {exc}")
            return
        forget_download(conn, name)
        try:
            self.on_installed(installed)
        except Exception:  # noqa: BLE001 - the model is installed; the next job embeds
            log.exception("after installing %s", name)


class _Recorder:
    """The progress callback. The download thread only notes the numbers; a second thread
    writes them every RECORD_EVERY_S, so a download that stalls mid-read still shows the
    bytes that arrived before the stall."""

    def __init__(self, conn: sqlite3.Connection, model: str, stop: threading.Event) -> None:
        self.conn = conn
        self.model = model
        self.stop = stop
        self.task = ""
        self.done = 0
        self.total = 0
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._written = (-1, -1)
        self._thread = threading.Thread(target=self._flush, name="hachi-models-progress")
        self._thread.daemon = True
        self._thread.start()

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.stop.is_set():
            raise DownloadStopped

    def _flush(self) -> None:
        last = time.monotonic()
        while not self._finished.wait(RECORD_EVERY_S):
            quiet = time.monotonic() - last
            if (self.done, self.total) != self._written or quiet >= HEARTBEAT_S:
                self._write("downloading")
                last = time.monotonic()

    def record(self, state: str, error: str | None = None) -> None:
        """The final state; ends the periodic writes."""
        self._finished.set()
        self._thread.join()
        self._write(state, error)

    def _write(self, state: str, error: str | None = None) -> None:
        with self._lock:
            self._written = (self.done, self.total)
            put_download(
                self.conn,
                DownloadRecord(
                    model=self.model,
                    task=self.task,
                    state=state,
                    done_bytes=self.done,
                    total_bytes=self.total,
                    error=error,
                    command=pull_command(self.model),
                    updated_at=time.time(),
                ),
            )


def _quantize(settings: Settings, name: str) -> None:
    """The int8 text tower `hachi models pull` makes too; never fatal."""
    from hachi.ml.clip.optimize import quantize_after_pull

    log.info("%s: %s", name, quantize_after_pull(settings, name))
