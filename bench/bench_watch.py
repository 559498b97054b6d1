"""Folder watching: latency from a file complete on disk to searchable, and the memory
the watcher costs on a large tree.

    .venv/bin/python bench/bench_watch.py latency [--events 200] [--interval 0.3] [--mode copy]
    .venv/bin/python bench/bench_watch.py memory [--files 100000] [--folders 2000]

latency: a real Library (OCR and faces off, no CLIP model: the cost measured is the
watcher's and the scan's, not the models') serving one folder with its background
indexer and watcher, as `hachi serve` runs them. Photos arrive one every --interval
seconds: `copy` writes each in place (a fresh mtime, so the 2 s settle rule applies, as
for a camera import or a sync client), `move` renames each in from a staging folder on
the same disk (complete at once, its mtime older than the settle time). A file's latency
runs from the moment it is complete (the copy closed, the rename done) to the moment its
row is committed to the catalog, which search reads (checked every 20 ms with one query
for all files in flight, so that checking costs little; the first and last are also
checked through Library.search).

memory: a tree of --files empty files in --folders folders; a child process opens a
library over it and reads its VmRSS before and after starting the folder watcher, once
with file-system events and once polling (the fallback), after the watches are set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hachi.catalog import jobs as jobs_db  # noqa: E402
from hachi.config import Settings  # noqa: E402
from hachi.library import Library  # noqa: E402
from tests.photo_factory import Shot, jpeg_bytes  # noqa: E402


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def settings_for(home: Path, **overrides: Any) -> Settings:
    return Settings(home=home, workers=2, ocr=False, face_backend="none", **overrides)


# -- latency ------------------------------------------------------------------------------


def latency(events: int, interval: float, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hachi-bench-watch-") as tmp:
        base = Path(tmp)
        folder, staging = base / "photos", base / "staging"
        folder.mkdir()
        staging.mkdir()
        photos = [jpeg_bytes(Shot(seed=i, size=(640, 480))) for i in range(events)]
        if mode == "move":
            for i, data in enumerate(photos):
                (staging / f"w{i:04}.jpg").write_bytes(data)
        library = Library(settings_for(base / "home"))
        try:
            library.add_folder(str(folder))
            library.start_background()
            _wait_idle(library)
            complete: dict[str, float] = {}
            found: dict[str, float] = {}
            checker = threading.Thread(target=_check_rows, args=(library, complete, found, events))
            checker.start()
            _arrivals(folder, staging, photos, interval, mode, complete)
            checker.join()
            if len(found) < events:
                raise SystemExit(f"{events - len(found)} files never became searchable")
            assert library.search("file:w0000.jpg")["results"], "not found through search"
            last = f"file:w{events - 1:04}.jpg"
            assert library.search(last)["results"], "not found through search"
            jobs = _watch_jobs(library)
        finally:
            library.close()
    latencies = sorted(found[p] - complete[p] for p in complete)
    return {
        "events": events,
        "interval_s": interval,
        "mode": mode,
        "p50_s": round(statistics.median(latencies), 2),
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "max_s": round(latencies[-1], 2),
        "watch_jobs": jobs,
        "load": load_average(),
    }


def _wait_idle(library: Library) -> None:
    time.sleep(1.0)
    while jobs_db.active_jobs(library.conn) or not library.status()["watch"]["running"]:
        time.sleep(0.1)


def _arrivals(
    folder: Path,
    staging: Path,
    photos: list[bytes],
    interval: float,
    mode: str,
    complete: dict[str, float],
) -> None:
    start = time.monotonic()
    for i, data in enumerate(photos):
        target = folder / f"w{i:04}.jpg"
        if mode == "move":
            os.rename(staging / target.name, target)
        else:
            with open(target, "wb") as out:
                out.write(data)
        complete[str(target)] = time.monotonic()
        time.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))


def _check_rows(
    library: Library, complete: dict[str, float], found: dict[str, float], events: int
) -> None:
    """Every 20 ms, one query for all files complete and not yet seen in the catalog."""
    conn = sqlite3.connect(library.settings.catalog_path)
    deadline = time.monotonic() + events * 2 + 120
    try:
        while len(found) < events and time.monotonic() < deadline:
            waiting = [p for p in list(complete) if p not in found]
            if waiting:
                marks = ",".join("?" for _ in waiting)
                rows = conn.execute(f"SELECT path FROM photos WHERE path IN ({marks})", waiting)
                now = time.monotonic()
                found.update((row[0], now) for row in rows)
            time.sleep(0.02)
    finally:
        conn.close()


def _watch_jobs(library: Library) -> int:
    rows = library.conn.execute("SELECT COUNT(*) FROM jobs WHERE kind = ?", (jobs_db.WATCH,))
    return int(rows.fetchone()[0])


# -- memory -------------------------------------------------------------------------------


def make_tree(root: Path, files: int, folders: int) -> None:
    per = files // folders
    for d in range(folders):
        sub = root / f"{d // 100:02}" / f"roll{d:04}"
        sub.mkdir(parents=True)
        for f in range(per):
            os.close(os.open(sub / f"IMG_{f:04}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))


def memory_child(tree: str, home: str, polling: bool) -> dict[str, Any]:
    """In a fresh process: RSS of an open library, then with its folder watched."""
    from hachi.indexer.watch import FolderWatcher

    settings = settings_for(Path(home), watch_polling=polling, rescan_hours=0)
    library = Library(settings)
    library.add_folder(tree)
    _ = library.status()
    before = rss_mb()
    watcher = FolderWatcher(settings, lambda: None)
    start = time.monotonic()
    watcher.start()
    while not library.status()["watch"]["folders"]:
        time.sleep(0.05)
    [watched] = library.status()["watch"]["folders"]
    ready_s = time.monotonic() - start
    time.sleep(3.0)
    after = rss_mb()
    threads = [t.name for t in threading.enumerate() if t.name.startswith("hachi-watch")]
    watcher.stop()
    library.close()
    return {
        "mode": watched["mode"],
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "cost_mb": round(after - before, 1),
        "ready_s": round(ready_s, 2),
        "threads": threads,
    }


def memory(files: int, folders: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="hachi-bench-tree-") as tmp:
        tree = Path(tmp) / "tree"
        start = time.monotonic()
        make_tree(tree, files, folders)
        made = time.monotonic() - start
        for polling in (False, True):
            home = Path(tmp) / f"home-{polling}"
            args = [sys.executable, __file__, "memory-child", str(tree), str(home)]
            out = subprocess.run(
                [*args, *(["--polling"] if polling else [])],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out)
            result.update(files=files, folders=folders, tree_made_s=round(made, 1))
            result["load"] = load_average()
            results.append(result)
            shutil.rmtree(home)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--events", type=int, default=200)
    lat.add_argument("--interval", type=float, default=0.3)
    lat.add_argument("--mode", choices=("copy", "move"), default="copy")
    mem = sub.add_parser("memory")
    mem.add_argument("--files", type=int, default=100_000)
    mem.add_argument("--folders", type=int, default=2_000)
    child = sub.add_parser("memory-child")
    child.add_argument("tree")
    child.add_argument("home")
    child.add_argument("--polling", action="store_true")
    args = parser.parse_args()
    if args.what == "latency":
        print(json.dumps(latency(args.events, args.interval, args.mode)))
    elif args.what == "memory":
        for result in memory(args.files, args.folders):
            print(json.dumps(result))
    else:
        print(json.dumps(memory_child(args.tree, args.home, args.polling)))


if __name__ == "__main__":
    main()
