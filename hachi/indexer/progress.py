"""How far an index job has come and how long the rest will take, over all its phases.

A job scans (reading files, CLIP inline when installed), then runs each model pass
(CLIP catch-up, faces, text) over the photos that lack it. Each phase's rate is measured
as it runs (files or photos per second since the phase began); a phase still to come is
timed by the rate it had when it last ran, recorded in the catalog. The job's ETA is the
sum over every phase left, so "about 0 s left" is never said while a pass still waits;
when a phase left has never been timed, ``eta_partial`` says the ETA is a lower bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hachi.catalog.jobs import Job

RUNNING_STATES = ("running", "cancelling")
SCAN = "scan"


@dataclass(frozen=True)
class PlannedPass:
    """A model pass the job runs after its scan, in order."""

    task: str
    inline: bool  # also runs during the scan, so the scan's photos will not need it
    pending: int  # photos in the catalog without this analysis now
    share: float = 1.0  # of the photos still to scan, how many this pass will see (a
    # screen in the scan rules some out: the share the scan has left it so far)


def _since(started_at: str | None, now: float) -> float | None:
    if not started_at:
        return None
    started = datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return max(1e-3, now - started.timestamp())


def _rate(count: int, seconds: float | None, recorded: float | None) -> float | None:
    """Measured when the phase has done something, else what it did last time."""
    if count > 0 and seconds:
        return count / seconds
    return recorded if recorded and recorded > 0 else None


def _phase(task: str, state: str, done: int, total: int, rate: float | None) -> dict[str, Any]:
    left = max(0, total - done)
    eta = None if left and not rate else (left / rate if rate else 0.0)
    return {
        "task": task,
        "state": state,
        "done": done,
        "total": total,
        "rate": None if rate is None else round(rate, 2),
        "eta_s": None if eta is None else round(eta, 1),
    }


def _scan(job: Job, rates: Mapping[str, float], now: float) -> dict[str, Any]:
    processed = job.done + job.failed + job.moved
    total = max(processed, job.found - job.unchanged)
    if job.phase is not None:  # the scan is over
        return _phase(SCAN, "done", processed, total, rates.get(SCAN))
    rate = _rate(processed, _since(job.started_at, now), rates.get(SCAN))
    phase = _phase(SCAN, "running", processed, total, rate)
    if total == 0:
        phase["eta_s"] = None  # still looking for files: nobody knows how many yet
    return phase


def _passes(
    job: Job, planned: list[PlannedPass], scan_left: int, rates: Mapping[str, float], now: float
) -> list[dict[str, Any]]:
    if job.phase is not None and job.phase not in {p.task for p in planned}:
        planned = [PlannedPass(job.phase, False, 0), *planned]  # a model turned off meanwhile
    tasks = [p.task for p in planned]
    current = tasks.index(job.phase) if job.phase in tasks else None
    phases = []
    for i, planned_pass in enumerate(planned):
        task, recorded = planned_pass.task, rates.get(planned_pass.task)
        if current is not None and i < current:
            phases.append(_phase(task, "done", 0, 0, recorded))
        elif current is not None and i == current:
            seconds = None if job.phase_started_at is None else now - job.phase_started_at
            rate = _rate(job.phase_done, seconds, recorded)
            state = "done" if job.phase_done >= job.phase_total else "running"
            phases.append(_phase(task, state, job.phase_done, job.phase_total, rate))
        else:
            to_come = 0 if planned_pass.inline else round(scan_left * planned_pass.share)
            total = planned_pass.pending + to_come
            if total:
                phases.append(_phase(task, "pending", 0, total, recorded))
    return phases


def job_progress(
    job: Job, planned: list[PlannedPass], rates: Mapping[str, float], now: float
) -> dict[str, Any]:
    """``rate`` (of the phase running now), ``eta_s`` (of the whole job), ``eta_partial``
    and ``passes``: each phase with its state, counts, rate and ETA."""
    if job.state not in RUNNING_STATES:
        return {"rate": None, "eta_s": None, "eta_partial": False, "passes": []}
    scan = _scan(job, rates, now)
    scan_left = scan["total"] - scan["done"] if scan["state"] == "running" else 0
    phases = [scan, *_passes(job, planned, scan_left, rates, now)]
    left = [
        p for p in phases if p["state"] != "done" and (p["eta_s"] is None or p["total"] > p["done"])
    ]
    known = [p["eta_s"] for p in left if p["eta_s"] is not None]
    running = next((p for p in phases if p["state"] == "running"), None)
    return {
        "rate": running["rate"] if running else None,
        "eta_s": round(sum(known), 1) if known or not left else None,
        "eta_partial": len(known) < len(left),
        "passes": phases,
    }
