"""The int8 image tower indexes only once it agreed with float32 on the library's own first
photos (HACHI_CLIP_IMAGE_INT8=auto), and the decision is kept, shown, and redone when the
model's files change. Real photos of drawn shapes, the shapes CLIP model from
tools/train_shapes_clip.py (its int8 tower agrees to ~0.9999) and, for a tower that does
not agree, the same model with a different real ONNX graph in place of its int8 one."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from hachi.catalog.towers import FLOAT32, INT8
from hachi.config import Settings
from hachi.errors import BadRequest
from hachi.indexer.tower_check import FILE_PREFIX
from hachi.indexer.towers import CHECK_PHOTOS, MIN_CHECK_PHOTOS, MIN_P1_COSINE
from hachi.library import Library
from hachi.ml.clip.config import VISUAL_INT8_FILE
from hachi.ml.clip.encoders import ClipModel
from hachi.ml.store import install_model, model_dir

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "models" / "test" / "shapes-clip"
FLOAT16_ROUNDING = 2e-3
sys.path.insert(0, str(ROOT / "tools"))
from train_shapes_clip import draw_dataset  # noqa: E402


def _settings(home: Path, mode: str = "auto", model: str = "shapes-clip") -> Settings:
    return Settings.from_env(
        {},
        home=home,
        clip_model=model,
        ocr=False,
        face_backend="none",
        workers=2,
        clip_image_int8=mode,
    )


def _photos(folder: Path, count: int, seed: int, prefix: str = "img") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = draw_dataset(count, seed=seed)
    for i, image in enumerate(images):
        image.save(folder / f"{prefix}_{i:04d}.jpg", quality=92)


def _index(settings: Settings, folder: Path) -> None:
    """One job over ``folder`` in a fresh Library (a restarted process)."""
    library = Library(settings)
    try:
        known = {f.path for f in library.list_folders()}
        if str(folder.resolve()) in known:
            library.rescan()
        else:
            library.add_folder(str(folder))
        library.index_pending()
    finally:
        library.close()


def _towers_used(settings: Settings, name: str = "shapes-clip") -> dict[str, str]:
    """For each photo file, which tower its stored vector came from: float32's is the
    float32 embedding to within float16 storage (~2e-4); int8's is not (its activations
    are quantised per batch, so it cannot be recomputed exactly, but it sits ~1e-2 away)."""
    clip = ClipModel(model_dir(settings, name))
    library = Library(settings)
    try:
        semantic = library.semantic
        assert semantic is not None
        snap = semantic.snapshot(library.conn)
        assert snap.store is not None
        paths = dict(library.conn.execute("SELECT id, path FROM photos").fetchall())
        stored = snap.store.read(snap.rows)
        images = [Image.open(paths[int(pid)]).convert("RGB") for pid in snap.photo_ids]
        distance = np.linalg.norm(clip.encode_images(images) - stored, axis=1)
    finally:
        library.close()
    used = np.where(distance < FLOAT16_ROUNDING, FLOAT32, INT8)
    return {Path(paths[int(p)]).name: str(t) for p, t in zip(snap.photo_ids, used, strict=True)}


def _catalog(settings: Settings, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(settings.catalog_path)) as conn:
        return conn.execute(sql).fetchall()


def _scratch_files(settings: Settings) -> list[Path]:
    return sorted(settings.scratch_dir.glob(f"{FILE_PREFIX}*"))


def _status_tower(settings: Settings) -> dict:
    library = Library(settings)
    try:
        return library.status()["models"]["clip"]["image_tower"]
    finally:
        library.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    settings = _settings(tmp_path / "home")
    settings.ensure_dirs()
    install_model(settings, SHAPES)
    return tmp_path / "home"


def _disagreeing_model(target: Path) -> Path:
    """The shapes model whose int8 file is another real graph: a fixed random projection of
    the pixels, so its embeddings have nothing to do with float32's."""
    shutil.copytree(SHAPES, target)
    size = 3 * 64 * 64
    weights = np.random.default_rng(5).standard_normal((size, 64)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
        ],
        "not-the-int8-tower",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 64, 64])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 64])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, target / VISUAL_INT8_FILE)
    return target


# -- the setting ------------------------------------------------------------------------


def test_setting_is_three_way_and_keeps_the_old_true_false() -> None:
    assert Settings.from_env({}).clip_image_int8 == "auto"
    for raw, mode in (("true", "on"), ("1", "on"), ("false", "off"), ("0", "off"), ("ON", "on")):
        assert Settings.from_env({"HACHI_CLIP_IMAGE_INT8": raw}).clip_image_int8 == mode
    assert Settings.from_env({}, clip_image_int8=True).clip_image_int8 == "on"
    with pytest.raises(BadRequest):
        Settings.from_env({"HACHI_CLIP_IMAGE_INT8": "sometimes"})


# -- auto -------------------------------------------------------------------------------


def test_auto_checks_the_first_photos_then_indexes_with_int8(home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    folder = tmp_path / "photos"
    _photos(folder, CHECK_PHOTOS + 40, seed=11)
    _index(settings, folder)

    (row,) = _catalog(settings, "SELECT photos, p1_cosine, min_cosine, tower FROM tower_choices")
    photos, p1, least, tower = row
    assert (photos, tower) == (CHECK_PHOTOS, INT8)
    assert MIN_P1_COSINE <= p1 < 1.0 and least <= p1
    assert _catalog(settings, "SELECT * FROM tower_checks") == []
    assert _scratch_files(settings) == []
    used = _towers_used(settings)
    names = sorted(used)
    assert {used[n] for n in names[:CHECK_PHOTOS]} == {FLOAT32}
    # the rest of the job ran on the winner (from the batch after the check filled)
    assert {used[n] for n in names[-24:]} == {INT8}

    state = _status_tower(settings)
    assert (state["tower"], state["reason"]) == (INT8, "agreed")
    assert state["description"].startswith(f"int8: agreed with float32 on your first {photos}")

    # a later job (a restarted process) indexes new photos with int8, without a new check
    _photos(folder, 6, seed=12, prefix="later")
    _index(settings, folder)
    used = _towers_used(settings)
    assert {t for n, t in used.items() if n.startswith("later")} == {INT8}
    assert len(_catalog(settings, "SELECT * FROM tower_choices")) == 1


def test_a_tower_that_disagrees_keeps_float32(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = _settings(home, model="shapes-bad")
    settings.ensure_dirs()
    install_model(settings, _disagreeing_model(tmp_path / "bad"), name="shapes-bad")
    folder = tmp_path / "photos"
    _photos(folder, 60, seed=13)  # fewer than CHECK_PHOTOS: the job's end decides
    _index(settings, folder)

    (row,) = _catalog(settings, "SELECT photos, p1_cosine, tower FROM tower_choices")
    assert row[0] == 60 and row[1] < MIN_P1_COSINE and row[2] == FLOAT32
    assert set(_towers_used(settings, "shapes-bad").values()) == {FLOAT32}
    state = _status_tower(settings)
    assert (state["tower"], state["reason"]) == (FLOAT32, "disagreed")
    assert f"< {MIN_P1_COSINE}" in state["description"]


def test_too_few_photos_leave_the_check_to_the_next_job(home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    folder = tmp_path / "photos"
    _photos(folder, MIN_CHECK_PHOTOS - 20, seed=14)
    _index(settings, folder)
    assert _catalog(settings, "SELECT * FROM tower_choices") == []
    assert _catalog(settings, "SELECT photos FROM tower_checks") == [(MIN_CHECK_PHOTOS - 20,)]
    assert len(_scratch_files(settings)) == 1
    state = _status_tower(settings)
    assert state["reason"] == "checking"
    assert state["description"] == f"float32: checking int8 (30 of {CHECK_PHOTOS} photos)"

    _photos(folder, 40, seed=15, prefix="more")
    _index(settings, folder)
    assert _catalog(settings, "SELECT photos, tower FROM tower_choices") == [(70, INT8)]
    assert _scratch_files(settings) == []


def test_changed_model_files_are_checked_again(home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    folder = tmp_path / "photos"
    _photos(folder, MIN_CHECK_PHOTOS + 10, seed=16)
    _index(settings, folder)
    assert _status_tower(settings)["reason"] == "agreed"

    # a re-export with another int8 graph: a new check, float32 meanwhile
    installed = model_dir(settings, "shapes-clip")
    other = _disagreeing_model(tmp_path / "other")
    shutil.copyfile(other / VISUAL_INT8_FILE, installed / VISUAL_INT8_FILE)
    state = _status_tower(settings)
    assert (state["tower"], state["reason"], state["checked_photos"]) == (FLOAT32, "checking", 0)
    _photos(folder, MIN_CHECK_PHOTOS, seed=17, prefix="new")
    _index(settings, folder)
    rows = _catalog(settings, "SELECT photos, tower FROM tower_choices ORDER BY decided_at")
    assert rows == [(MIN_CHECK_PHOTOS + 10, INT8), (MIN_CHECK_PHOTOS, FLOAT32)]
    assert _status_tower(settings)["reason"] == "disagreed"


@pytest.mark.parametrize(
    ("mode", "tower", "reason"), [("on", INT8, "forced"), ("off", FLOAT32, "off")]
)
def test_on_and_off_skip_the_check(
    home: Path, tmp_path: Path, mode: str, tower: str, reason: str
) -> None:
    settings = _settings(home, mode)
    folder = tmp_path / "photos"
    _photos(folder, MIN_CHECK_PHOTOS + 5, seed=18)
    _index(settings, folder)
    assert _catalog(settings, "SELECT * FROM tower_choices") == []
    assert _catalog(settings, "SELECT * FROM tower_checks") == []
    assert _scratch_files(settings) == []
    assert set(_towers_used(settings).values()) == {tower}
    state = _status_tower(settings)
    assert (state["tower"], state["reason"]) == (tower, reason)
    assert f"HACHI_CLIP_IMAGE_INT8={mode}" in state["description"]


# -- a kill in the middle ---------------------------------------------------------------


def _hachi(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HACHI_HOME": str(home),
        "HACHI_WORKERS": "2",
        "HACHI_CLIP_MODEL": "shapes-clip",
        "HACHI_OCR": "false",
        "HACHI_FACE_BACKEND": "none",
        "HACHI_CLIP_IMAGE_INT8": "auto",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hachi.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _checked_so_far(settings: Settings) -> int | None:
    try:
        with closing(sqlite3.connect(f"file:{settings.catalog_path}?mode=ro", uri=True)) as conn:
            if conn.execute("SELECT COUNT(*) FROM tower_choices").fetchone()[0]:
                return None
            row = conn.execute("SELECT photos FROM tower_checks").fetchone()
    except sqlite3.Error:  # not created yet, or being migrated
        return 0
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_sigkill_during_the_check_then_resume(home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    folder = tmp_path / "photos"
    _photos(folder, CHECK_PHOTOS + 40, seed=19)
    proc = _hachi(home, "index", str(folder), "--quiet")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        checked = _checked_so_far(settings)
        assert checked is not None, "the check ended before the kill; use more photos"
        if checked >= 16:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # what the catalog counts, the scratch file holds (it may hold more)
    (counted,) = _catalog(settings, "SELECT photos FROM tower_checks")[0]
    assert 16 <= counted < CHECK_PHOTOS
    (scratch,) = _scratch_files(settings)
    record = 3 * 64 * 64 * 2 + 64 * 4
    assert scratch.stat().st_size >= counted * record

    final = _hachi(home, "index", str(folder), "--quiet")
    _out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    assert _catalog(settings, "SELECT photos, tower FROM tower_choices") == [(CHECK_PHOTOS, INT8)]
    assert _catalog(settings, "SELECT * FROM tower_checks") == []
    assert _scratch_files(settings) == []
    assert _catalog(settings, "SELECT COUNT(*) FROM photos") == [(CHECK_PHOTOS + 40,)]
    used = _towers_used(settings)
    assert len(used) == CHECK_PHOTOS + 40 and INT8 in used.values()


def test_stale_scratch_files_are_removed(home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    stale = settings.scratch_dir / f"{FILE_PREFIX}gone-model-0123.bin"
    stale.write_bytes(b"\0" * 100)
    folder = tmp_path / "photos"
    _photos(folder, 5, seed=20)
    _index(settings, folder)
    assert not stale.exists()
    assert len(_scratch_files(settings)) == 1  # the open check's own file stays


def test_an_int8_graph_that_cannot_run_never_fails_photos(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = _settings(home, model="shapes-broken")
    settings.ensure_dirs()
    broken = Path(shutil.copytree(SHAPES, tmp_path / "broken"))
    (broken / VISUAL_INT8_FILE).write_bytes(b"not an onnx graph")
    install_model(settings, broken, name="shapes-broken")
    folder = tmp_path / "photos"
    _photos(folder, CHECK_PHOTOS + 10, seed=21)  # the check fills mid-job, then fails
    _index(settings, folder)
    assert _catalog(settings, "SELECT COUNT(*) FROM failed_files") == [(0,)]
    failed = _catalog(settings, "SELECT COUNT(*) FROM analyses WHERE error IS NOT NULL")
    assert failed == [(0,)]
    assert set(_towers_used(settings, "shapes-broken").values()) == {FLOAT32}
    assert len(_towers_used(settings, "shapes-broken")) == CHECK_PHOTOS + 10
    assert _catalog(settings, "SELECT * FROM tower_choices") == []
    assert _status_tower(settings)["reason"] == "checking"  # tried again next job


def test_status_models_list_and_api_say_which_tower_and_why(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from hachi.cli.main import main
    from tests.server_fixtures import create_token, running_app

    settings = _settings(home)
    folder = tmp_path / "photos"
    _photos(folder, MIN_CHECK_PHOTOS + 2, seed=22)
    _index(settings, folder)
    (p1,) = _catalog(settings, "SELECT p1_cosine FROM tower_choices")[0]
    said = f"int8: agreed with float32 on your first {MIN_CHECK_PHOTOS + 2} photos"
    said += f", 1st percentile cosine {p1:.4f}"

    for key, value in (("CLIP_MODEL", "shapes-clip"), ("CLIP_IMAGE_INT8", "auto")):
        monkeypatch.setenv(f"HACHI_{key}", value)
    assert main(["status", "--home", str(home)]) == 0
    assert f"image tower: {said}" in capsys.readouterr().out
    assert main(["status", "--json", "--home", str(home)]) == 0
    tower = json.loads(capsys.readouterr().out)["models"]["clip"]["image_tower"]
    assert (tower["tower"], tower["reason"], tower["description"]) == (INT8, "agreed", said)
    assert tower["check"]["photos"] == MIN_CHECK_PHOTOS + 2
    assert main(["models", "list", "--home", str(home)]) == 0
    assert f"  image tower: {said}" in capsys.readouterr().out
    assert main(["models", "list", "--json", "--home", str(home)]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["image_tower"]["description"] == said

    with running_app(settings) as (app, _library):
        client = app.test_client()
        headers = {"Authorization": f"Bearer {create_token(settings)}"}
        answer = client.get("/api/status", headers=headers)
        assert answer.status_code == 200
        assert answer.get_json()["models"]["clip"]["image_tower"]["description"] == said
        assert client.get("/api/status").status_code == 401
