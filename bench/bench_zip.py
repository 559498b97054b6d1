"""Peak memory of `hachi serve` while it streams a zip of 20,000 photos.

    PYTHONPATH=. .venv/bin/python bench/bench_zip.py [--photos 20000] [--kb 64]

Makes ``--distinct`` noise JPEGs of about ``--kb`` KiB and ``--photos`` hard links to them
(named ``IMG_0000.jpg``... in 20 folders, so names clash and are made unique in the zip),
indexes them with `hachi index` (metadata only), starts the real server as a subprocess,
and downloads ``POST /api/selection/download {"query": ""}`` (every photo) over HTTP,
reading it as it comes and keeping only the last MiB (to read the zip's end records: the
entry count). Meanwhile the server's /proc/<pid>/status is sampled every 50 ms.

Reported: the server's RSS before (after a search, the baseline of the same run), its
highest sampled RSS during the download, VmHWM, the zip's size and the entry count. A
server that held the selection (or the zip) in memory would grow by the zip's size.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server_memory import (  # noqa: E402
    HACHI,
    Server,
    load_average,
    memory_mb,
)

FOLDERS = 20
TAIL = 1024 * 1024


def make_photos(folder: Path, count: int, distinct: int, kb: int) -> None:
    rng = np.random.default_rng(7)
    sources = []
    side = max(64, int((kb * 1024 / 1.5) ** 0.5))  # noise JPEG at q95: ~1.5 bytes a pixel
    for i in range(distinct):
        pixels = rng.integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
        path = folder / "sources" / f"source_{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=95)
        sources.append(path)
    per_folder = -(-count // FOLDERS)
    for i in range(count):
        target = folder / "photos" / f"f{i // per_folder:02d}" / f"IMG_{i % 1000:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(sources[i % distinct], target)


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HACHI_")}
    env.update(
        HACHI_HOME=str(home), HACHI_OCR="false", HACHI_FACE_BACKEND="none",
        HACHI_AUTO_MODELS="false",
    )  # fmt: skip
    return env


class ZipServer(Server):
    """The server of bench_server_memory, with this bench's environment."""

    def __init__(self, home: Path) -> None:
        import bench_server_memory

        bench_server_memory.environment = environment  # type: ignore[assignment]
        super().__init__(home)


def entry_count(tail: bytes) -> int:
    """Entries in the zip, from its (zip64) end of central directory record."""
    at = tail.rfind(b"PK\x06\x06")
    if at >= 0:
        return int(struct.unpack("<Q", tail[at + 32 : at + 40])[0])
    at = tail.rfind(b"PK\x05\x06")
    return int(struct.unpack("<H", tail[at + 10 : at + 12])[0])


def download(server: Server) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    body = json.dumps({"query": ""})
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request("POST", "/api/selection/download", body, headers)
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"download failed: {response.status} {response.read()[:500]!r}")
    size, tail = 0, b""
    while chunk := response.read(256 * 1024):
        size += len(chunk)
        tail = (tail + chunk)[-TAIL:]
    conn.close()
    return size, tail, time.perf_counter() - started


def sample(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], memory_mb(pid)["VmRSS"])
        time.sleep(0.05)


def run(home: Path) -> None:
    server = ZipServer(home)
    try:
        time.sleep(2)
        photos = server.get("/api/status")["photos"]
        server.get("/api/search", q="", limit=500)
        before = memory_mb(server.process.pid)
        stop, peak = threading.Event(), [before["VmRSS"]]
        watcher = threading.Thread(target=sample, args=(server.process.pid, stop, peak))
        watcher.start()
        size, tail, seconds = download(server)
        stop.set()
        watcher.join()
        after = memory_mb(server.process.pid)
    finally:
        server.stop()
    print(f"photos in library: {photos}; load {load_average()}")
    print(
        f"zip: {size / 2**20:.1f} MiB, {entry_count(tail)} entries, {seconds:.1f} s "
        f"({size / 2**20 / seconds:.0f} MiB/s)"
    )
    print(f"server RSS before (after a search): {before['VmRSS']} MB")
    print(
        f"server RSS highest during the download: {peak[0]} MB "
        f"(+{peak[0] - before['VmRSS']} MB; the zip is {size / 2**20:.0f} MiB)"
    )
    print(f"server RSS after: {after['VmRSS']} MB; VmHWM (lifetime peak): {after['VmHWM']} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--kb", type=int, default=64, help="size of each photo, about")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hachi-zip-"))
    try:
        home = work / "home"
        make_photos(work, args.photos, args.distinct, args.kb)
        started = time.perf_counter()
        subprocess.run(
            [str(HACHI), "index", "--quiet", str(work / "photos")],
            env=environment(home), check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"indexed {args.photos} photos in {time.perf_counter() - started:.0f} s")
        run(home)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
