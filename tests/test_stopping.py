"""hachi.stopping: every part is asked at once and waited for until one deadline, and a
part that cannot stop does not hold the stop past it. Real parts: the background indexer
on a real catalog, real processes behind hachi's Caddy wrapper, a real IVF build."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from hachi.catalog.db import connect
from hachi.indexer.duplicates import catch_up, fill_fingerprints
from hachi.indexer.extract import Extractor
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.runner import BackgroundIndexer
from hachi.indexer.stage_runner import in_order
from hachi.library import Library
from hachi.server.caddy import Caddy
from hachi.stopping import Part, stop_together
from hachi.vectors import ivf
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import make_settings

# Bounds, not measurements: a stop must end near its deadline, even on a loaded host.
SLACK_S = 5.0

# A process that takes TERM as a request: notes when it came, leaves a moment later,
# notes when it left. IGNORE never leaves on TERM.
LEAVES_SLOWLY = """
import signal, sys, time
log = open(sys.argv[1], "a")
def leave(*_):
    log.write(f"term {time.time()}\\n"); log.flush()
    time.sleep(1.0)
    log.write(f"exit {time.time()}\\n"); log.flush()
    sys.exit(0)
signal.signal(signal.SIGTERM, leave)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""
IGNORES_TERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
"""


def _process(code: str, *args: str) -> Caddy:
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    assert process.stdout is not None
    with process.stdout:
        assert process.stdout.readline() == b"ready\n"
    return Caddy(process, [])


def test_every_part_is_asked_before_any_is_waited_for(tmp_path: Path) -> None:
    """Three parts that each take a second to leave: all three heard the request before
    the first one left, so their times overlap instead of adding up."""
    logs = [tmp_path / f"part{i}.log" for i in range(3)]
    parts = [_process(LEAVES_SLOWLY, str(log)) for log in logs]
    report = stop_together([Part.of(f"part {i}", p) for i, p in enumerate(parts)], 30.0)
    assert report.clean and sorted(report.took) == ["part 0", "part 1", "part 2"]
    events = [dict(line.split() for line in log.read_text().splitlines()) for log in logs]
    assert max(float(e["term"]) for e in events) < min(float(e["exit"]) for e in events)


def test_a_process_that_ignores_the_stop_is_named_then_killed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stubborn = _process(IGNORES_TERM)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="hachi.stopping"):
            report = stop_together([Part.of("caddy", stubborn)], 0.5)
        assert time.monotonic() - started < 0.5 + SLACK_S
        assert report.overran == ("caddy",) and not report.clean
        assert any(
            r.levelno == logging.WARNING and "caddy did not stop" in r.getMessage()
            for r in caplog.records
        )
        assert stubborn.process.poll() is None, "still running: TERM was ignored"
    finally:
        stubborn.stop(0.1)  # what `hachi serve` does last: Caddy is never left running
    assert stubborn.process.poll() == -9


def _folder(root: Path, count: int) -> Path:
    for i in range(count):
        write_photo(root / f"img_{i:03d}.jpg", Shot(size=(96, 72), seed=i))
    return root


def test_an_indexer_stuck_on_the_catalog_does_not_hold_the_stop(tmp_path: Path) -> None:
    """The indexer cannot look at its stop while SQLite waits for another writer (up to
    its 30 s busy timeout): the stop ends at the deadline anyway, and once the writer is
    gone the indexer leaves its job queued, to resume at the next start."""
    settings = make_settings(tmp_path / "home")
    with Library(settings) as library:
        _added, job = library.add_folder(str(_folder(tmp_path / "photos", 20)))
    blocker = sqlite3.connect(settings.catalog_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the catalog
    indexer = BackgroundIndexer(settings, Extractor(settings))
    indexer.start()
    try:
        time.sleep(0.3)  # the indexer reaches the catalog and waits on the lock
        started = time.monotonic()
        report = stop_together([Part.of("indexer", indexer)], 1.0)
        assert time.monotonic() - started < 1.0 + SLACK_S
        assert report.overran == ("indexer",)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert indexer.wait_stopped(60.0), "with the catalog free it leaves"
    with closing(connect(settings.catalog_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        state = conn.execute("SELECT state FROM jobs WHERE id = ?", (job.id,)).fetchone()[0]
    assert state == "queued", "left to resume, neither done nor failed"


def test_a_duplicates_catch_up_leaves_off_and_resumes(tmp_path: Path) -> None:
    """Stopped mid-way, the catch-up keeps the fingerprints it computed, writes no groups,
    and the next run finishes the rest."""
    settings = make_settings(tmp_path / "home")
    with Library(settings) as library:
        library.add_folder(str(_folder(tmp_path / "photos", 12)))
        library.index_pending(with_models=False)
    with closing(connect(settings.catalog_path)) as conn:
        conn.execute("UPDATE photos SET phash = NULL, chroma = NULL, grouped_hash = NULL")
        conn.commit()
        stopping = threading.Event()
        stopping.set()
        assert fill_fingerprints(conn, settings, FolderRules(), stopping) == 1
        assert catch_up(conn, settings, stopping=stopping) == 0, "no groups written"
        counts = "SELECT COUNT(phash), COUNT(*) FROM photos"
        assert tuple(conn.execute(counts).fetchone()) == (2, 12), "one photo a stopped run"
        assert catch_up(conn, settings) == 12
        assert tuple(conn.execute(counts).fetchone()) == (12, 12)


def test_an_ivf_build_leaves_off_and_leaves_nothing(tmp_path: Path) -> None:
    f16_path = tmp_path / "clip.f16"
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((2000, 16)).astype(np.float32)
    f16 = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16)
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(ivf.BuildStopped):
        ivf.build(f16_path, f16, stopping=stopping)
    assert os.listdir(tmp_path) == []
    assert ivf.build(f16_path, f16, stopping=threading.Event()).exists()


def test_leaving_in_order_early_drops_the_work_not_begun() -> None:
    """A stopped job closes its reader: the pool's shutdown then waits for the files in
    hand only, not for the whole window queued behind them."""
    began: list[int] = []
    release = threading.Event()

    def work(item: int) -> int:
        began.append(item)
        if item > 0:
            release.wait(30)  # the items in hand when the reader is closed
        return item

    with ThreadPoolExecutor(2) as pool:
        reader = in_order(pool, work, range(100), window=40)
        assert next(reader) == 0
        # both threads in hand (items 1 and 2) before the reader closes: closing while a
        # thread is between items let it drop item 2 too, which made the count racy
        in_hand = time.monotonic() + 10
        while len(began) < 3 and time.monotonic() < in_hand:
            time.sleep(0.001)
        reader.close()
        release.set()
    assert sorted(began) == [0, 1, 2], "only the two items in hand ran on"
