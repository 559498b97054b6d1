"""Memory and speed of a first `hachi index` with every analysis on: CLIP, faces, OCR.

    .venv-export/bin/python tools/make_vitb32_random.py        # once: the ViT-B-32 model
    .venv/bin/python bench/bench_index_memory.py [--photos 24] [--baseline /work/main]

Indexes a fresh home with the real `hachi index` command as a subprocess (the random-weight
ViT-B-32, which costs what the real one does, dlib faces, OCR, all defaults otherwise) over
12 MP JPEGs from bench_index.py plus the face corpus's photos, and reads the child's
/proc/<pid>/status every 20 ms: the peak RSS (VmHWM), anonymous memory, and which pass
ran when (from the catalog's job phase).
With --baseline it first runs the same command on another checkout (PYTHONPATH), so the
before and after figures come from one run, under the same load.

`--towers off auto` runs "after" once per HACHI_CLIP_IMAGE_INT8 mode. For `auto`, a first
job indexes `--check-first` other photos into the same home (the int8 tower's check runs
there and decides at the job's end; its peak RSS and the measured agreement are shown),
then the timed job indexes the photos the other runs index, with the tower it chose. CPU
is the child's user + system time (wait4), per photo of the timed job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_index import generate  # noqa: E402

MODELS = ROOT / "bench" / "data" / "semantic-home" / "models"
MODEL_NAME = "vitb32-random"
FACES = ROOT.parent / "shared" / "corpus" / "faces"
HACHI = Path(sys.executable).with_name("hachi")
BUDGET_MB = 700


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def status_mb(pid: int) -> dict[str, int] | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    try:
        return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "RssAnon", "VmHWM")}
    except KeyError:
        return None


def phase(catalog: Path) -> str:
    try:
        conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=0.05)
        try:
            row = conn.execute("SELECT phase FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return "?"
    return str(row[0]) if row and row[0] else "scan"


def run(
    code_root: Path,
    folder: Path,
    photos: int,
    mode: str | None = None,
    first: Path | None = None,
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="hachi-index-mem-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HACHI_")}
    env.update(
        HACHI_HOME=str(home),
        HACHI_MODELS_DIR=str(MODELS),
        HACHI_CLIP_MODEL=MODEL_NAME,
        PYTHONPATH=str(code_root),
    )
    if mode is not None:
        env["HACHI_CLIP_IMAGE_INT8"] = mode
    check = None
    if first is not None:
        check = index_once(home, env, first, sum(1 for _ in first.iterdir()))
    report = index_once(home, env, folder, photos)
    report["tower"] = tower_choice(home / "catalog.db")
    report["check"] = check
    shutil.rmtree(home, ignore_errors=True)
    return report


def tower_choice(catalog: Path) -> str:
    try:
        conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT tower, photos, p1_cosine, mean_cosine, min_cosine FROM tower_choices"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return "no tower_choices table"
    if row is None:
        return "no decision"
    tower, count, p1, mean, least = row
    return f"{tower} (on {count} photos: p1 cosine {p1:.5f}, mean {mean:.5f}, min {least:.5f})"


def index_once(home: Path, env: dict[str, str], folder: Path, photos: int) -> dict[str, Any]:
    """One `hachi index FOLDER` into ``home``, sampled while it runs."""
    peaks: dict[str, int] = {}
    anon_peak = hwm = 0
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(HACHI), "index", str(folder), "--quiet"], env=env, stdout=subprocess.DEVNULL
    )
    stop = threading.Event()

    def sample() -> None:
        nonlocal anon_peak, hwm
        while not stop.is_set():
            mem = status_mb(child.pid)
            if mem is not None:
                name = phase(home / "catalog.db")
                peaks[name] = max(peaks.get(name, 0), mem["VmRSS"])
                anon_peak = max(anon_peak, mem["RssAnon"])
                hwm = max(hwm, mem["VmHWM"])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return {
        "exit": child.returncode,
        "seconds": elapsed,
        "rate": photos / elapsed,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000 / photos,
        "peak_mb": hwm,  # the last VmHWM read, up to 20 ms before the end
        "anon_peak_mb": anon_peak,
        "by_phase": peaks,
    }


def show(label: str, report: dict[str, Any]) -> None:
    verdict = "PASS" if report["peak_mb"] <= BUDGET_MB else "FAIL"
    phases = ", ".join(f"{k} {v}" for k, v in report["by_phase"].items())
    print(
        f"{label:<8} exit {report['exit']}  {report['seconds']:6.1f} s  "
        f"{report['rate']:.2f} photos/s  {report['cpu_ms']:.0f} CPU-ms/photo  "
        f"peak RSS {report['peak_mb']} MB "
        f"(budget {BUDGET_MB}: {verdict}), anon peak {report['anon_peak_mb']} MB  "
        f"[load {load_average()}]\n         RSS peak by phase (MB): {phases}"
    )
    if report.get("check"):
        check = report["check"]
        print(
            f"         its first job (the tower check): {check['seconds']:.1f} s, "
            f"peak RSS {check['peak_mb']} MB, by phase: "
            + ", ".join(f"{k} {v}" for k, v in check["by_phase"].items())
        )
    if "tower" in report:
        print(f"         image tower: {report['tower']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--baseline", type=Path, help="another checkout to run first")
    parser.add_argument(
        "--towers",
        nargs="+",
        choices=("auto", "on", "off"),
        help="run 'after' once per HACHI_CLIP_IMAGE_INT8 mode (default: once, unset)",
    )
    parser.add_argument(
        "--check-first",
        type=int,
        default=60,
        help="photos the first job of an 'auto' run indexes (its check decides from 50 on)",
    )
    args = parser.parse_args()
    if not (MODELS / MODEL_NAME / "model.json").is_file():
        sys.exit("no model: run .venv-export/bin/python tools/make_vitb32_random.py first")
    files = generate(args.photos + args.check_first)
    files, check_files = files[: args.photos], files[args.photos :]
    faces = sorted(p for p in FACES.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for f in [*files, *faces]:
            shutil.copy(f, folder / f.name)
        count = len(files) + len(faces)
        print(f"{count} photos ({len(files)} x 12 MP JPEG, {len(faces)} with faces)")
        first = Path(tmp) / "first"
        first.mkdir()
        for f in check_files:
            shutil.copy(f, first / f.name)
        if args.baseline is not None:
            show("before", run(args.baseline, folder, count))
        for mode in args.towers or [None]:
            checked = first if mode == "auto" else None
            show(f"after {mode or ''}".strip(), run(ROOT, folder, count, mode, checked))


if __name__ == "__main__":
    main()
