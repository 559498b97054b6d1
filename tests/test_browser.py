"""The web UI end to end: real Hachi behind real Caddy, driven by the system Chromium.

The scenarios themselves are JavaScript (tests/browser/*.test.js, node's test runner with
playwright-core); this module builds the libraries, starts the stack on free ports, runs
them and checks Caddy's headers. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.config import Settings
from tests.browser.big_library import build_catalog
from tests.browser.stack import REPO, STATIC, Stack, running_stack
from tests.photo_factory import Shot, write_photo

pytestmark = pytest.mark.slow

BROWSER_DIR = REPO / "tests" / "browser"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path(os.environ.get("HACHI_CHROMIUM", "/usr/bin/chromium"))
PASSWORD = "browser tests password"
NASTY = "<img src=x onerror=alert(1)>"
NODE_TIMEOUT_S = 300
BIG_LIBRARY = 10_000
PARIS = (48.8566, 2.3522)
TOKYO = (35.6762, 139.6503)
ADDED_PHOTOS = 12


def missing_tools() -> str | None:
    for tool in ("node", "caddy"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make browser-deps)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (make browser-deps)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed: cd tests/browser && npm ci"
    if not (STATIC / "index.html").is_file():
        return "the UI is not built: make ui"
    return None


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)


def write_library(root: Path) -> dict[str, int]:
    """Photos from three cameras, two cities and three years, plus an HTML-named file."""
    shots = [
        *(
            Shot(taken=f"2019:06:0{d} 10:00:00", lat=PARIS[0], lon=PARIS[1], seed=d)
            for d in (1, 2, 3)
        ),
        *(
            Shot(
                taken=f"2021:03:1{d} 09:00:00",
                make="NIKON CORPORATION",
                model="NIKON D750",
                lat=TOKYO[0],
                lon=TOKYO[1],
                seed=10 + d,
            )
            for d in (1, 2)
        ),
        *(
            Shot(taken=f"2020:01:2{d} 15:30:00", make="SONY", model="ILCE-7M3", seed=20 + d)
            for d in (1, 2)
        ),
    ]
    for i, shot in enumerate(shots):
        write_photo(root / f"photo_{i:02d}.jpg", shot)
    write_photo(root / "odd" / f"{NASTY}.jpg", Shot(make="FUJIFILM", model="X-T3", seed=99))
    canon = sum(1 for s in shots if s.make == "Canon")
    return {"total": len(shots) + 1, "canon": canon}


def write_added_folder(root: Path) -> Path:
    folder = root / NASTY
    for i in range(ADDED_PHOTOS):
        write_photo(folder / f"added_{i:02d}.jpg", Shot(taken="2022:08:01 08:00:00", seed=200 + i))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG at all")
    return folder


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, str]]]:
    base = tmp_path_factory.mktemp("ui")
    counts = write_library(base / "library")
    added = write_added_folder(base / "to-add")
    with running_stack(base / "home", PASSWORD, [base / "library"]) as stack:
        facts = {
            "HACHI_EXPECT_TOTAL": str(counts["total"]),
            "HACHI_EXPECT_CANON": str(counts["canon"]),
            "HACHI_EXPECT_ADDED": str(ADDED_PHOTOS),
            "HACHI_ADD_FOLDER": str(added),
        }
        yield stack, facts


def run_node(script: str, stack: Stack, extra: dict[str, str]) -> str:
    env = {
        **os.environ,
        "HACHI_UI_URL": stack.ui_url,
        "HACHI_TEST_PASSWORD": PASSWORD,
        "HACHI_NASTY_NAME": NASTY,
        "HACHI_SCREENSHOTS": str(ARTIFACTS / "screenshots"),
        "HACHI_ARTIFACTS": str(ARTIFACTS),
        "HACHI_CHROMIUM": str(CHROMIUM),
        **extra,
    }
    done = subprocess.run(
        ["node", "--test", "--test-concurrency=1", "--test-reporter=spec", script],
        cwd=BROWSER_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"browser tests failed:\n{output[-8000:]}"
    return output


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_caddy_serves_the_app_with_security_headers(
    small_stack: tuple[Stack, dict[str, str]],
) -> None:
    stack, _ = small_stack
    status, headers, body = fetch(f"{stack.ui_url}/photo/1?q=x")  # a deep link: SPA fallback
    assert status == 200 and b'<div id="app">' in body
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert b"<script>" not in body and b"<style" not in body  # no inline code at all


def test_caddy_proxies_the_api_and_caches_assets(small_stack: tuple[Stack, dict[str, str]]) -> None:
    stack, _ = small_stack
    status, headers, body = fetch(f"{stack.ui_url}/api/health")
    assert status == 200 and json.loads(body) == {"ok": True}
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    asset = next((STATIC / "assets").glob("*.js")).name
    status, headers, _ = fetch(f"{stack.ui_url}/assets/{asset}")
    assert status == 200 and "immutable" in headers["Cache-Control"]


def test_ui_end_to_end(small_stack: tuple[Stack, dict[str, str]]) -> None:
    stack, facts = small_stack
    output = run_node("ui.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]
    for page in ("login", "search", "photo", "folders", "places", "years"):
        for width in (375, 1920):
            assert (ARTIFACTS / "screenshots" / f"{page}-{width}.png").stat().st_size > 0


def test_ui_speed_on_a_10000_photo_library(tmp_path: Path) -> None:
    photos = tmp_path / "big"
    photos.mkdir()
    build_catalog(Settings(home=tmp_path / "home"), photos, BIG_LIBRARY)
    with running_stack(tmp_path / "home", PASSWORD) as stack:
        run_node("perf.test.js", stack, {"HACHI_EXPECT_TOTAL": str(BIG_LIBRARY)})
    figures = json.loads((ARTIFACTS / "ui_perf.json").read_text())
    assert figures["total"] == BIG_LIBRARY
