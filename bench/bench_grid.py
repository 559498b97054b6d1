"""A grid of thumbnails through Caddy + Hachi against Caddy's own file server, in one run.

    PYTHONPATH=. .venv/bin/python bench/bench_grid.py [--photos 200] [--rounds 7]

Indexes --photos generated 1024x768 JPEGs (metadata only: no OCR, faces or CLIP) with the
real `hachi serve` behind the real Caddyfile (tests/browser/stack.py), then loads the
grid's thumbnails as a browser on HTTP/1.1 does: CONNECTIONS persistent connections per
host, every URL once. Compared on the same files, rounds interleaved:

  caddy-files    a second Caddy with a plain `file_server` on HACHI_HOME/thumbs (no auth)
  grid-cookie    the URLs the search API hands out (thumbnail_url), through Caddy, as a
                 browser logged in with the password (session and grid-key cookies)
  grid-bearer    the same URLs with a bearer token (Caddy passes them on to Hachi)
  by-id          /api/photos/<id>/thumbnail, the id URL (a catalog query per thumbnail)
  by-id-304      the id URLs again with If-None-Match, as a revisit revalidates them
  direct-304     the same straight to `hachi serve` (no Caddy): its connections show
                 whether a 304 keeps the connection open (6 a round) or closes it (200)

A cold load sends no validators; a revisit of the id URL revalidates (If-None-Match ->
304), which must keep the connection open; a revisit of thumbnail_url costs no request at
all when it is served `immutable` with a max-age (checked from its headers).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.stack import free_port, get_json, process, running_stack  # noqa: E402
from tests.photo_factory import Shot, write_photo  # noqa: E402

PASSWORD = "bench-password"
CONNECTIONS = 6  # what a browser opens per host on HTTP/1.1
PHOTO_SIZE = (1024, 768)
FILE_CADDYFILE = """{{
\tadmin off
}}
http://127.0.0.1:{port} {{
\troot * {root}
\tfile_server
}}
"""


class Loader:
    """CONNECTIONS keep-alive connections fetching a list of paths; counts what it saw."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = headers
        self.connects = 0
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()

    def _worker(self, paths: list[str], etags: dict[str, str] | None) -> None:
        conn: http.client.HTTPConnection | None = None
        for path in paths:
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                with self._lock:
                    self.connects += 1
            headers = dict(self.headers)
            if etags is not None:
                headers["If-None-Match"] = etags[path]
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            with self._lock:
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def load(self, paths: list[str], etags: dict[str, str] | None = None) -> float:
        """Seconds to fetch every path, split round-robin over the connections."""
        shares = [paths[i::CONNECTIONS] for i in range(CONNECTIONS)]
        threads = [threading.Thread(target=self._worker, args=(s, etags)) for s in shares]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start


def head(base: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def make_photos(folder: Path, count: int) -> None:
    for i in range(count):
        write_photo(folder / f"p{i:04d}.jpg", Shot(size=PHOTO_SIZE, seed=i))


def timed_rounds(rounds: int, loads: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each load once per round, interleaved, so load on the machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in loads}
    for _ in range(rounds):
        for name, load in loads.items():
            times[name].append(load())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hachi-grid-") as tmp:
        home, photos = Path(tmp) / "home", Path(tmp) / "photos"
        make_photos(photos, args.photos)
        env = {"HACHI_OCR": "0", "HACHI_FACE_BACKEND": "none", "HACHI_AUTO_MODELS": "0"}
        with running_stack(home, PASSWORD, [photos], env) as stack:
            run(stack, home, args)


def login_cookies(base: str, password: str) -> str:
    """The Cookie header of a browser that logged in with the password."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)
    body = json.dumps({"password": password})
    conn.request("POST", "/api/login", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    cookies = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or []]
    return "; ".join(cookies)


def run(stack: object, home: Path, args: argparse.Namespace) -> None:
    ui_url, token = stack.ui_url, stack.token  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": login_cookies(ui_url, PASSWORD)}
    found = get_json(f"{ui_url}/api/search?q=sort:date&limit={args.photos}", token)
    grid_paths = [r["thumbnail_url"] for r in found["results"]]
    by_id = [f"/api/photos/{r['id']}/thumbnail" for r in found["results"]]
    with sqlite3.connect(home / "catalog.db") as db:
        hashes = [h for (h,) in db.execute("SELECT content_hash FROM photos")]
    file_paths = [f"/{h[:2]}/{h}.grid.webp" for h in hashes]
    port = free_port()
    caddyfile = home / "files.Caddyfile"
    caddyfile.write_text(FILE_CADDYFILE.format(port=port, root=home / "thumbs"))
    cmd = ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
    files_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "XDG_DATA_HOME": str(home / "c2"), "XDG_CONFIG_HOME": str(home / "c2")}
    with process(cmd, env, home / "files-caddy.log"):
        for _ in range(100):
            try:
                head(files_url, file_paths[0], {})
                break
            except OSError:
                time.sleep(0.1)
        urls = (ui_url, files_url, stack.api_url)  # type: ignore[attr-defined]
        report(urls, (auth, cookie), grid_paths, by_id, file_paths, args.rounds)


def report(
    urls: tuple[str, str, str],
    credentials: tuple[dict[str, str], dict[str, str]],
    grid_paths: list[str],
    by_id: list[str],
    file_paths: list[str],
    rounds: int,
) -> None:
    auth, cookie = credentials
    ui_url, files_url, api_url = urls
    first = head(ui_url, grid_paths[0], cookie)
    # werkzeug's ETags are "<mtime>-<size>-<checksum>", Caddy's one base-36 word
    served_by = "Hachi" if "-" in first.getheader("ETag", "") else "Caddy"
    cache_control = first.getheader("Cache-Control", "")
    immutable = "immutable" in cache_control and "max-age=31536000" in cache_control
    etags = {p: head(ui_url, p, auth).getheader("ETag", "") for p in by_id}
    loaders = {
        "caddy-files": Loader(files_url, {}),
        "grid-cookie": Loader(ui_url, cookie),
        "grid-bearer": Loader(ui_url, auth),
        "by-id": Loader(ui_url, auth),
        "by-id-304": Loader(ui_url, auth),
        "direct-304": Loader(api_url, auth),
    }
    loads: dict[str, Callable[[], float]] = {
        "caddy-files": lambda: loaders["caddy-files"].load(file_paths),
        "grid-cookie": lambda: loaders["grid-cookie"].load(grid_paths),
        "grid-bearer": lambda: loaders["grid-bearer"].load(grid_paths),
        "by-id": lambda: loaders["by-id"].load(by_id),
        "by-id-304": lambda: loaders["by-id-304"].load(by_id, etags),
        "direct-304": lambda: loaders["direct-304"].load(by_id, etags),
    }
    for load in loads.values():
        load()  # warm Caddy, waitress threads and the page cache alike
    for loader in loaders.values():
        loader.connects, loader.statuses = 0, {}
    times = timed_rounds(rounds, loads)
    base = statistics.median(times["caddy-files"])
    print(f"{len(grid_paths)} thumbnails, {CONNECTIONS} connections, {rounds} rounds")
    print(f"load average {load_average()}")
    print(f"thumbnail_url: {grid_paths[0]}")
    print(f"  Cache-Control: {cache_control}; served by {served_by} to a logged-in browser")
    for name, series in times.items():
        median = statistics.median(series)
        loader = loaders[name]
        print(
            f"{name:12s} median {median * 1000:7.1f} ms  min {min(series) * 1000:7.1f} ms  "
            f"x{median / base:5.2f} of caddy-files  connections {loader.connects}  "
            f"statuses {dict(sorted(loader.statuses.items()))}"
        )
    revisit = "0 requests (immutable)" if immutable else f"{len(grid_paths)} revalidations"
    print(f"revisit of the grid: {revisit}")


if __name__ == "__main__":
    main()
