"""`hachi serve` as a process: signals, one server per library, refusals before any
announcement, Caddy stopped with it and runnable by a normal user. Real processes, real
ports, real Caddy where installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hachi.catalog import duplicates as dups_db
from hachi.library import Library
from hachi.stopping import STOP_DEADLINE_S
from tests.photo_factory import Shot, write_photo
from tests.ports import free_port, port_is_free
from tests.server_fixtures import make_settings

REPO = Path(__file__).resolve().parents[1]
READY_LINE = "Log in with this one-time link"
START_TIMEOUT_S = 60.0
NOBODY = 65534
needs_caddy = pytest.mark.skipif(shutil.which("caddy") is None, reason="Caddy is not installed")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]


def start(
    home: Path, *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> Served:
    logs = Path(tempfile.mkdtemp(prefix="hachi-serve-log-"))
    out, err = logs / "out", logs / "err"
    full_env = {**os.environ, "HACHI_HOME": str(home), "HACHI_WORKERS": "2", **(env or {})}
    full_env["PYTHONPATH"] = str(REPO)
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "hachi.cli", "serve", *args],
            env=full_env,
            stdout=stdout,
            stderr=stderr,
            cwd=logs,
        )
    return Served(process, out, err)


def wait_ready(served: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while READY_LINE not in served.stdout():
        assert served.process.poll() is None, served.stderr()
        assert time.monotonic() < deadline, "hachi serve did not start"
        time.sleep(0.1)


@contextmanager
def serving(home: Path, *args: str, **kwargs: object) -> Iterator[Served]:
    served = start(home, *args, **kwargs)  # type: ignore[arg-type]
    try:
        wait_ready(served)
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(10)


def stop(served: Served, number: int = signal.SIGTERM) -> int:
    served.process.send_signal(number)
    return served.process.wait(30)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_stops_serve_cleanly(tmp_path: Path, number: int) -> None:
    port = free_port()
    with serving(tmp_path / "home", "--port", str(port)) as served:
        assert not port_is_free(port)
        assert stop(served, number) == 0, served.stderr()
    assert "Traceback" not in served.stderr()
    assert port_is_free(port)
    with closing(sqlite3.connect(tmp_path / "home" / "catalog.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_login_link_mints_a_link_the_running_server_honours(tmp_path: Path) -> None:
    """`hachi login-link` beside a running `hachi serve`: its address, a working link."""
    home, port = tmp_path / "home", free_port()
    env = {**os.environ, "HACHI_HOME": str(home), "PYTHONPATH": str(REPO)}
    with serving(home, "--port", str(port)) as served:
        printed = subprocess.run(
            [sys.executable, "-m", "hachi.cli", "login-link"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        assert printed.startswith(f"http://127.0.0.1:{port}/api/login/link?token=")

        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(Stay)
        with pytest.raises(urllib.error.HTTPError) as first:
            opener.open(printed, timeout=10)
        first.value.close()
        assert first.value.code == 303 and first.value.headers["Location"] == "/"
        with pytest.raises(urllib.error.HTTPError) as again:
            opener.open(printed, timeout=10)
        again.value.close()
        assert again.value.headers["Location"] == "/login?link=spent"
        assert stop(served) == 0
    assert not (home / "server-url").exists(), "forgotten when the server stops"


def test_a_second_serve_on_the_same_library_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serving(home, "--port", str(free_port())) as first:
        second = start(home, "--port", str(free_port()))
        assert second.process.wait(30) == 2
        assert f"another `hachi serve` (process {first.process.pid}) is already serving" in (
            second.stderr()
        )
        assert second.stdout() == "", "nothing is announced"
        assert stop(first) == 0
    again = start(home, "--port", str(free_port()))  # the lock went with the process
    wait_ready(again)
    assert stop(again) == 0


def test_a_busy_port_is_refused_before_anything_is_announced(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = start(tmp_path / "home", "--port", str(port))
        assert served.process.wait(30) == 1
    assert f"hachi: cannot listen on 127.0.0.1:{port}: Address already in use" in served.stderr()
    assert "--port" in served.stderr(), "it says how to choose another"
    assert served.stdout() == ""


def test_a_lan_host_is_refused_before_anything_is_announced(tmp_path: Path) -> None:
    served = start(tmp_path / "home", env={"HACHI_HOST": "0.0.0.0"})
    assert served.process.wait(30) == 1
    assert "refusing to listen on '0.0.0.0'" in served.stderr()
    assert served.stdout() == "", "no 'serving at http://0.0.0.0' and no login link"


@needs_caddy
def test_sigterm_stops_caddy_and_frees_its_port(tmp_path: Path) -> None:
    ui_port = free_port()
    with serving(
        tmp_path / "home", "--caddy", "--port", str(free_port()), "--ui-port", str(ui_port)
    ) as served:
        (caddy,) = served.children()
        assert "caddy" in Path(f"/proc/{caddy}/cmdline").read_text()
        assert stop(served) == 0, served.stderr()
    assert gone(caddy), "Caddy is not left running"
    assert port_is_free(ui_port)


@needs_caddy
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_caddy_does_not_outlive_a_killed_hachi(tmp_path: Path) -> None:
    ui_port = free_port()
    with serving(
        tmp_path / "home", "--caddy", "--port", str(free_port()), "--ui-port", str(ui_port)
    ) as served:
        (caddy,) = served.children()
        assert stop(served, signal.SIGKILL) == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while not (gone(caddy) and port_is_free(ui_port)):
        assert time.monotonic() < deadline, "Caddy outlived hachi serve"
        time.sleep(0.1)


@needs_caddy
def test_a_busy_ui_port_is_refused_clearly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        ui_port = taken.getsockname()[1]
        served = start(
            tmp_path / "home", "--caddy", "--port", str(free_port()), "--ui-port", str(ui_port)
        )
        assert served.process.wait(30) == 1
    assert f"cannot serve the UI on port {ui_port}" in served.stderr()
    assert served.stdout() == ""


def _nobody_can_run_hachi() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("caddy") is None:
        return False
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import hachi.cli"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        cwd="/",
    )
    return probe.returncode == 0


AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--")


@pytest.mark.skipif(
    not _nobody_can_run_hachi(),
    reason="needs root (to become a normal user with setpriv), Caddy, and a repository and "
    "Python that user can read",
)
def test_caddy_runs_for_a_normal_user_without_touching_the_trust_store() -> None:
    """Issue 10.3: as a normal user Caddy could not bind port 80 for its redirect."""
    with tempfile.TemporaryDirectory(prefix="hachi-nobody-") as scratch:
        root = Path(scratch)
        os.chown(root, NOBODY, NOBODY)
        home, ui_port = root / "home", free_port()
        env = {"HOME": str(root)}
        with serving(
            home,
            "--caddy",
            "--port",
            str(free_port()),
            "--ui-port",
            str(ui_port),
            env=env,
            prefix=AS_NOBODY,
        ) as served:
            assert f"https://localhost:{ui_port}" in served.stdout()
            certificate = home / "caddy" / "pki" / "authorities" / "local" / "root.crt"
            assert f"import {certificate} on phones" in served.stdout()
            assert "trust store was left alone" in served.stdout()
            assert certificate.stat().st_uid == NOBODY
            (caddy,) = served.children()
            assert Path(f"/proc/{caddy}/status").read_text().count(f"\t{NOBODY}\t") >= 1
            assert stop(served) == 0, served.stderr()
        log = (home / "caddy.log").read_text()
        assert "permission denied" not in log and "install root certificate" not in log
        assert gone(caddy) and port_is_free(ui_port)


def _library(folder: Path, count: int) -> None:
    for i in range(count):
        write_photo(folder / f"d{i % 4}" / f"img_{i:04d}.jpg", Shot(size=(160, 120), seed=i))


# Big enough that the signal lands while the scan still has files to read, on a quiet host
# as on a busy one (300 were all read before the stop took effect once).
SIGTERM_LIBRARY = 1200


# A bound, not a measurement: the whole stop is one deadline, and the process start-up
# and exit around it get ample room on a loaded host.
STOP_BOUND_S = STOP_DEADLINE_S + 10


def stop_within_the_deadline(served: Served) -> None:
    """SIGTERM; the process exits 0 within the bound, having logged each part's time."""
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    code = served.process.wait(STOP_BOUND_S + 30)
    took = time.monotonic() - started
    assert code == 0, served.stderr()
    assert took < STOP_BOUND_S, (took, served.stderr())
    for part in ("web server", "folder watcher", "indexer"):
        assert f"hachi: {part} stopped in " in served.stderr(), served.stderr()
    assert "did not stop" not in served.stderr()


@pytest.mark.slow
def test_sigterm_mid_job_leaves_it_queued_to_resume(tmp_path: Path) -> None:
    folder, home = tmp_path / "photos", tmp_path / "home"
    _library(folder, SIGTERM_LIBRARY)
    with serving(home, "--port", str(free_port()), "--index", str(folder)) as served:
        deadline = time.monotonic() + 60
        while _job(home)[1] == 0:  # some files written: the job is mid-way
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stop_within_the_deadline(served)
    state, done = _job(home)
    assert state == "queued" and 0 < done < SIGTERM_LIBRARY, (state, done)
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        photos = conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    assert photos == done, "every photo the job counted is in the catalog, no more"
    finished = subprocess.run(
        [sys.executable, "-m", "hachi.cli", "index", "--quiet", str(folder)],
        env={**os.environ, "HACHI_HOME": str(home), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    assert _job(home) == ("done", SIGTERM_LIBRARY), "the interrupted job resumed and counted"
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == SIGTERM_LIBRARY


@pytest.mark.slow
def test_a_part_that_cannot_stop_does_not_hold_the_exit(tmp_path: Path) -> None:
    """Another process holds the catalog's write lock, so the indexer (and the watcher)
    cannot leave their work: serve still exits 0 at the deadline, naming them, and the job
    resumes at the next start as after a crash."""
    folder, home = tmp_path / "photos", tmp_path / "home"
    count = 400
    _library(folder, count)
    with serving(home, "--port", str(free_port()), "--index", str(folder)) as served:
        deadline = time.monotonic() + 60
        while _job(home)[1] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        holder = sqlite3.connect(home / "catalog.db", timeout=60, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            code = served.process.wait(STOP_BOUND_S + 30)
            took = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert code == 0, served.stderr()
    assert took < STOP_BOUND_S, (took, served.stderr())
    assert "hachi: indexer did not stop within" in served.stderr(), served.stderr()
    assert "hachi: web server stopped in" in served.stderr()
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finished = subprocess.run(
        [sys.executable, "-m", "hachi.cli", "index", "--quiet", str(folder)],
        env={**os.environ, "HACHI_HOME": str(home), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    assert _job(home) == ("done", count), "the job left behind resumed and counted"


def _job(home: Path) -> tuple[str, int]:
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        row = conn.execute("SELECT state, done FROM jobs ORDER BY id LIMIT 1").fetchone()
    return ("none", 0) if row is None else (str(row[0]), int(row[1]))


# Enough photos that a catch-up (~1 ms a photo, 256 to a transaction) is still running
# when the test sees its first transaction and sends the signal.
CATCH_UP_LIBRARY = 3000
COPIES = 10


@pytest.mark.slow
def test_sigterm_mid_duplicates_catch_up_keeps_what_it_did_and_resumes(tmp_path: Path) -> None:
    """A library indexed before fingerprints existed: serve starts the catch-up, a signal
    ends it between photos; the fingerprints computed stay, no groups are half written,
    and the next index run finishes the rest."""
    folder, home = tmp_path / "photos", tmp_path / "home"
    _library(folder, CATCH_UP_LIBRARY - COPIES)
    (folder / "copies").mkdir()
    for original in sorted((folder / "d0").iterdir())[:COPIES]:
        shutil.copy(original, folder / "copies" / original.name)
    with Library(make_settings(home)) as library:
        library.add_folder(str(folder))
        library.index_pending(with_models=False)
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        conn.execute("UPDATE photos SET phash = NULL, chroma = NULL, grouped_hash = NULL")
        conn.execute("DELETE FROM duplicates")
        conn.commit()
    with serving(home, "--port", str(free_port())) as served:
        deadline = time.monotonic() + 120
        while _fingerprinted(home) == 0:  # the catch-up committed its first photos
            assert time.monotonic() < deadline
            time.sleep(0.02)
        stop_within_the_deadline(served)
    assert 0 < _fingerprinted(home) < CATCH_UP_LIBRARY, "stopped mid-way"
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM duplicates").fetchone()[0] == 0
    finished = subprocess.run(
        [sys.executable, "-m", "hachi.cli", "index", "--quiet", str(folder)],
        env={**os.environ, "HACHI_HOME": str(home), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    assert _fingerprinted(home) == CATCH_UP_LIBRARY
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        assert dups_db.pending_count(conn) == 0
        grouped = conn.execute("SELECT COUNT(*) FROM duplicates").fetchone()[0]
    assert grouped >= 2 * COPIES, "each copy grouped with its original"


def _fingerprinted(home: Path) -> int:
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        return int(conn.execute("SELECT COUNT(phash) FROM photos").fetchone()[0])
