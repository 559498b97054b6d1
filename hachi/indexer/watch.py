"""Keeping indexed folders current: file-system changes become scoped index jobs.

Each indexed folder gets a watchfiles watcher (Rust notify: inotify, FSEvents, ...) read
by its own thread. What it reports is filtered (hidden and temporary names, non-photo
files), gathered, and queued through the same scan -> job path as a rescan, as a job
scoped to the changed paths. A burst (a copy of thousands of files) becomes one job:
changes are gathered until the folders have been quiet for QUIET_S and every changed
file has settled (unchanged for scan.SETTLE_NS), or, in a steady stream, for at most
GATHER_MAX_S; a file that has not settled is never queued: a half-written one waits for
the change that completes it.

Where events cannot be had (the inotify watch limit, a network file system whose
changes from other machines send none, an error from the watcher) the folder is polled
instead, and the state, recorded in the catalog, says so in `hachi status`. A
scheduled whole rescan (HACHI_RESCAN_HOURS) catches whatever a watcher missed.

What is indexed is the scanner's to decide (hidden and temporary names, symlinks), as
in any rescan; the watcher only says where to look.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# watchfiles' own class (documented in its API reference) rather than watchfiles.watch():
# creating one says at once whether the watches could be set, per folder.
from watchfiles._rust_notify import RustNotify

from hachi.catalog import folders as folders_db
from hachi.catalog import jobs as jobs_db
from hachi.catalog import watching
from hachi.catalog.clock import utc_ago
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.indexer.fs_events import NETWORK_FILESYSTEMS, filesystem_type, inotify_watches
from hachi.indexer.scan import is_settled, is_skipped_name, narrow_scope
from hachi.media.formats import is_media_path
from hachi.stopping import Stoppable

log = logging.getLogger(__name__)

QUIET_S = 1.0  # changes are queued once the folders have been quiet this long...
GATHER_MAX_S = 4.0  # ...or once the oldest has waited this long, in a steady stream
TICK_S = 0.25
FOLDERS_CHECK_S = 2.0  # folders added or removed by another process
RESCAN_CHECK_S = 60.0
RETRY_S = 60.0  # a folder that could not be watched nor polled is tried again
WATCH_LIMIT_SHARE = 0.9  # past this share of fs.inotify.max_user_watches, poll instead
NOT_THERE = "the folder is not there (an unplugged drive or an unmounted share?)"
STEP_MS = 100  # a reader looks at its stop event this often
DEBOUNCE_MS = 500
READ_TIMEOUT_MS = 1_000
SOURCE_STOP_S = 5.0  # all of a watcher's readers together


@dataclass
class _Source:
    """One folder's watcher and the thread that reads it."""

    root: str
    folder_id: int
    polling: bool
    reason: str | None
    notify: RustNotify
    identity: tuple[int, int] | None  # (device, inode) of the folder: a new one is rewatched
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: str | None = None


class FolderWatcher(Stoppable):
    """A daemon thread that turns changes under the indexed folders into scoped jobs,
    and queues the scheduled whole rescan; ``wake`` tells the indexer there is work."""

    def __init__(self, settings: Settings, wake: Callable[[], None]) -> None:
        self.settings = settings
        self._wake = wake
        self._stop = threading.Event()
        self._refresh = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}  # path -> when it last changed (monotonic)
        self._first = 0.0
        self._last = 0.0
        self._sources: dict[str, _Source] = {}
        self._degraded: dict[str, str] = {}  # root -> why events could not be had
        self._failed: dict[str, tuple[str, float]] = {}  # root -> (why, retry after)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hachi-watch", daemon=True)
            self._thread.start()

    def refresh(self) -> None:
        """Look at the folders again now (one was added or removed)."""
        self._refresh.set()

    def request_stop(self) -> None:
        self._stop.set()

    def wait_stopped(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    # -- the watcher thread -------------------------------------------------------------

    def _run(self) -> None:
        conn = connect(self.settings.catalog_path, migrate_schema=False)
        try:
            self._reconcile(conn)
            if self.settings.watch:
                self._catch_up(conn)
            self._loop(conn)
        finally:
            self._stop_sources(list(self._sources))
            watching.clear_watch_state(conn)
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        next_folders = next_rescan = time.monotonic()
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            try:
                if self._refresh.is_set() or now >= next_folders or self._any_failed():
                    self._refresh.clear()
                    self._reconcile(conn)
                    next_folders = now + FOLDERS_CHECK_S
                self._flush(conn, now)
                if now >= next_rescan:
                    self._rescan_if_due(conn)
                    self._poll_if_near_the_limit()
                    next_rescan = now + RESCAN_CHECK_S
            except Exception:  # noqa: BLE001 - a busy catalog, a bug: log, keep watching
                log.exception("folder watcher: trying again after an error")

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        """Once watches are set, one whole rescan finds what changed while not running."""
        folder_ids = [f.id for f in folders_db.list_folders(conn)]
        if folder_ids:
            jobs_db.create_job(conn, folder_ids)
            self._wake()

    def _rescan_if_due(self, conn: sqlite3.Connection) -> None:
        hours = self.settings.rescan_hours
        if hours <= 0 or jobs_db.active_jobs(conn):
            return
        stale = folders_db.folders_scanned_before(conn, utc_ago(hours * 3600))
        if stale:
            jobs_db.create_job(conn, [f.id for f in stale])
            self._wake()

    def _poll_if_near_the_limit(self) -> None:
        """Past the inotify limit notify leaves new sub-folders unwatched without a word,
        so near it every watched folder is polled instead (until the next start)."""
        usage = inotify_watches()
        if usage is None or usage[0] < WATCH_LIMIT_SHARE * usage[1]:
            return
        why = f"{usage[0]} of the {usage[1]} inotify watches in use{_LIMIT_HINT}"
        for source in self._sources.values():
            if not source.polling:
                source.error = why

    # -- gathering changes --------------------------------------------------------------

    def _note(self, source: _Source, changes: Iterable[tuple[int, str]]) -> None:
        """Called by a reader thread with what its watcher reported."""
        paths = [path for _change, path in changes if _worth_scanning(source.root, path)]
        if not paths:
            return
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._first = now
            self._last = now
            self._pending.update(dict.fromkeys(paths, now))

    def _flush(self, conn: sqlite3.Connection, now: float) -> None:
        """Queue the settled changes once the folders are quiet and all has settled (one
        burst, one job), or once the oldest change has waited GATHER_MAX_S (a stream)."""
        with self._lock:
            if not self._pending:
                return
            held = now - self._first >= GATHER_MAX_S
            if now - self._last < QUIET_S and not held:
                return
            ready = [path for path in self._pending if _settled_on_disk(path)]
            if len(ready) < len(self._pending) and not held:
                return  # part of the burst is still being written: wait for it
            for path in ready:
                del self._pending[path]
            self._first = now
        if ready:
            self._queue(conn, ready)

    def _queue(self, conn: sqlite3.Connection, paths: list[str]) -> None:
        roots = {source.root: source.folder_id for source in self._sources.values()}
        owners = (_folder_of(path, roots) for path in paths)
        folder_ids = sorted({folder_id for folder_id in owners if folder_id is not None})
        if folder_ids:
            scope = narrow_scope(paths)
            job = jobs_db.queue_changes(conn, folder_ids, scope)
            log.info("queued %d changed paths as job %d", len(scope), job.id)
            self._wake()

    # -- one watcher per folder ---------------------------------------------------------

    def _any_failed(self) -> bool:
        return any(source.error is not None for source in self._sources.values())

    def _reconcile(self, conn: sqlite3.Connection) -> None:
        """Watch the folders there are now: start new ones, stop removed or failed ones,
        and restart one whose folder went and came back (an unplugged drive)."""
        folders = folders_db.list_folders(conn) if self.settings.watch else []
        wanted = {f.path: f.id for f in folders}
        changed = False
        for root in [r for r in self._failed if r not in wanted]:
            del self._failed[root]
            changed = True
        for root, source in list(self._sources.items()):
            if root in wanted and source.error is None and _identity(root) == source.identity:
                continue
            self._stop_source(root)
            changed = True
            if source.error is not None and source.polling:
                self._give_up(root, source.error)  # tried again after RETRY_S
            elif source.error is not None:
                log.warning("watching %s failed (%s); polling it instead", root, source.error)
                self._degraded[root] = source.error
        for root, folder_id in wanted.items():
            if root not in self._sources:
                changed |= self._start_if_there(conn, root, folder_id)
        if changed or watching.watch_state(conn) is None:
            watching.record_watch_state(conn, self._state())

    def _start_if_there(self, conn: sqlite3.Connection, root: str, folder_id: int) -> bool:
        why, retry_at = self._failed.get(root, ("", 0.0))
        if _identity(root) is None:
            self._failed[root] = (NOT_THERE, 0.0)
            return why != NOT_THERE
        if time.monotonic() < retry_at:
            return False
        self._start_source(root, folder_id)
        if why == NOT_THERE:  # back: one rescan finds what changed while it was away
            jobs_db.create_job(conn, [folder_id])
            self._wake()
        return True

    def _start_source(self, root: str, folder_id: int) -> None:
        self._failed.pop(root, None)
        reason = self._polling_reason(root)
        try:
            notify = self._open(root, polling=reason is not None)
        except (OSError, RuntimeError) as exc:
            if reason is not None:
                self._give_up(root, _why(exc))
                return
            reason = self._degraded[root] = _why(exc)
            log.warning("cannot watch %s (%s); polling it instead", root, reason)
            try:
                notify = self._open(root, polling=True)
            except (OSError, RuntimeError) as again:
                self._give_up(root, _why(again))
                return
        source = _Source(root, folder_id, reason is not None, reason, notify, _identity(root))
        source.thread = threading.Thread(
            target=self._read, args=(source,), name=f"hachi-watch-{folder_id}", daemon=True
        )
        self._sources[root] = source
        source.thread.start()

    def _give_up(self, root: str, why: str) -> None:
        log.warning("cannot watch nor poll %s: %s", root, why)
        self._failed[root] = (why, time.monotonic() + RETRY_S)

    def _polling_reason(self, root: str) -> str | None:
        if self.settings.watch_polling:
            return "HACHI_WATCH_POLLING is on"
        if root in self._degraded:
            return self._degraded[root]
        kind = filesystem_type(root)
        if kind in NETWORK_FILESYSTEMS:
            return f"a network file system ({kind}) sends no events for changes made elsewhere"
        return None

    def _open(self, root: str, polling: bool) -> RustNotify:
        poll_ms = max(1, self.settings.watch_poll_seconds) * 1000
        return RustNotify([root], False, polling, poll_ms, True, True)

    def _read(self, source: _Source) -> None:
        """A reader thread: hand each batch of changes over until told to stop."""
        try:
            while not source.stop.is_set():
                changes = source.notify.watch(DEBOUNCE_MS, STEP_MS, READ_TIMEOUT_MS, source.stop)
                if isinstance(changes, set):
                    self._note(source, changes)
        except Exception as exc:  # noqa: BLE001 - the folder is polled instead
            source.error = _why(exc)
        finally:
            source.notify.close()

    def _stop_source(self, root: str) -> None:
        self._stop_sources([root])

    def _stop_sources(self, roots: list[str]) -> None:
        """Every reader is told at once, then all are waited for until one deadline (a
        reader looks at its event every STEP_MS, so this is quick unless one is stuck)."""
        sources = [self._sources.pop(root) for root in roots]
        for source in sources:
            source.stop.set()
        ends = time.monotonic() + SOURCE_STOP_S
        for source in sources:
            if source.thread is not None:
                source.thread.join(max(0.0, ends - time.monotonic()))

    def _state(self) -> dict[str, Any]:
        folders = [
            _entry(s.root, "polling" if s.polling else "events", s.reason)
            for s in self._sources.values()
        ]
        folders += [_entry(root, "unwatched", why) for root, (why, _r) in self._failed.items()]
        return {
            "pid": os.getpid(),
            "enabled": self.settings.watch,
            "poll_seconds": self.settings.watch_poll_seconds,
            "rescan_hours": self.settings.rescan_hours,
            "folders": sorted(folders, key=lambda f: str(f["path"])),
        }


def watch_status(conn: sqlite3.Connection, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """The watcher's state for `hachi status` and /api/status, and notices for the user."""
    state = watching.live_watch_state(conn)
    if state is None:
        idle = {"enabled": settings.watch, "rescan_hours": settings.rescan_hours}
        return {**idle, "running": False, "folders": []}, []
    notices = []
    for folder in state["folders"]:
        if folder["mode"] == "polling":
            notices.append(
                f"{folder['path']} is polled every {state['poll_seconds']} s instead of "
                f"watched ({folder['reason']}): changes take up to that long to appear"
            )
        elif folder["mode"] == "unwatched":
            notices.append(
                f"{folder['path']} is neither watched nor polled ({folder['reason']}): "
                "changes appear after a rescan"
            )
    return {**state, "running": True}, notices


def _entry(path: str, mode: str, reason: str | None) -> dict[str, Any]:
    return {"path": path, "mode": mode, "reason": reason}


def _worth_scanning(root: str, path: str) -> bool:
    """Whether a reported path may matter to the index: not the folder itself (a root
    that vanished is not a reason to forget it), not below a hidden or temporary name,
    and a photo or a folder (or gone: a deletion or a move away)."""
    if not path.startswith(root + "/"):
        return False
    if any(is_skipped_name(part) for part in path[len(root) + 1 :].split("/")):
        return False
    try:
        st = os.stat(path)
    except OSError:
        return True
    return stat.S_ISDIR(st.st_mode) or is_media_path(Path(path))


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _settled_on_disk(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True  # gone: its removal can be queued now
    return stat.S_ISDIR(st.st_mode) or is_settled(st.st_mtime_ns, time.time_ns())


def _folder_of(path: str, roots: dict[str, int]) -> int | None:
    for root, folder_id in roots.items():
        if path.startswith(root + "/"):
            return folder_id
    return None


_LIMIT_HINT = "; raise the limit: sudo sysctl fs.inotify.max_user_watches=524288"


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if getattr(exc, "errno", None) == errno.EMFILE:
        text += "; raise fs.inotify.max_user_instances (sysctl)"
    elif getattr(exc, "errno", None) == errno.ENOSPC or "limit" in text.lower():
        text += _LIMIT_HINT
    return text
