"""`pip install .` (not editable) gives a working Hachi: the built UI, the Caddyfile and
the model manifest travel inside the wheel, and the installed package serves the UI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[1]
RUNTIME_FILES = ("hachi/static/index.html", "hachi/server/Caddyfile", "hachi/ml/manifest.toml")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, so the checkout gets no build/ folder."""
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(REPO / "hachi", source / "hachi", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("hachi-*.whl")
    return built


def test_the_wheel_carries_what_hachi_reads_at_run_time(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for needed in RUNTIME_FILES:
        assert needed in names, needed
    shipped = {n for n in names if n.startswith("hachi/static/")}
    built = {
        str(p.relative_to(REPO)) for p in (REPO / "hachi" / "static").rglob("*") if p.is_file()
    }
    assert shipped == built
    assert not any(n.startswith(("tests/", "frontend/", "models/")) for n in names)


def test_the_installed_package_serves_the_ui(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile"]
        + ["--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # the installed copy first on the path, the checkout nowhere on it (cwd is elsewhere)
    env = {**os.environ, "PYTHONPATH": str(target), "HACHI_HOME": str(tmp_path / "home")}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hachi, hachi.ml.manifest as m; "
            "print(hachi.__file__); print(len(m.load_manifest()))",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(target) and int(where[1]) > 0
    port = free_port()
    with (tmp_path / "out").open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "hachi.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        page = _get(f"http://127.0.0.1:{port}/", server)
        assert b'<script type="module"' in page
        asset = page.split(b'src="', 1)[1].split(b'"', 1)[0].decode()
        assert _get(f"http://127.0.0.1:{port}{asset}", server)
    finally:
        server.terminate()
        assert server.wait(30) == 0, (tmp_path / "out").read_text()


def _get(url: str, server: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return bytes(response.read())
        except OSError:
            assert server.poll() is None, "hachi serve ended"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)
