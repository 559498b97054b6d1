"""Indexing jobs as rows, so progress is visible to every process and survives a crash.

A job is 'queued', 'running', then 'done', 'cancelled' or 'failed'. A running job whose
owner process is gone (its heartbeat stopped) is resumable: the next indexer claims it
and carries on, because the scan itself is idempotent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

from hachi.catalog.clock import utc_now
from hachi.catalog.db import transaction
from hachi.errors import NotFound

HEARTBEAT_STALE_S = 60.0
COUNTERS = ("found", "done", "unchanged", "failed", "removed", "moved")
ACTIVE_STATES = ("queued", "running", "cancelling")
INDEX = "index"  # a scan of whole folders: adding a folder, a rescan, the daily rescan
WATCH = "watch"  # a scan of what a folder watcher saw change
MAX_SCOPE_PATHS = 20_000  # a watch job wider than this scans its folders whole


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    folder_ids: list[int]
    state: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    found: int
    done: int
    unchanged: int
    failed: int
    removed: int
    moved: int
    current: str | None
    error: str | None
    owner_pid: int | None
    heartbeat_at: float | None
    phase: str | None = None
    phase_done: int = 0
    phase_total: int = 0
    paths: list[str] | None = None  # a scoped job scans only these (folders recursively)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("owner_pid")
        data.pop("heartbeat_at")
        paths = data.pop("paths")
        data["scoped_paths"] = None if paths is None else len(paths)
        return data


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["folder_ids"] = json.loads(values["folder_ids"])
    if values.get("paths") is not None:
        values["paths"] = json.loads(values["paths"])
    return Job(**values)


def get_job(conn: sqlite3.Connection, job_id: int) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound(f"no job with id {job_id}")
    return _job(row)


def latest_job(conn: sqlite3.Connection) -> Job | None:
    row = conn.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else _job(row)


def active_jobs(conn: sqlite3.Connection) -> list[Job]:
    marks = ",".join("?" for _ in ACTIVE_STATES)
    rows = conn.execute(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id", ACTIVE_STATES)
    return [_job(r) for r in rows]


def create_job(conn: sqlite3.Connection, folder_ids: list[int], kind: str = INDEX) -> Job:
    """Queue a job, or widen an already queued one: two rescans asked back to back are one.

    A queued or running job (maybe one whose process was killed) that already covers the
    folders is returned as is, so `hachi index` after a crash resumes that job.
    """
    with transaction(conn):
        for row in conn.execute(
            "SELECT id, folder_ids FROM jobs WHERE state IN ('queued', 'running') AND kind = ?",
            (kind,),
        ).fetchall():
            if set(folder_ids) <= set(json.loads(row[1])):
                return get_job(conn, int(row[0]))  # already covered: resume, don't repeat
        queued = conn.execute(
            "SELECT id, folder_ids FROM jobs WHERE state = 'queued' AND kind = ? "
            "ORDER BY id LIMIT 1",
            (kind,),
        ).fetchone()
        if queued is not None:
            merged = sorted(set(json.loads(queued[1])) | set(folder_ids))
            conn.execute(
                "UPDATE jobs SET folder_ids = ? WHERE id = ?", (json.dumps(merged), queued[0])
            )
            job_id = int(queued[0])
        else:
            cur = conn.execute(
                "INSERT INTO jobs (kind, folder_ids, state, created_at) VALUES (?, ?, 'queued', ?)",
                (kind, json.dumps(sorted(set(folder_ids))), utc_now()),
            )
            job_id = int(cur.lastrowid or 0)
    return get_job(conn, job_id)


def queue_changes(conn: sqlite3.Connection, folder_ids: list[int], paths: list[str]) -> Job:
    """Queue a scan of just these paths (what a watcher saw change) under these folders.

    The request joins a queued job (a whole-folder one already covers it; a queued
    watch job widens), never a running one: that may have walked past the paths already.
    """
    with transaction(conn):
        for row in conn.execute(
            "SELECT id, folder_ids FROM jobs WHERE state = 'queued' AND paths IS NULL"
        ).fetchall():
            if set(folder_ids) <= set(json.loads(row[1])):
                return get_job(conn, int(row[0]))
        queued = conn.execute(
            "SELECT id, folder_ids, paths FROM jobs WHERE state = 'queued' AND kind = ? "
            "AND paths IS NOT NULL ORDER BY id LIMIT 1",
            (WATCH,),
        ).fetchone()
        ids = sorted(set(folder_ids) | set(json.loads(queued[1]) if queued else ()))
        wider = sorted(set(paths) | set(json.loads(queued[2]) if queued else ()))
        scope = json.dumps(wider) if len(wider) <= MAX_SCOPE_PATHS else None
        if queued is not None:
            conn.execute(
                "UPDATE jobs SET folder_ids = ?, paths = ? WHERE id = ?",
                (json.dumps(ids), scope, queued[0]),
            )
            job_id = int(queued[0])
        else:
            cur = conn.execute(
                "INSERT INTO jobs (kind, folder_ids, state, created_at, paths) "
                "VALUES (?, ?, 'queued', ?, ?)",
                (WATCH, json.dumps(ids), utc_now(), scope),
            )
            job_id = int(cur.lastrowid or 0)
    return get_job(conn, job_id)


def _owner_alive(job: Job) -> bool:
    if job.owner_pid is None or job.heartbeat_at is None:
        return False
    if time.time() - job.heartbeat_at > HEARTBEAT_STALE_S:
        return False
    try:
        os.kill(job.owner_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_next_job(conn: sqlite3.Connection) -> Job | None:
    """Take the oldest queued job, or a running one whose owner died (resume)."""
    with transaction(conn):
        for row in conn.execute(
            "SELECT * FROM jobs WHERE state IN ('running', 'cancelling', 'queued') ORDER BY id"
        ).fetchall():
            job = _job(row)
            if job.state != "queued" and _owner_alive(job):
                continue
            state = "cancelling" if job.state == "cancelling" else "running"
            conn.execute(
                "UPDATE jobs SET state = ?, owner_pid = ?, heartbeat_at = ?, "
                "started_at = COALESCE(started_at, ?) WHERE id = ?",
                (state, os.getpid(), time.time(), utc_now(), job.id),
            )
            return get_job(conn, job.id)
    return None


def update_progress(
    conn: sqlite3.Connection, job_id: int, current: str | None, **counts: int
) -> None:
    """Set counters (absolute values) and the heartbeat; called by the writer per batch."""
    sets = ["heartbeat_at = ?", "current = ?"]
    params: list[Any] = [time.time(), current]
    for name, value in counts.items():
        if name not in COUNTERS:
            raise ValueError(f"unknown job counter {name}")
        sets.append(f"{name} = ?")
        params.append(value)
    conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*params, job_id))


def update_phase(conn: sqlite3.Connection, job_id: int, phase: str, done: int, total: int) -> None:
    """Progress of a model pass ('clip', 'faces', 'ocr') after the scan phase."""
    conn.execute(
        "UPDATE jobs SET phase = ?, phase_done = ?, phase_total = ?, heartbeat_at = ? WHERE id = ?",
        (phase, done, total, time.time(), job_id),
    )


def request_cancel(conn: sqlite3.Connection, job_id: int) -> Job:
    with transaction(conn):
        job = get_job(conn, job_id)
        if job.state == "queued":
            conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ?",
                (utc_now(), job_id),
            )
        elif job.state == "running":
            conn.execute("UPDATE jobs SET state = 'cancelling' WHERE id = ?", (job_id,))
    return get_job(conn, job_id)


def drop_folder(conn: sqlite3.Connection, folder_id: int) -> None:
    """Take a removed folder out of every unfinished job; call inside the removal's transaction.

    A job left with other folders goes on with those; one left with none ends: a queued
    job is cancelled, a running one is asked to cancel (its writer stops at its next batch).
    """
    marks = ",".join("?" for _ in ACTIVE_STATES)
    active = conn.execute(
        f"SELECT id, folder_ids, state FROM jobs WHERE state IN ({marks})", ACTIVE_STATES
    ).fetchall()
    for job_id, folder_ids, state in active:
        ids = json.loads(folder_ids)
        rest = [i for i in ids if i != folder_id]
        if rest == ids:
            continue
        if rest:
            conn.execute("UPDATE jobs SET folder_ids = ? WHERE id = ?", (json.dumps(rest), job_id))
        elif state == "queued":
            conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ?",
                (utc_now(), job_id),
            )
        else:
            conn.execute("UPDATE jobs SET state = 'cancelling' WHERE id = ?", (job_id,))


def job_state(conn: sqlite3.Connection, job_id: int) -> str:
    row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return "missing" if row is None else str(row[0])


def release_job(conn: sqlite3.Connection, job_id: int) -> None:
    """The process is stopping mid-job: queue the job again, so the next start resumes it
    (files this job already wrote are counted, not redone)."""
    with transaction(conn):
        conn.execute(
            "UPDATE jobs SET state = CASE state WHEN 'running' THEN 'queued' ELSE state END, "
            "current = NULL, owner_pid = NULL WHERE id = ?",
            (job_id,),
        )


def finish_job(conn: sqlite3.Connection, job_id: int, state: str, error: str | None = None) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE jobs SET state = ?, error = ?, finished_at = ?, current = NULL, "
            "owner_pid = NULL WHERE id = ?",
            (state, error, utc_now(), job_id),
        )
