"""SIGKILL `hachi index` at random instants; the index must stay consistent and resume."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.photo_factory import Shot, write_photo

PHOTOS = 300
KILLS = 5


def _hachi(home: Path, *args: str, quiet: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HACHI_HOME": str(home), "HACHI_WORKERS": "2"}
    pipe = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "hachi.cli", *args], env=env, stdout=pipe, stderr=pipe
    )


def _make_library(folder: Path) -> None:
    rng = random.Random(7)
    for i in range(PHOTOS):
        shot = Shot(
            taken=f"{rng.randint(1990, 2025)}:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d}"
            " 10:00:00",
            make=rng.choice(["Canon", "NIKON CORPORATION", "SONY"]),
            model=f"M{i % 7}",
            lat=rng.uniform(-60, 70),
            lon=rng.uniform(-180, 180),
            size=(160, 120),
            seed=i,
        )
        write_photo(folder / f"d{i % 5}" / f"img_{i:04d}.jpg", shot)


@pytest.mark.slow
def test_sigkill_during_indexing_leaves_a_consistent_resumable_index(tmp_path: Path) -> None:
    folder, home = tmp_path / "photos", tmp_path / "home"
    _make_library(folder)
    rng = random.Random(int(os.environ.get("HACHI_KILL_SEED", "1234")))
    killed = 0
    for _ in range(KILLS):
        proc = _hachi(home, "index", str(folder), "--quiet", quiet=True)
        time.sleep(rng.uniform(0.4, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        _check_consistent(home)
    assert killed >= 2, "the library indexed too fast to be interrupted; raise PHOTOS"

    final = _hachi(home, "index", str(folder), "--quiet")
    _out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    _check_consistent(home)
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == PHOTOS
        assert conn.execute("SELECT COUNT(*) FROM failed_files").fetchone()[0] == 0
        jobs = conn.execute("SELECT state, done, failed FROM jobs ORDER BY id").fetchall()
    assert jobs[0] == ("done", PHOTOS, 0), f"the first job resumed to the end: {jobs}"
    assert all(state == "done" for state, *_ in jobs)

    search = _hachi(home, "search", "--json")
    out, err = search.communicate(timeout=60)
    assert json.loads(out)["total"] == PHOTOS, err.decode()


def _check_consistent(home: Path) -> None:
    if not (home / "catalog.db").exists():
        return
    conn = sqlite3.connect(home / "catalog.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        photos = conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
        distinct = conn.execute("SELECT COUNT(DISTINCT content_hash) FROM photos").fetchone()[0]
        assert photos == distinct, "no photo is indexed twice"
        fts = conn.execute("SELECT COUNT(*) FROM photos_fts").fetchone()[0]
        assert fts == photos, "every photo has exactly one full-text row"
        orphans = conn.execute(
            "SELECT COUNT(*) FROM photos_fts WHERE rowid NOT IN (SELECT id FROM photos)"
        ).fetchone()[0]
        assert orphans == 0
        for (digest,) in conn.execute("SELECT content_hash FROM photos"):
            assert (home / "thumbs" / digest[:2] / f"{digest}.grid.webp").is_file()
    finally:
        conn.close()
