"""The web UI end to end: real Hachi behind real Caddy, driven by the system Chromium.

The scenarios themselves are JavaScript (tests/browser/*.test.js, node's test runner with
playwright-core); this module builds the libraries, starts the stack on free ports, runs
them and checks Caddy's headers. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from hachi.config import DEFAULT_CLIP_MODEL, Settings
from hachi.ml.download import MIRROR_ENV
from hachi.ml.store import install_model
from tests.browser.big_library import build_catalog
from tests.browser.stack import REPO, STATIC, Stack, hachi, running_stack
from tests.duplicate_holdout import generate
from tests.model_mirror import FileServer, write_manifest
from tests.photo_factory import CORPUS, Shot, require_corpus, write_photo

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
FACES = CORPUS / "faces"
EXIF_MAKE = 0x010F
SHAPES_MODEL = REPO / "models" / "test" / "shapes-clip"
SHAPES_TOOL = REPO / "tools" / "train_shapes_clip.py"
SHAPE_CLASSES = (("red", "circle"), ("blue", "square"), ("yellow", "star"), ("green", "triangle"))
SHAPES_PER_CLASS = 6
SHAPES_SEED = 5
SIGN_TEXT = "HAPPY BIRTHDAY"
DUPLICATE_SCENES = 2
A11Y_PAGES = 20  # pages and states a11y.test.js checks, each at 2 widths and 2 themes
# OCR reads every photo after the scan and takes about a minute for the face photos on a
# small machine; the UI tests leave it off (faces stay on: dlib needs no download).
STACK_SETTINGS = {"HACHI_OCR": "0"}


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
    faces = copy_face_photos(root / "people")
    canon += sum(1 for f in faces if camera_make(f).lower().startswith("canon"))
    return {"total": len(shots) + 1 + len(faces), "canon": canon, "faces": len(faces)}


def copy_face_photos(folder: Path) -> list[Path]:
    """The labelled face photos of the shared corpus, so that dlib finds real people."""
    folder.mkdir(parents=True)
    photos = [f for f in sorted(FACES.iterdir()) if f.suffix.lower() in (".jpg", ".png")]
    return [Path(shutil.copy2(f, folder / f.name)) for f in photos]


def camera_make(path: Path) -> str:
    with Image.open(path) as image:
        return str(image.getexif().get(EXIF_MAKE) or "")


def write_added_folder(root: Path) -> Path:
    folder = root / NASTY
    for i in range(ADDED_PHOTOS):
        write_photo(folder / f"added_{i:02d}.jpg", Shot(taken="2022:08:01 08:00:00", seed=200 + i))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG at all")
    return folder


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, str]]]:
    require_corpus(FACES)
    base = tmp_path_factory.mktemp("ui")
    counts = write_library(base / "library")
    added = write_added_folder(base / "to-add")
    library = [base / "library"]
    with running_stack(base / "home", PASSWORD, library, STACK_SETTINGS) as stack:
        shown = shown_total(stack)  # near-duplicates show as one hit each (search stacks)
        assert 0 < shown <= counts["total"]
        facts = {
            "HACHI_EXPECT_TOTAL": str(shown),
            "HACHI_EXPECT_CANON": str(counts["canon"]),
            "HACHI_EXPECT_ADDED": str(ADDED_PHOTOS),
            "HACHI_ADD_FOLDER": str(added),
            "HACHI_SEARCH_PHOTO": str(FACES / "obama_1.jpg"),
            "HACHI_LIBRARY": str((base / "library").resolve()),
        }
        yield stack, facts


def shown_total(stack: Stack) -> int:
    """How many hits the whole library shows: the corpus holds a PNG conversion of one of
    its photos, which search stacks with it."""
    request = urllib.request.Request(
        f"{stack.api_url}/api/search?q=&limit=1",
        headers={"Authorization": f"Bearer {stack.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.loads(response.read())["total"])


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
    pages = ("login", "search", "photo", "folders", "places", "years", "people", "person")
    for page in pages:
        for width in (375, 1920):
            assert (ARTIFACTS / "screenshots" / f"{page}-{width}.png").stat().st_size > 0


def test_ui_counts_and_states_are_honest(small_stack: tuple[Stack, dict[str, str]]) -> None:
    """Place counts, the busy state, a missing photo, dates, notices, the folder picker."""
    stack, facts = small_stack
    output = run_node("honest.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-3000:]


def test_ui_accessibility_axe_and_keyboard(tmp_path: Path) -> None:
    """axe-core finds no violation on any page at 375 and 1440 px, light and dark; the skip
    link, the focus trap in the photo viewer and focus given back on Escape all work."""
    if not FACES.is_dir():
        pytest.skip(f"the shared test corpus is missing: no {FACES}")
    library = tmp_path / "library"
    for i, place in enumerate((PARIS, TOKYO)):
        write_photo(
            library / f"photo_{i}.jpg",
            Shot(taken=f"202{i}:05:01 10:00:00", lat=place[0], lon=place[1], seed=i),
        )
    copy_face_photos(library / "people")
    with running_stack(tmp_path / "home", PASSWORD, [library], STACK_SETTINGS) as stack:
        output = run_node("a11y.test.js", stack, {})
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]
    pages = json.loads((ARTIFACTS / "a11y.json").read_text())
    assert len(pages) == A11Y_PAGES * 2 * 2 and all(p["violations"] == 0 for p in pages)


MAP_CITIES = {  # (lat, lon, photos): far enough apart never to share a cluster
    "paris": (48.8566, 2.3522, 5),
    "tokyo": (35.6762, 139.6503, 3),
    "cape_town": (-33.9249, 18.4241, 2),
    "new_york": (40.7128, -74.006, 2),
}
PARIS_SPREAD = ((0, 0), (0.03, 0.03), (0.03, -0.03), (-0.03, 0.03), (-0.03, -0.03))


def write_map_library(root: Path) -> int:
    """Photos in a few cities (Paris's spread over a few km, so that they split when the map
    zooms in) and one without a position; returns how many are geotagged."""
    geotagged = 0
    for city, (lat, lon, count) in MAP_CITIES.items():
        for i in range(count):
            dlat, dlon = PARIS_SPREAD[i % len(PARIS_SPREAD)] if city == "paris" else (0, 0)
            shot = Shot(lat=lat + dlat, lon=lon + dlon, seed=geotagged)
            write_photo(root / f"{city}_{i}.jpg", shot)
            geotagged += 1
    write_photo(root / "nowhere.jpg", Shot(seed=99))
    return geotagged


def test_ui_map_is_offline_and_follows_the_query(tmp_path: Path) -> None:
    """The map page and the photo page's small map: clusters, a drawn box, and not one
    request to another host; prints the map's bundle size and first-render time."""
    geotagged = write_map_library(tmp_path / "library")
    settings = {**STACK_SETTINGS, "HACHI_FACE_BACKEND": "none"}
    with running_stack(tmp_path / "home", PASSWORD, [tmp_path / "library"], settings) as stack:
        facts = {
            "HACHI_EXPECT_GEOTAGGED": str(geotagged),
            "HACHI_EXPECT_PARIS": str(MAP_CITIES["paris"][2]),
        }
        output = run_node("map.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-3000:]
    figures = json.loads((ARTIFACTS / "map_perf.json").read_text())
    print(f"map bundle {figures['bundle_bytes_decoded']} bytes, first render "
          f"{figures['first_render_ms_click_to_clusters']} ms")  # fmt: skip
    for width in (375, 1920):
        assert (ARTIFACTS / "screenshots" / f"map-{width}.png").stat().st_size > 0


def load_shapes_tool() -> ModuleType:
    """tools/train_shapes_clip.py draws the photos its committed test CLIP was trained on."""
    spec = importlib.util.spec_from_file_location("train_shapes_clip", SHAPES_TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_shapes(root: Path, probe: Path) -> int:
    """SHAPES_PER_CLASS photos of each of SHAPE_CLASSES, named by class, a sign with
    SIGN_TEXT for OCR, and a fresh blue square (`probe`) to search with; returns the number
    of photos in `root`."""
    shapes = load_shapes_tool()
    rng = np.random.default_rng(SHAPES_SEED)
    root.mkdir(parents=True)
    for colour, shape in SHAPE_CLASSES:
        for i in range(SHAPES_PER_CLASS):
            image = shapes.draw_shape(colour, shape, rng).convert("RGB")
            image.save(root / f"{colour}_{shape}_{i}.jpg", quality=90)
    shapes.draw_shape("blue", "square", rng).convert("RGB").save(probe, quality=90)
    write_sign(root / "sign.jpg")
    return len(SHAPE_CLASSES) * SHAPES_PER_CLASS + 1


def write_sign(path: Path) -> None:
    sign = Image.new("RGB", (480, 160), (250, 250, 245))
    font = ImageFont.load_default(size=48)
    ImageDraw.Draw(sign).text((20, 40), SIGN_TEXT, fill=(20, 20, 20), font=font)
    sign.save(path, quality=92)


def test_ui_semantic_search_with_a_real_tiny_clip(tmp_path: Path) -> None:
    """The committed shapes CLIP turns semantic search on (cutoff, similar photos, search by
    photo), and OCR shows the text it read."""
    probe = tmp_path / "probe_blue_square.jpg"
    total = write_shapes(tmp_path / "shapes", probe)
    models = tmp_path / "models"
    shutil.copytree(SHAPES_MODEL, models / SHAPES_MODEL.name)
    settings = {  # OCR on: it reads these small photos in seconds
        "HACHI_MODELS_DIR": str(models),
        "HACHI_CLIP_MODEL": SHAPES_MODEL.name,
    }
    with running_stack(tmp_path / "home", PASSWORD, [tmp_path / "shapes"], settings) as stack:
        facts = {
            "HACHI_EXPECT_TOTAL": str(total),
            "HACHI_PER_CLASS": str(SHAPES_PER_CLASS),
            "HACHI_SEARCH_PHOTO": str(probe),
            "HACHI_SIGN_TEXT": SIGN_TEXT,
        }
        output = run_node("semantic.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]
    assert (ARTIFACTS / "screenshots" / "semantic-1920.png").stat().st_size > 0


VIDEO_SHOT_S = 3.0


def test_ui_plays_a_video_from_the_moment_found(tmp_path: Path) -> None:
    """A WebM (Chromium plays it whatever its build) of a red circle then a blue square,
    among shape photos with no blue square: the search finds the video 3 s in."""
    from tests.video_factory import shapes_video

    folder = tmp_path / "videos"
    shapes = load_shapes_tool()
    rng = np.random.default_rng(SHAPES_SEED)
    folder.mkdir()
    for colour, shape in (c for c in SHAPE_CLASSES if c != ("blue", "square")):
        for i in range(SHAPES_PER_CLASS):
            shapes.draw_shape(colour, shape, rng).convert("RGB").save(folder / f"{colour}_{i}.jpg")
    shots = [("red", "circle", VIDEO_SHOT_S), ("blue", "square", VIDEO_SHOT_S)]
    shapes_video(folder / "shots.webm", shots, codec="libvpx")
    models = tmp_path / "models"
    shutil.copytree(SHAPES_MODEL, models / SHAPES_MODEL.name)
    settings = {
        **STACK_SETTINGS,
        "HACHI_FACE_BACKEND": "none",
        "HACHI_MODELS_DIR": str(models),
        "HACHI_CLIP_MODEL": SHAPES_MODEL.name,
    }
    with running_stack(tmp_path / "home", PASSWORD, [folder], settings) as stack:
        facts = {"HACHI_VIDEO_NAME": "shots.webm", "HACHI_SHOT_S": str(VIDEO_SHOT_S)}
        output = run_node("video.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]


def test_ui_speed_on_a_10000_photo_library(tmp_path: Path) -> None:
    photos = tmp_path / "big"
    photos.mkdir()
    build_catalog(Settings(home=tmp_path / "home"), photos, BIG_LIBRARY)
    # The catalog is made without files on disk: a rescan (the watcher's catch-up at start)
    # would rightly find them all gone.
    synthetic = {"HACHI_WATCH": "false", "HACHI_RESCAN_HOURS": "0"}
    with running_stack(tmp_path / "home", PASSWORD, settings_env=synthetic) as stack:
        run_node("perf.test.js", stack, {"HACHI_EXPECT_TOTAL": str(BIG_LIBRARY)})
    figures = json.loads((ARTIFACTS / "ui_perf.json").read_text())
    assert figures["total"] == BIG_LIBRARY


def test_ui_duplicates_page_and_stacks(tmp_path: Path) -> None:
    """Generated scenes with their edits and bursts: the Duplicates page lists each group
    with its keeper, exports the redundant paths, and search stacks each group."""
    library = tmp_path / "library"
    samples = generate(library, DUPLICATE_SCENES, seed=11, twins=False)
    with running_stack(tmp_path / "home", PASSWORD, [library], STACK_SETTINGS) as stack:
        facts = {
            "HACHI_EXPECT_GROUPS": str(DUPLICATE_SCENES),
            "HACHI_EXPECT_TOTAL": str(len(samples)),
        }
        output = run_node("duplicates.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]
    for width in (375, 1920):
        assert (ARTIFACTS / "screenshots" / f"duplicates-{width}.png").stat().st_size > 0


def test_ui_account_page_lists_and_ends_sessions(tmp_path: Path) -> None:
    """Signed-in devices and tokens with their last use; one device out, then everywhere."""
    with running_stack(tmp_path / "home", PASSWORD) as stack:
        output = run_node("account.test.js", stack, {"HACHI_TOKEN_NAME": "browser-tests"})
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]
    assert (ARTIFACTS / "screenshots" / "account-375.png").stat().st_size > 0


def test_ui_api_reference_renders_every_operation(tmp_path: Path) -> None:
    """/docs/api draws the server's own OpenAPI document: every operation and schema."""
    with running_stack(tmp_path / "home", PASSWORD) as stack:
        output = run_node("docs.test.js", stack, {})
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]


def test_ui_login_link_then_a_password_then_a_spent_link(tmp_path: Path) -> None:
    """No password: a link from `hachi login-link` logs in, the UI offers to set a
    password, which works after logging out; the spent link opens a page, not JSON."""
    home = tmp_path / "home"
    with running_stack(home, None) as stack:
        link = hachi(home, "login-link", "--url", stack.ui_url).strip()
        output = run_node("link.test.js", stack, {"HACHI_LOGIN_LINK": link})
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]


def test_ui_model_comes_by_itself_and_is_chosen_on_the_folders_page(tmp_path: Path) -> None:
    """A library with no CLIP model: `hachi serve` fetches the default one from a local
    mirror (held halfway until the page has shown the progress), then the Folders page
    switches to a second installed model, which re-embeds the library."""
    write_shapes(tmp_path / "shapes", tmp_path / "probe.jpg")
    models = tmp_path / "models"
    install_model(Settings(home=tmp_path / "home", models_dir=models), SHAPES_MODEL, "other")
    mirror = FileServer()
    mirror.thread.start()
    mirror.behaviour.pause = threading.Event()
    release = tmp_path / "release"
    threading.Thread(target=_release_when, args=(release, mirror.behaviour.pause)).start()
    env = {MIRROR_ENV: mirror.base + "/mirror"}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(MIRROR_ENV, env[MIRROR_ENV])
            manifest = write_manifest(tmp_path / "m.toml", mirror, SHAPES_MODEL, DEFAULT_CLIP_MODEL)
        settings = {
            **STACK_SETTINGS,
            **env,
            "HACHI_FACE_BACKEND": "none",
            "HACHI_MODELS_DIR": str(models),
            "HACHI_MODEL_MANIFEST": str(manifest),
            "HACHI_AUTO_MODELS": "true",
        }
        with running_stack(tmp_path / "home", PASSWORD, [tmp_path / "shapes"], settings) as stack:
            facts = {
                "HACHI_DEFAULT_MODEL": DEFAULT_CLIP_MODEL,
                "HACHI_OTHER_MODEL": "other",
                "HACHI_RELEASE_FILE": str(release),
            }
            output = run_node("models.test.js", stack, facts)
    finally:
        mirror.behaviour.pause.set()
        mirror.httpd.shutdown()
        mirror.httpd.server_close()
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-2000:]


def _release_when(flag: Path, gate: threading.Event) -> None:
    deadline = time.monotonic() + NODE_TIMEOUT_S
    while not flag.exists() and not gate.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    gate.set()


SLOW_PHOTOS = 60  # large enough that their indexing is seen in the nav


def test_ui_phone_lightbox_tabs_toasts_and_indexing_sign(
    small_stack: tuple[Stack, dict[str, str]], tmp_path: Path
) -> None:
    """Swipes, pinch and the details sheet at 375 px; the tab bar; Undo toasts; naming a
    face from its box; the indexing sign while a folder of large photos is indexed."""
    stack, facts = small_stack
    slow = tmp_path / "slow"
    for i in range(SLOW_PHOTOS):
        write_photo(slow / f"big_{i:03d}.jpg", Shot(size=(1600, 1200), seed=300 + i))
    output = run_node("phone.test.js", stack, {**facts, "HACHI_SLOW_FOLDER": str(slow)})
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-3000:]
    for name in ("lightbox", "tabbar", "toast"):
        for width in (375, 1920):
            assert (ARTIFACTS / "screenshots" / f"{name}-{width}.png").stat().st_size > 0


def test_ui_gesture_arithmetic() -> None:
    """Swipe thresholds and zoom maths of the photo viewer, in node alone (no stack)."""
    done = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "gestures.test.js"],
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and re.search(r"^\S+ fail 0$", output, re.MULTILINE), output


TIMELINE_TODAY = "2024-07-14"  # the day "On this day" is asked for (?today= in the URL)


def write_timeline_library(root: Path) -> dict[str, str]:
    """Photos of every shape over three years: a busy day of landscapes (for rows on a
    phone), portraits and a panorama, and photos on TIMELINE_TODAY's month-day in past
    years (and this year, which "On this day" leaves out)."""
    shapes = [(120, 80), (80, 120), (100, 100), (240, 80), (120, 90)]
    shots: list[tuple[str, Shot]] = []
    for i in range(12):  # one busy day of 3:2 landscapes
        shots.append(
            (
                f"busy_{i:02d}.jpg",
                Shot(taken=f"2023:03:05 {8 + i:02d}:00:00", size=(120, 80), seed=i),
            )
        )
    for i in range(24):
        month, day = 1 + i % 12, 1 + (i * 5) % 27
        taken = f"{2020 + i % 3}:{month:02d}:{day:02d} 12:00:00"
        shots.append((f"mixed_{i:02d}.jpg", Shot(taken=taken, size=shapes[i % 5], seed=100 + i)))
    for i, day in enumerate((2, 9, 9, 17, 17, 17)):  # one month of small days, side by side
        shots.append(
            (
                f"may_{i}.jpg",
                Shot(taken=f"2022:05:{day:02d} 1{i}:00:00", size=shapes[i % 5], seed=300 + i),
            )
        )
    on_this_day = []
    for year in (2019, 2021, 2023, 2024):
        name = f"july14_{year}.jpg"
        shots.append((name, Shot(taken=f"{year}:07:14 09:30:00", size=(120, 80), seed=year)))
        if year < 2024:
            on_this_day.append(name)
    for name, shot in shots:
        write_photo(root / name, shot)
    return {
        "HACHI_EXPECT_TOTAL": str(len(shots)),
        "HACHI_TODAY": TIMELINE_TODAY,
        "HACHI_ON_THIS_DAY": ",".join(on_this_day),
    }


def test_ui_timeline_and_justified_grid(tmp_path: Path) -> None:
    """Rows that keep each photo's shape and fill the width, three a row on a phone, the 2x
    tiles on a 2x screen, month and day headers in date order, the scrubber's jump to a
    year, and "On this day" (with today given in the URL, not the clock)."""
    library = tmp_path / "library"
    facts = write_timeline_library(library)
    with running_stack(tmp_path / "home", PASSWORD, [library], STACK_SETTINGS) as stack:
        output = run_node("timeline.test.js", stack, facts)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output[-3000:]
    for name in ("timeline-375", "timeline-1920", "grid-375", "grid-1920"):
        assert (ARTIFACTS / "screenshots" / f"{name}.png").stat().st_size > 0
