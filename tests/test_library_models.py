"""The model comes by itself: a server with a missing CLIP model fetches it from a local
mirror in the background, shows the download in /api/status, then embeds the library.

Real everything inside the machine: the shapes CLIP model of models/test, a real HTTP
mirror on 127.0.0.1 (tests/model_mirror.py) that can pause, drop connections or serve a
corrupt byte, a real Library with its background indexer, and the Flask test client.
The manifest names the tiny model as Hachi's default CLIP model, so the library's
ordinary first-run path (nothing chosen, nothing installed) is the one under test.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hachi.config import DEFAULT_CLIP_MODEL, Settings
from hachi.ml.download import MIRROR_ENV, mirrored_url
from hachi.ml.store import installed_models
from tests.model_mirror import ORIGIN, FileServer, write_manifest
from tests.server_fixtures import create_token
from tests.server_fixtures import running_app as plain_app

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "models" / "test" / "shapes-clip"
sys.path.insert(0, str(ROOT / "tools"))
from train_shapes_clip import CLASSES, draw_dataset  # noqa: E402

PHOTOS = 16
WAIT_S = 60.0
MODEL = DEFAULT_CLIP_MODEL


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    server = FileServer()
    server.thread.start()
    monkeypatch.setenv(MIRROR_ENV, server.base + "/mirror")
    yield server
    server.behaviour.pause = None
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, list[tuple[str, str]]]:
    folder = tmp_path / "photos"
    folder.mkdir()
    images, labels = draw_dataset(PHOTOS, seed=7)
    for i, image in enumerate(images):
        image.save(folder / f"img_{i:02d}.jpg", quality=92)
    return folder, [CLASSES[label] for label in labels]


def settings_for(tmp_path: Path, manifest: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"workers": 2, "ocr": False, "face_backend": "none"}
    return Settings(home=tmp_path / "home", model_manifest=manifest, **{**values, **overrides})


@contextmanager
def serving(settings: Settings, folder: Path | None = None) -> Iterator[FlaskClient]:
    """What `hachi serve --index FOLDER` starts, with a bearer-token test client."""
    with plain_app(settings) as (app, library):
        if folder is not None:
            library.add_folder(str(folder))
        library.start_background()
        library.model_service.start_downloads()
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(settings)}"
        yield client


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status(client: FlaskClient) -> dict[str, Any]:
    answer = client.get("/api/status")
    assert answer.status_code == 200
    return dict(answer.get_json())


def semantic_hits(client: FlaskClient, query: str) -> list[dict[str, Any]] | None:
    answer = client.get("/api/search", query_string={"q": query}).get_json()
    return answer["results"] if answer.get("semantic") and answer["results"] else None


def test_serve_downloads_the_missing_model_then_semantic_search_works(
    tmp_path: Path, mirror: FileServer, photos: tuple[Path, list[tuple[str, str]]]
) -> None:
    manifest = write_manifest(tmp_path / "manifest.toml", mirror, SHAPES, MODEL)
    mirror.behaviour.pause = threading.Event()  # each file stops halfway until released
    folder, labels = photos
    with serving(settings_for(tmp_path, manifest), folder) as client:
        before = wait_for(lambda: _downloading(status(client)), "download progress")
        (record,) = before["downloads"]
        assert record["model"] == MODEL and 0 < record["done_bytes"] < record["total_bytes"]
        assert before["models"]["clip"]["installed"] is False
        assert any(f"until {MODEL} has downloaded" in n for n in before["notices"])
        assert client.get("/api/search", query_string={"q": "img"}).status_code == 200
        mirror.behaviour.pause.set()
        hits = wait_for(lambda: semantic_hits(client, "a red circle"), "semantic results")
        after = status(client)
    assert after["downloads"] == [] and after["features"]["semantic_search"] is True
    clip = after["models"]["clip"]
    assert (clip["name"], clip["source"], clip["installed"]) == (MODEL, "library", True)
    first = int(Path(hits[0]["path"]).stem.split("_")[1])
    assert labels[first] == ("red", "circle")


def _downloading(body: dict[str, Any]) -> dict[str, Any] | None:
    records = body["downloads"]
    return body if records and records[0]["done_bytes"] > 0 else None


def test_a_mirror_that_drops_connections_still_completes(
    tmp_path: Path, mirror: FileServer
) -> None:
    manifest = write_manifest(tmp_path / "manifest.toml", mirror, SHAPES, MODEL)
    for rel in ("visual.onnx", "textual.onnx"):
        mirror.behaviour.drop_once.add(_path(mirror, rel))
    settings = settings_for(tmp_path, manifest)
    with serving(settings) as client:
        wait_for(lambda: status(client)["features"]["semantic_search"], "the model")
    assert [m.name for m in installed_models(settings)] == [MODEL]
    ranges = [r for path, r in mirror.requests if path == _path(mirror, "visual.onnx")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")


def _path(mirror: FileServer, rel: str) -> str:
    return mirrored_url(f"{ORIGIN}/{MODEL}/{rel}").removeprefix(mirror.base)


def test_a_wrong_checksum_leaves_a_notice_and_the_next_start_retries(
    tmp_path: Path, mirror: FileServer, photos: tuple[Path, list[tuple[str, str]]]
) -> None:
    bad = write_manifest(tmp_path / "bad.toml", mirror, SHAPES, MODEL, corrupt={"textual.onnx"})
    settings = settings_for(tmp_path, bad)
    folder, _labels = photos
    with serving(settings, folder) as client:
        failed = wait_for(lambda: _failed(status(client)), "the failure")
        (record,) = failed["downloads"]
        assert "checksum mismatch" in record["error"]
        assert record["command"] == f"hachi models pull {MODEL}"
        notice = next(n for n in failed["notices"] if "failed" in n)
        assert f"retry with: hachi models pull {MODEL}" in notice
        assert installed_models(settings) == []
        job = wait_for(lambda: _finished(status(client)), "the index job")
        assert job["done"] == PHOTOS  # everything but semantic search kept working
        answer = client.get("/api/search", query_string={"q": "img_03"}).get_json()
        assert answer["semantic"] is False and answer["results"]
    write_manifest(tmp_path / "bad.toml", mirror, SHAPES, MODEL)  # the mirror is fixed
    with serving(settings) as client:
        wait_for(lambda: semantic_hits(client, "a blue star"), "semantic results")
        # search can use the model as soon as its files are in place; the record of the
        # download is dropped only after the int8 text tower is made from it
        wait_for(lambda: status(client)["downloads"] == [] or None, "the record dropped")


def _failed(body: dict[str, Any]) -> dict[str, Any] | None:
    records = body["downloads"]
    return body if records and records[0]["state"] == "failed" else None


def _finished(body: dict[str, Any]) -> dict[str, Any] | None:
    job = body["job"]
    return job if job and job["state"] == "done" else None


def test_auto_models_false_downloads_nothing(tmp_path: Path, mirror: FileServer) -> None:
    manifest = write_manifest(tmp_path / "manifest.toml", mirror, SHAPES, MODEL)
    settings = settings_for(tmp_path, manifest, auto_models=False)
    with serving(settings) as client:
        time.sleep(0.5)
        body = status(client)
    assert mirror.requests == [] and installed_models(settings) == []
    assert body["downloads"] == [] and body["models"]["clip"]["installed"] is False
    assert any(f"hachi models pull {MODEL}" in n for n in body["notices"])


def test_the_insightface_pack_is_fetched_when_that_backend_is_chosen(
    tmp_path: Path, mirror: FileServer
) -> None:
    faces = tmp_path / "buffalo"
    faces.mkdir()
    (faces / "det_10g.onnx").write_bytes(b"detector weights")
    (faces / "w600k_r50.onnx").write_bytes(b"embedder weights")
    (faces / "model.json").write_text(
        '{"name": "buffalo_l", "task": "faces", "files": ["det_10g.onnx", "w600k_r50.onnx"],'
        ' "embedding_dim": 512}'
    )
    manifest = write_manifest(tmp_path / "faces.toml", mirror, faces, "buffalo_l")
    settings = settings_for(tmp_path, manifest, face_backend="insightface")
    with serving(settings) as client:
        body = wait_for(lambda: _faces_on(status(client)), "the face models")
    assert {m.name for m in installed_models(settings)} == {"buffalo_l"}
    # the CLIP model is not in this manifest: its failure is recorded, faces still came
    (clip,) = body["downloads"]
    assert clip["model"] == MODEL and "unknown model" in clip["error"]
    assert not any("buffalo_l" in n for n in body["notices"])


def _faces_on(body: dict[str, Any]) -> dict[str, Any] | None:
    return body if body["features"]["faces"] else None


def test_stopping_the_server_stops_the_download_and_the_next_start_resumes(
    tmp_path: Path, mirror: FileServer
) -> None:
    manifest = write_manifest(tmp_path / "manifest.toml", mirror, SHAPES, MODEL)
    mirror.behaviour.pause = threading.Event()
    settings = settings_for(tmp_path, manifest)
    with plain_app(settings) as (_app, library):
        library.model_service.start_downloads()
        wait_for(mirror.behaviour.halfway.is_set, "the first half of a file")
        threading.Timer(0.2, mirror.behaviour.pause.set).start()
        started = time.monotonic()
        library.close()  # what the server does when it stops
        assert time.monotonic() - started < 5
        assert not any(t.name == "hachi-models" for t in threading.enumerate())
        (record,) = library.model_service.downloads()
        assert record["state"] == "stopped" and record["done_bytes"] > 0
    assert installed_models(settings) == []
    (part,) = (settings.models_path / ".partial").rglob("*visual.onnx.part")
    kept = part.stat().st_size
    assert kept == record["done_bytes"]
    with serving(settings) as client:
        wait_for(lambda: status(client)["features"]["semantic_search"], "the model")
    ranges = [r for path, r in mirror.requests if path == _path(mirror, "visual.onnx")]
    # the restart asks only for what was missing (nothing, if the stop came after the
    # last byte of the file: then it is only verified)
    assert ranges[0] is None and ranges[1:] in ([], [f"bytes={kept}-"])
