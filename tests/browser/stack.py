"""The real stack the browser tests drive: `hachi serve` (CLI) behind `caddy run` on free ports.

Kept apart from tests/test_browser.py so a benchmark or a person can start the same stack
by hand; nothing here knows about pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CADDYFILE = REPO / "hachi" / "server" / "Caddyfile"
STATIC = REPO / "hachi" / "static"
START_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 120.0
POLL_S = 0.1
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Stack:
    ui_url: str
    api_url: str
    token: str
    home: Path


def hachi(home: Path, *args: str, stdin: str | None = None) -> str:
    """Run the real CLI and return its stdout; a failure raises with its stderr."""
    env = {**os.environ, "HACHI_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "hachi.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"hachi {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.load(r)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited early:\n{log.read_text()[-3000:]}")
        try:
            get_json(url)
            return
        except (OSError, urllib.error.URLError, ValueError):
            time.sleep(POLL_S)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S} s")


def wait_for_jobs(api_url: str, token: str) -> None:
    """Until the job, model passes (faces, OCR) and people clustering included, has ended."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = get_json(f"{api_url}/api/status", token)["job"]
        if job is None or job["state"] in ("done", "failed", "cancelled"):
            return
        time.sleep(POLL_S)
    raise RuntimeError(f"indexing did not finish within {JOB_TIMEOUT_S} s")


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that is always stopped (by its own pid) when the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_stack(
    home: Path,
    password: str | None,
    index: list[Path] | None = None,
    settings_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Hachi with `password` set and `index` folders indexed to the end, behind Caddy.

    `settings_env` adds HACHI_* settings for the server (e.g. HACHI_OCR=0 for speed).
    """
    if password is not None:  # None: a library whose only way in is a login link
        hachi(home, "passwd", "--stdin", stdin=password + "\n")
    token = hachi(home, "token", "--name", "browser-tests").strip()
    api_port, ui_port = free_port(), free_port()
    base_env = {
        **os.environ,
        **(settings_env or {}),
        "HACHI_HOME": str(home),
        "HACHI_PORT": str(api_port),
    }
    serve = [sys.executable, "-m", "hachi.cli", "serve"]
    for folder in index or []:
        serve += ["--index", str(folder)]
    caddy_env = {
        **base_env,
        "HACHI_SITE": f"http://127.0.0.1:{ui_port}",
        "HACHI_STATIC": str(STATIC),
        "HACHI_CADDY_ADMIN": "off",
        "HACHI_THUMBS": str(home / "thumbs"),
        "HACHI_GRID_KEYS": str(home / "grid-keys"),
        "XDG_DATA_HOME": str(home / "caddy-data"),
        "XDG_CONFIG_HOME": str(home / "caddy-config"),
    }
    caddy = ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
    api_url, ui_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    with (
        process(serve, base_env, home / "hachi.log") as server,
        process(caddy, caddy_env, home / "caddy.log") as proxy,
    ):
        wait_until_up(f"{api_url}/api/health", server, home / "hachi.log")
        wait_until_up(f"{ui_url}/api/health", proxy, home / "caddy.log")
        wait_for_jobs(api_url, token)
        yield Stack(ui_url=ui_url, api_url=api_url, token=token, home=home)
