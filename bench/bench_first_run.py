"""First run: time from starting `hachi serve --index FOLDER` on an empty home (no model
installed, nothing chosen) to the first semantic search result, with the CLIP model
fetched by the server itself from a local mirror.

    PYTHONPATH=. .venv/bin/python bench/bench_first_run.py [--photos 200] [--runs 3]

The mirror is a real HTTP server on 127.0.0.1 (tests/model_mirror.py) serving the tiny
shapes CLIP of models/test under the name of Hachi's default model, through a manifest
of its own (HACHI_MODEL_MANIFEST) and HACHI_MODEL_MIRROR, exactly as an offline mirror
is used. The server is the real `hachi serve` as a subprocess; the clock starts just
before it is spawned and stops when /api/search first answers a query with semantic
results. Also reported: when the server answered /api/health, when the download was
over (/api/status names the model installed).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from train_shapes_clip import draw_dataset  # noqa: E402

from hachi.config import DEFAULT_CLIP_MODEL  # noqa: E402
from hachi.ml.download import MIRROR_ENV  # noqa: E402
from tests.model_mirror import FileServer, write_manifest  # noqa: E402

SHAPES = ROOT / "models" / "test" / "shapes-clip"
QUERY = "a red circle"
TIMEOUT_S = 300.0
POLL_S = 0.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_photos(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    images, _labels = draw_dataset(count, seed=11)
    for i, image in enumerate(images):
        image.save(folder / f"img_{i:04d}.jpg", quality=90)


def hachi(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "hachi.cli", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def one_run(base: Path, photos: Path, mirror: FileServer, manifest: Path) -> dict[str, float]:
    home = base / f"home-{time.monotonic_ns()}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HACHI_")}
    env.update(
        PYTHONPATH=str(ROOT),
        HACHI_HOME=str(home),
        HACHI_PORT=str(port),
        HACHI_MODEL_MANIFEST=str(manifest),
        HACHI_AUTO_MODELS="true",
        HACHI_OCR="false",
        HACHI_FACE_BACKEND="none",
        **{MIRROR_ENV: mirror.base + "/mirror"},
    )
    token = hachi(env, "token", "--name", "bench").strip()
    api = f"http://127.0.0.1:{port}/api"
    marks: dict[str, float] = {}
    log = open(base / "serve.log", "ab")  # noqa: SIM115 - closed below
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "hachi.cli", "serve", "--index", str(photos)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        while "semantic" not in marks:
            if time.monotonic() - started > TIMEOUT_S:
                raise SystemExit(f"no semantic result after {TIMEOUT_S} s; see {base}/serve.log")
            if server.poll() is not None:
                raise SystemExit(f"hachi serve exited with {server.returncode}; see serve.log")
            _observe(api, token, marks, started)
            time.sleep(POLL_S)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    return marks


def _observe(api: str, token: str, marks: dict[str, float], started: float) -> None:
    now = lambda: time.monotonic() - started  # noqa: E731
    try:
        if "health" not in marks:
            get(f"{api}/health", token)
            marks["health"] = now()
        status = get(f"{api}/status", token)
        if "model" not in marks and status["models"]["clip"]["installed"]:
            marks["model"] = now()
        query = urllib.parse.urlencode({"q": QUERY, "limit": 10})
        answer = get(f"{api}/search?{query}", token)
        if answer.get("semantic") and answer["results"]:
            marks["semantic"] = now()
    except OSError:
        pass  # not listening yet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200, help="photos in the folder")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hachi-first-run-") as tmp:
        base = Path(tmp)
        photos = base / "photos"
        make_photos(photos, args.photos)
        mirror = FileServer()
        mirror.thread.start()
        os.environ[MIRROR_ENV] = mirror.base + "/mirror"  # write_manifest publishes through it
        manifest = write_manifest(base / "manifest.toml", mirror, SHAPES, DEFAULT_CLIP_MODEL)
        size = sum(
            (SHAPES / f).stat().st_size
            for f in json.loads((SHAPES / "model.json").read_text())["files"]
        )
        runs = [one_run(base, photos, mirror, manifest) for _ in range(args.runs)]
        mirror.httpd.shutdown()
    print(
        f"{args.photos} photos, model {size / 2**20:.1f} MiB from a local mirror, {args.runs} runs"
    )
    for key in ("health", "model", "semantic"):
        values = [r[key] for r in runs if key in r]
        if values:
            each = ", ".join(f"{v:.2f}" for v in values)
            print(f"  {key:9s} median {statistics.median(values):6.2f} s  ({each})")
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
