"""Progress that tells the truth: each phase's rate, and an ETA for every phase left.

"Reading text in photos: 24 of 204 — about 0 s left" with a minute to go came from an
ETA of the scan alone; a new folder read "0 photos · not scanned yet" while its job had
committed all its photos. Unit tests on the estimate, then the API and the CLI.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hachi.catalog import jobs as jobs_db
from hachi.catalog.clock import utc_now
from hachi.catalog.db import connect
from hachi.catalog.jobs import Job
from hachi.cli import main as cli_main
from hachi.indexer.pipeline import Progress
from hachi.indexer.progress import PlannedPass, job_progress
from hachi.indexer.runner import run_next_job
from hachi.library import Library
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import create_token, make_settings, running_app
from tests.test_face_screen import FACES, landscape

NOW = 1_800_000_000.0


def running_job(**fields: Any) -> Job:
    base = Job(
        id=1,
        kind="index",
        folder_ids=[1],
        state="running",
        created_at="2027-01-15T08:00:00.000Z",
        started_at="2027-01-15T08:00:00.000Z",
        finished_at=None,
        found=204,
        done=204,
        unchanged=0,
        failed=0,
        removed=0,
        moved=0,
        current=None,
        error=None,
        owner_pid=None,
        heartbeat_at=None,
    )
    return replace(base, **fields)


def by_task(progress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["task"]: p for p in progress["passes"]}


def test_mid_pass_the_eta_follows_the_pass_rate() -> None:
    job = running_job(phase="ocr", phase_done=24, phase_total=204, phase_started_at=NOW - 60)
    planned = [PlannedPass("clip", True, 0), PlannedPass("ocr", False, 180)]
    progress = job_progress(job, planned, {"scan": 5.0, "clip": 30.0}, NOW)
    ocr = by_task(progress)["ocr"]
    assert ocr["state"] == "running" and ocr["rate"] == pytest.approx(0.4)
    assert ocr["eta_s"] == pytest.approx(180 / 0.4)
    assert progress["rate"] == pytest.approx(0.4)
    assert progress["eta_s"] == pytest.approx(450) and not progress["eta_partial"]
    assert by_task(progress)["scan"]["state"] == "done"
    assert by_task(progress)["clip"]["state"] == "done"


def test_passes_still_to_come_count_in_the_eta() -> None:
    job = running_job(phase="faces", phase_done=100, phase_total=200, phase_started_at=NOW - 50)
    planned = [PlannedPass("faces", False, 100), PlannedPass("ocr", False, 200)]
    progress = job_progress(job, planned, {"ocr": 0.5}, NOW)
    faces, ocr = by_task(progress)["faces"], by_task(progress)["ocr"]
    assert faces["eta_s"] == pytest.approx(50) and ocr["state"] == "pending"
    assert ocr["eta_s"] == pytest.approx(400)
    assert progress["eta_s"] == pytest.approx(450)


def test_a_pass_never_timed_makes_the_eta_a_lower_bound() -> None:
    job = running_job(found=100, done=40, phase=None)
    started = float(int(time.time()) - 20)
    job = replace(job, started_at=_iso(started))
    planned = [PlannedPass("clip", True, 0), PlannedPass("ocr", False, 40)]
    progress = job_progress(job, planned, {}, started + 20)
    scan, ocr = by_task(progress)["scan"], by_task(progress)["ocr"]
    assert scan["rate"] == pytest.approx(2.0) and scan["eta_s"] == pytest.approx(30)
    assert ocr["total"] == 100  # 40 indexed without text yet, and 60 still to scan
    assert ocr["eta_s"] is None and "clip" not in by_task(progress)  # CLIP runs inline
    assert progress["eta_partial"] and progress["eta_s"] == pytest.approx(30)


def test_a_screened_pass_counts_only_the_share_the_scan_leaves_it() -> None:
    """The faces screen in the scan rules most photos out: of 60 photos still to scan, the
    faces pass will see the share of the first 40 it was left (10 of 40), not all 60."""
    job = running_job(found=100, done=40, phase=None)
    started = float(int(time.time()) - 20)
    job = replace(job, started_at=_iso(started))
    planned = [PlannedPass("faces", False, 10, share=10 / 40), PlannedPass("ocr", False, 40)]
    progress = job_progress(job, planned, {"faces": 5.0, "ocr": 2.0}, started + 20)
    faces, ocr = by_task(progress)["faces"], by_task(progress)["ocr"]
    assert faces["total"] == 10 + 15 and faces["eta_s"] == pytest.approx(25 / 5.0)
    assert ocr["total"] == 100


@pytest.mark.slow
def test_the_library_plans_the_faces_pass_from_what_the_screen_left(tmp_path: Path) -> None:
    """With dlib's screen in the scan, the planned faces pass is the photos it was left
    plus that share of the files the running job has still to scan."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(FACES / "obama_1.jpg", photos / "obama_1.jpg")
    for i in range(3):
        landscape(photos / f"field{i}.jpg", i)
    settings = make_settings(tmp_path / "home", face_backend="dlib", auto_models=False)
    settings.ensure_dirs()
    with Library(settings) as library:
        library.add_folder(str(photos))
        library.index_pending(with_models=True)
        conn = connect(settings.catalog_path)
        try:  # as if the face photo's pass were still to come, in a job 4 files into 8
            conn.execute(
                "DELETE FROM analyses WHERE task = 'faces' AND photo_id IN "
                "(SELECT id FROM photos WHERE path LIKE '%obama%')"
            )
            job = jobs_db.create_job(conn, [])
            conn.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, found = 8, done = 4 "
                "WHERE id = ?",
                (utc_now(), job.id),
            )
            conn.commit()
        finally:
            conn.close()
        running = library.get_job(job.id)
        planned = library._planned_passes(running)
        progress = job_progress(running, planned, {"faces": 1.0}, time.time())
    faces = next(p for p in planned if p.task == "faces")
    assert (faces.pending, faces.share, faces.inline) == (1, 0.25, False)
    assert by_task(progress)["faces"]["total"] == 1 + 1  # one of the 4 still to scan


def test_never_zero_seconds_while_work_is_left() -> None:
    fresh = running_job(found=0, done=0, phase=None)
    progress = job_progress(fresh, [], {}, NOW)
    assert progress["eta_s"] is None  # still looking for files
    starting = running_job(phase="ocr", phase_done=0, phase_total=204, phase_started_at=NOW)
    progress = job_progress(starting, [PlannedPass("ocr", False, 204)], {}, NOW)
    assert progress["eta_s"] is None and progress["eta_partial"]


def test_a_finished_job_has_no_eta() -> None:
    progress = job_progress(running_job(state="done"), [], {}, NOW)
    assert progress == {"rate": None, "eta_s": None, "eta_partial": False, "passes": []}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


# -- through the API and the CLI ----------------------------------------------------------


def test_a_folder_being_scanned_shows_its_running_counts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", face_backend="none", auto_models=False)
    settings.ensure_dirs()
    token = create_token(settings)
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(12):
        write_photo(tmp_path / "photos" / f"p{i:02d}.jpg", Shot(seed=i))
    seen: list[dict[str, Any]] = []
    with running_app(settings) as (app, library):
        client = app.test_client()
        added = client.post(
            "/api/folders", json={"path": str(tmp_path / "photos")}, headers=headers
        )
        job_id = added.get_json()["job"]["id"]

        def look(_progress: Progress, _current: str | None) -> None:
            folders = client.get("/api/folders", headers=headers).get_json()["folders"]
            job = client.get("/api/jobs/current", headers=headers).get_json()["job"]
            seen.append({"folder": folders[0], "job": job})

        run_next_job(settings, library.extractor, look, library.models)
    mid = seen[-1]  # the last commit of the scan: every photo stored, the job not over
    assert mid["job"]["state"] == "running" and mid["job"]["done"] == 12
    assert mid["folder"]["photos"] == 12 and mid["folder"]["last_scan_at"] is None
    assert mid["folder"]["indexing"] == {"job_id": job_id, "state": "running", "phase": None}
    with running_app(settings) as (app, _library):
        done = app.test_client().get("/api/folders", headers=headers).get_json()["folders"][0]
    assert done["indexing"] is None and done["last_scan_at"] and done["photos"] == 12


def test_the_api_reports_a_mid_pass_eta(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", face_backend="none", auto_models=False)
    settings.ensure_dirs()
    headers = {"Authorization": f"Bearer {create_token(settings)}"}
    _job_mid_pass(settings.catalog_path)
    with running_app(settings) as (app, _library):
        job = app.test_client().get("/api/jobs/current", headers=headers).get_json()["job"]
    ocr = next(p for p in job["passes"] if p["task"] == "ocr")
    assert ocr["state"] == "running" and 0.3 < ocr["rate"] < 0.45
    assert ocr["eta_s"] == pytest.approx((204 - 24) / ocr["rate"], rel=0.02)
    assert job["eta_s"] >= ocr["eta_s"] > 60


def test_hachi_status_prints_each_pass_rate_and_the_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path / "home", face_backend="none", auto_models=False)
    settings.ensure_dirs()
    Library(settings).close()
    _job_mid_pass(settings.catalog_path)
    monkeypatch.setenv("HACHI_HOME", str(settings.home))
    monkeypatch.setenv("HACHI_FACE_BACKEND", "none")
    monkeypatch.setenv("HACHI_AUTO_MODELS", "0")
    assert cli_main(["status"]) == 0
    out = capsys.readouterr().out
    assert "text in photos: 24 of 204 photos, 0.4" in out and "photos/s, about 7 min" in out
    assert "whole library: about 7 min" in out or "whole library: at least 7 min" in out


def _job_mid_pass(catalog: Path) -> None:
    """A running job, scanned, 24 of 204 photos through OCR after a minute."""
    conn = connect(catalog)
    try:
        job = jobs_db.create_job(conn, [])
        conn.execute(
            "UPDATE jobs SET state = 'running', started_at = ?, found = 204, done = 204, "
            "phase = 'ocr', phase_done = 24, phase_total = 204, phase_started_at = ? "
            "WHERE id = ?",
            (utc_now(), time.time() - 60, job.id),
        )
        conn.commit()
    finally:
        conn.close()
