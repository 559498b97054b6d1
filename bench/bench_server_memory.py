"""Memory of a running `hachi serve` with a ViT-B-32 installed: after startup and after
text queries (text tower loaded, image tower not). Budget: 350 MB anonymous memory
once idle (file-backed pages of the vector maps are the page cache, dropped at will).

    .venv-export/bin/python tools/make_vitb32_random.py        # once: the ViT-B-32 model
    .venv/bin/python bench/bench_server_memory.py [--home DIR] [--queries 20] [--baseline CHECKOUT]

Starts the real server as a subprocess on a free port (the `hachi` command of this venv,
default settings apart from the model), authenticates with a token made by `hachi token`,
and reads /proc/<pid>/status: VmRSS (split into anonymous and file-backed pages, since
the vector file is a memory map whose pages the kernel may drop at will) and VmHWM, the
peak. Runs once on an empty library and once on each --home given (e.g. the catalogs of
bench_semantic_search.py), where a query also scores that many vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
MODELS = DATA / "semantic-home" / "models"
MODEL_NAME = "vitb32-random"
HACHI = Path(sys.executable).with_name("hachi")
BUDGET_MB = 350  # anonymous memory of an idle server after queries (issue 11)
START_TIMEOUT_S = 120
FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_mb(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(status[key].split()[0]) // 1024 for key in FIELDS}


CODE = ROOT  # the checkout the server runs (--baseline runs another one first)


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HACHI_")}
    env["PYTHONPATH"] = str(CODE)
    env.update(HACHI_HOME=str(home), HACHI_MODELS_DIR=str(MODELS), HACHI_CLIP_MODEL=MODEL_NAME)
    return env


def make_token(home: Path) -> str:
    out = subprocess.run(
        [str(HACHI), "token", "--name", "bench"],
        env=environment(home),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


class Server:
    """One `hachi serve` subprocess; stopped (SIGINT, then SIGKILL) by its own pid."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.token = make_token(home)
        self.process = subprocess.Popen(
            [str(HACHI), "serve", "--port", str(self.port)],
            env=environment(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"hachi serve exited: {self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                self.get("/api/health")
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("hachi serve did not answer in time")

    def get(self, path: str, **params: Any) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}{query}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure(home: Path, queries: int) -> dict[str, Any]:
    server = Server(home)
    try:
        time.sleep(2)  # let the background indexer thread settle
        report: dict[str, Any] = {"after startup": memory_mb(server.process.pid)}
        status = server.get("/api/status")
        report["photos"] = status.get("photos")
        report["features"] = status.get("features")
        first = server.get("/api/search", q="a dog running on the beach")
        report["after 1 text query"] = memory_mb(server.process.pid)
        for i in range(queries - 1):
            server.get("/api/search", q=f"a red bicycle in the snow number {i}")
        report[f"after {queries} text queries"] = memory_mb(server.process.pid)
        for place in ("Paris", "Kyoto", "Lagos"):  # the forward geocoder loads
            server.get("/api/search", q=f"near:{place},20km")
        report["after 3 near: queries"] = memory_mb(server.process.pid)
        time.sleep(4)  # idle: what the server keeps between searches
        report["idle 4 s later"] = memory_mb(server.process.pid)
        report["semantic"] = first.get("semantic")
        report["model"] = first.get("model")
    finally:
        server.stop()
    return report


def show(label: str, report: dict[str, Any]) -> None:
    print(
        f"\n== {label}: {report['photos']} photos, semantic={report['semantic']} "
        f"({report['model']}), features {report['features']}  [load {load_average()}]"
    )
    for key, value in report.items():
        if isinstance(value, dict) and "VmRSS" in value:
            anon_ok = "PASS" if value["RssAnon"] <= BUDGET_MB else "FAIL"
            print(
                f"  {key:<24} RSS {value['VmRSS']:5d} MB (anon {value['RssAnon']:5d}, "
                f"file {value['RssFile']:5d}), peak {value['VmHWM']:5d} MB  "
                f"anon budget {BUDGET_MB} MB: {anon_ok}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, action="append", default=[])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured first")
    args = parser.parse_args()
    global CODE
    checkouts = ([args.baseline.resolve()] if args.baseline else []) + [ROOT]
    if not (MODELS / MODEL_NAME / "model.json").is_file():
        sys.exit("no model: run .venv-export/bin/python tools/make_vitb32_random.py first")
    print(f"server: {HACHI} serve; model {MODEL_NAME} from {MODELS}")
    for CODE in checkouts:
        print(f"\n#### code: {CODE}")
        empty = Path(tempfile.mkdtemp(prefix="hachi-mem-"))
        try:
            show("empty library", measure(empty, args.queries))
        finally:
            shutil.rmtree(empty, ignore_errors=True)
        for home in args.home:
            show(str(home), measure(home.resolve(), args.queries))


if __name__ == "__main__":
    main()
