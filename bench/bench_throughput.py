"""Whole-library throughput of a first `hachi index` with every analysis on, pass by pass.

    .venv-export/bin/python tools/make_vitb32_random.py        # once: the ViT-B-32 model
    PYTHONPATH=. .venv/bin/python bench/bench_throughput.py [--plain 160] [--signs 20] [--faces 1]
        [--baseline /path/to/other/checkout] [--env HACHI_CLIP_IMAGE_INT8=on] [--rounds 1]

The library is 12 MP JPEGs with EXIF in the mix a real one has: mostly photos with neither
text nor a face (``bench_gates``'s generated landscapes), some with signs and captions, and
the labelled face corpus enlarged onto 12 MP canvases (``--faces K``: K copies, each on
other landscapes). ``--plain 0 --signs 0 --faces 5`` is a library of detailed photos of
people, which no gate rules out: closer to what a real library costs than the default
mix, whose generated landscapes are smoother than real scenes. It is written once under
bench/data/throughput/. Each run indexes a fresh home with the real `hachi index` as a
subprocess (random-weight ViT-B-32 float32, which costs what the real one does; dlib faces;
OCR; all defaults otherwise) and samples the child every 50 ms: its CPU time
(/proc/<pid>/stat, every thread, and its own worker processes'), its RSS (plus its
workers'), and which pass runs (the job's phase in the catalog). Reported per pass: wall
seconds, CPU-ms per photo of the library, and how many of the two cores the pass kept
busy; for the whole run photos/s and the peak RSS.

With --baseline the same library is first indexed by another checkout (PYTHONPATH), so the
before and after figures come from one command under the same load; --rounds alternates
them. Figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_gates import FACES, faint_caption, landscape, single_sign  # noqa: E402
from bench_index_memory import MODEL_NAME, MODELS, load_average, status_mb  # noqa: E402

from tests.photo_factory import Shot, exif_for  # noqa: E402

DATA = ROOT / "bench" / "data" / "throughput"
SIZE = (4000, 3000)
HACHI = Path(sys.executable).with_name("hachi")
TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _jpeg(image: Image.Image, seed: int) -> bytes:
    buffer = io.BytesIO()
    shot = Shot(taken=f"20{10 + seed % 15}:0{1 + seed % 9}:1{seed % 9} 10:00:00")
    image.save(buffer, "JPEG", quality=90, exif=exif_for(shot))
    return buffer.getvalue()


def _on_canvas(photo: Path, seed: int) -> Image.Image:
    """A corpus photo enlarged to fill a 12 MP frame's height, on a landscape."""
    with Image.open(photo) as opened:
        face = ImageOps.exif_transpose(opened).convert("RGB")
    scale = SIZE[1] / face.height
    face = face.resize((min(SIZE[0], round(face.width * scale)), SIZE[1]), Image.Resampling.BICUBIC)
    canvas = landscape(300 + seed)
    canvas.paste(face, ((SIZE[0] - face.width) // 2, 0))
    return canvas


def library(plain: int, signs: int, faces: int = 1) -> list[Path]:
    """The bench library's files, made the first time they are asked for."""
    DATA.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, Any] = {}
    for i in range(plain):
        wanted[f"plain_{i:04d}.jpg"] = lambda i=i: landscape(i)
    for i in range(signs):
        if i % 2:
            wanted[f"sign_{i:04d}.jpg"] = lambda i=i: single_sign(
                i % 6, (16, 20, 24, 32, 48)[i % 5], i % 3 > 0
            )
        else:
            wanted[f"caption_{i:04d}.jpg"] = lambda i=i: faint_caption(
                i % 3, (60, 120, 40)[i % 3], 30 + 10 * (i % 3)
            )
    labels = json.loads((FACES / "labels.json").read_text(encoding="utf-8"))
    names = sorted(n for n in labels if n[0] != "_")
    for copy in range(faces):
        suffix = f"_{copy}" if copy else ""
        for i, name in enumerate(names):
            seed = i + 100 * copy
            wanted[f"faces_{Path(name).stem}{suffix}.jpg"] = partial(_on_canvas, FACES / name, seed)
    paths = []
    for seed, (name, make) in enumerate(sorted(wanted.items())):
        path = DATA / name
        if not path.is_file():
            path.write_bytes(_jpeg(make(), seed))
        paths.append(path)
    return paths


def _cpu_seconds(pid: int) -> float | None:
    """CPU time of ``pid``, of its children that ended, and of those still running (the
    faces pass describes faces in a worker process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime, stime, cutime, cstime (fields 14 to 17)
    total = sum(int(v) for v in fields[11:15]) / TICKS
    for kid in _children(pid):
        total += _cpu_seconds(kid) or 0.0
    return total


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return kids


def _children_rss_mb(pid: int) -> int:
    """RSS of ``pid``'s worker processes: the spawned ones only, since a forked child
    (a subprocess before its exec) shares the parent's pages and would count them twice."""
    total = 0
    for kid in _children(pid):
        try:
            command = Path(f"/proc/{kid}/cmdline").read_bytes()
        except OSError:
            continue
        mem = status_mb(kid) if b"multiprocessing" in command else None
        total += (mem["VmRSS"] if mem else 0) + _children_rss_mb(kid)
    return total


def _phase(catalog: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=0.05)
        try:
            row = conn.execute("SELECT phase FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    return str(row[0]) if row[0] else "scan"


def run(code_root: Path, folder: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="hachi-throughput-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HACHI_")}
    env.update(
        HACHI_HOME=str(home),
        HACHI_MODELS_DIR=str(MODELS),
        HACHI_CLIP_MODEL=MODEL_NAME,
        PYTHONPATH=str(code_root),
        **extra_env,
    )
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    rss: dict[str, int] = {}
    peak = 0
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(HACHI), "index", str(folder), "--quiet"], env=env, stdout=subprocess.DEVNULL
    )
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        last_t, last_cpu, name = time.perf_counter(), 0.0, "start"
        while not stop.is_set():
            now, used = time.perf_counter(), _cpu_seconds(child.pid)
            if used is not None:
                wall[name] = wall.get(name, 0.0) + now - last_t
                cpu[name] = cpu.get(name, 0.0) + used - last_cpu
                last_t, last_cpu = now, used
                name = _phase(home / "catalog.db") or "start"
                mem = status_mb(child.pid)
                if mem is not None:
                    # with the worker processes' memory, when there are any
                    kids = _children_rss_mb(child.pid)
                    peak = max(peak, mem["VmHWM"], mem["VmRSS"] + kids)
                    rss[name] = max(rss.get(name, 0), mem["VmRSS"] + kids)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    shutil.rmtree(home, ignore_errors=True)
    return {
        "exit": code,
        "seconds": elapsed,
        "wall": wall,
        "cpu": cpu,
        "rss": rss,
        "peak_mb": peak,
    }


def show(label: str, report: dict[str, Any], photos: int) -> None:
    print(
        f"{label:<8} exit {report['exit']}  {report['seconds']:6.1f} s  "
        f"{photos / report['seconds']:.2f} photos/s  "
        f"CPU {1000 * sum(report['cpu'].values()) / photos:.0f} ms/photo"
        f"  peak RSS {report['peak_mb']} MB  [load {load_average()}]"
    )
    for name, seconds in report["wall"].items():
        used = report["cpu"].get(name, 0.0)
        print(
            f"         {name:<6} {seconds:6.1f} s  {1000 * used / photos:6.1f} CPU-ms/photo"
            f"  cores busy {used / max(seconds, 1e-9):.2f} of {CORES}"
            f"  RSS up to {report['rss'].get(name, 0)} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", type=int, default=160)
    parser.add_argument("--signs", type=int, default=20)
    parser.add_argument(
        "--faces", type=int, default=1, help="copies of the face corpus (on other landscapes)"
    )
    parser.add_argument("--baseline", type=Path, help="another checkout to run first")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for both runs")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not (MODELS / MODEL_NAME / "model.json").is_file():
        sys.exit("no model: run .venv-export/bin/python tools/make_vitb32_random.py first")
    extra = dict(item.split("=", 1) for item in args.env)
    files = library(args.plain, args.signs, args.faces)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for f in files:
            os.link(f, folder / f.name) if f.stat().st_dev == folder.stat().st_dev else shutil.copy(
                f, folder / f.name
            )
        kinds = {
            k: sum(f.name.startswith(k) for f in files)
            for k in ("plain", "sign", "caption", "faces")
        }
        print(f"{len(files)} photos of 12 MP: {kinds}  {extra or ''}")
        for _ in range(args.rounds):
            if args.baseline is not None:
                show("before", run(args.baseline, folder, extra), len(files))
            show("after", run(ROOT, folder, extra), len(files))


if __name__ == "__main__":
    main()
