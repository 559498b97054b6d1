"""The README's "Scripts" examples, run as written against a real server on a free port:
the token from the real CLI, the curl + jq block in bash, the Python block in Python.

Only the address, the folder and the page size are substituted (a page of 2 makes the
cursor loop turn more than once)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.config import Settings
from hachi.server.serve import make_server
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import make_settings, running_app

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
WRITTEN_URL = "http://127.0.0.1:8686"
WRITTEN_FOLDER = "/home/me/Pictures"
PHOTOS_2019 = 3
RUN_TIMEOUT_S = 120


def script_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block in the README's Scripts section."""
    section = README.split("\n## Scripts\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def test_the_scripts_section_has_curl_and_python_examples() -> None:
    blocks = script_blocks()
    assert [lang for lang, _ in blocks] == ["sh", "sh", "python"]
    python = blocks[2][1]
    imports = set(re.findall(r"^import (\w+)", python, flags=re.MULTILINE))
    assert imports <= {"json", "os", "time", "urllib"}, "standard library only"
    for needed in ("hachi token", "/api/folders", "/api/jobs/", "/api/search", "cursor"):
        assert needed in blocks[0][1] + blocks[1][1], needed
        assert needed in python or needed == "hachi token", needed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Settings, str, Path]]:
    settings = make_settings(tmp_path / "home", port=0)
    settings.ensure_dirs()
    photos = tmp_path / "Pictures"
    for day in range(1, PHOTOS_2019 + 1):
        write_photo(photos / f"2019_{day}.jpg", Shot(taken=f"2019:05:0{day} 12:00:00", seed=day))
    write_photo(photos / "2020.jpg", Shot(taken="2020:01:01 12:00:00", seed=9))
    with running_app(settings, background=True) as (app, _library):
        live = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=live.run, daemon=True)
        thread.start()
        try:
            yield settings, f"http://127.0.0.1:{live.effective_port}", photos
        finally:
            live.stop()
            thread.join(15)


def _as_here(code: str, url: str, photos: Path) -> str:
    code = code.replace(WRITTEN_URL, url).replace(WRITTEN_FOLDER, str(photos))
    return code.replace("limit=100", "limit=2")


def _hachi_on_path(bin_dir: Path) -> None:
    """`hachi` as the README's reader has it: this checkout's CLI."""
    bin_dir.mkdir()
    shim = bin_dir / "hachi"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hachi.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)


def _run(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(
        cmd, input=stdin, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_the_readme_scripts_run_against_a_real_server(
    server: tuple[Settings, str, Path], tmp_path: Path
) -> None:
    settings, url, photos = server
    (token_block, curl_block), python_block = (
        [code for _lang, code in script_blocks()][:2],
        script_blocks()[2][1],
    )
    _hachi_on_path(tmp_path / "bin")
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "HACHI_HOME": str(settings.home),
    }
    script = "set -eu\n" + _as_here(token_block + curl_block, url, photos)
    out = _run(["bash", "-c", script + '\necho "TOKEN $HACHI_TOKEN"'], env)
    assert re.search(r"^indexing job \d+: done$", out, re.MULTILINE), out
    token = re.search(r"^TOKEN (\S+)$", out, re.MULTILINE)
    assert token is not None, out
    hits = re.findall(r"^(\d+)\t2019-05-0\d\S*\t(\S+)$", out, re.MULTILINE)
    assert sorted(Path(p).name for _id, p in hits) == [f"2019_{d}.jpg" for d in (1, 2, 3)]

    env = {**env, "HACHI_URL": url, "HACHI_TOKEN": token[1]}
    out = _run([sys.executable, "-"], env, stdin=_as_here(python_block, url, photos))
    assert re.search(r"^indexed \d+ photos, 0 failed$", out, re.MULTILINE), out
    ids = re.findall(r"^(\d+) 2019-05-0\d\S* (\S+)$", out, re.MULTILINE)
    assert sorted(i for i, _ in ids) == sorted(i for i, _ in hits), "the same photos, once each"
