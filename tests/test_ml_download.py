"""pull_model against a real HTTP server on 127.0.0.1 that serves generated model files
(tests/model_mirror.py: Range, dropped connections, pauses)."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.config import Settings
from hachi.errors import BadRequest, Conflict, ModelUnavailable, NotFound
from hachi.ml.download import MAX_ATTEMPTS, MIRROR_ENV, mirrored_url, pull_model
from hachi.ml.manifest import ManifestEntry, ModelFile
from hachi.ml.store import PARTIAL_DIR, installed_models, model_dir
from tests.model_mirror import ORIGIN, FileServer

FILE_BYTES = 600_000


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    srv = FileServer()
    srv.thread.start()
    monkeypatch.setenv(MIRROR_ENV, srv.base + "/mirror")
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def blob(seed: int, size: int = FILE_BYTES) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def model_file(name: str, content: bytes, url: str | None = None) -> ModelFile:
    digest = hashlib.sha256(content).hexdigest()
    return ModelFile(name, url or f"{ORIGIN}/repo/{name}", digest, len(content))


def entry(name: str, *files: ModelFile, task: str = "clip") -> dict[str, ManifestEntry]:
    config = {"image_size": 224}
    return {name: ManifestEntry(name, task, files, "MIT", "test model", config)}


def pull(settings: Settings, manifest: dict[str, ManifestEntry], name: str = "m") -> Path:
    pull_model(settings, name, progress=False, manifest=manifest)
    return model_dir(settings, name)


def published(server: FileServer, *pairs: tuple[str, bytes]) -> list[ModelFile]:
    files = [model_file(name, content) for name, content in pairs]
    for f, (_, content) in zip(files, pairs, strict=True):
        server.publish(f.url, content)
    return files


def test_pull_installs_every_file_with_model_json(settings: Settings, server: FileServer) -> None:
    visual, textual = blob(1), blob(2, 123_457)
    files = published(server, ("visual.onnx", visual), ("textual.onnx", textual))
    installed = pull_model(settings, "m", progress=False, manifest=entry("m", *files))
    folder = model_dir(settings, "m")
    assert (folder / "visual.onnx").read_bytes() == visual
    assert (folder / "textual.onnx").read_bytes() == textual
    meta = json.loads((folder / "model.json").read_text())
    assert meta["files"] == ["visual.onnx", "textual.onnx"]
    assert (meta["name"], meta["task"], meta["image_size"]) == ("m", "clip", 224)
    assert meta["source"].startswith("pull:" + server.base)
    on_disk = sum(p.stat().st_size for p in folder.iterdir())
    assert installed.size_bytes == on_disk > len(visual) + len(textual)
    assert [m.name for m in installed_models(settings)] == ["m"]
    assert not (settings.models_path / PARTIAL_DIR / "m").exists()


def test_dropped_connection_resumes_with_a_range_request(
    settings: Settings, server: FileServer
) -> None:
    content = blob(3)
    (f,) = published(server, ("visual.onnx", content))
    server.behaviour.drop_once.add(mirrored_url(f.url).removeprefix(server.base))
    folder = pull(settings, entry("m", f))
    assert (folder / "visual.onnx").read_bytes() == content
    assert server.ranges_for(f.url) == [None, f"bytes={FILE_BYTES // 2}-"]


def test_interrupted_pull_keeps_partial_and_next_pull_resumes(
    settings: Settings, server: FileServer
) -> None:
    content = blob(4)
    (f,) = published(server, ("visual.onnx", content))
    path = mirrored_url(f.url).removeprefix(server.base)
    server.behaviour.drop_always.add(path)
    with pytest.raises(ModelUnavailable, match="interrupted") as info:
        pull(settings, entry("m", f))
    assert info.value.detail["command"] == "hachi models pull m"
    # every automatic attempt resumed where the last one stopped, and each got half the rest
    kept = FILE_BYTES - FILE_BYTES // 2**MAX_ATTEMPTS
    assert server.ranges_for(f.url) == [None, "bytes=300000-", "bytes=450000-"]
    parts = list((settings.models_path / PARTIAL_DIR / "m").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == kept
    assert not (settings.models_path / "m").exists()

    server.behaviour.drop_always.clear()
    server.requests.clear()
    folder = pull(settings, entry("m", f))
    assert (folder / "visual.onnx").read_bytes() == content
    assert server.ranges_for(f.url) == [f"bytes={kept}-"]


def test_server_ignoring_range_restarts_the_file(settings: Settings, server: FileServer) -> None:
    content = blob(5)
    (f,) = published(server, ("visual.onnx", content))
    server.behaviour.drop_once.add(mirrored_url(f.url).removeprefix(server.base))
    server.behaviour.ignore_range = True
    folder = pull(settings, entry("m", f))
    assert (folder / "visual.onnx").read_bytes() == content
    assert server.ranges_for(f.url)[1] == f"bytes={FILE_BYTES // 2}-"


def test_checksum_mismatch_deletes_the_partial(settings: Settings, server: FileServer) -> None:
    (good,) = published(server, ("visual.onnx", blob(6)))
    wrong = ModelFile(good.name, good.url, hashlib.sha256(b"other").hexdigest(), good.size)
    with pytest.raises(ModelUnavailable, match="checksum mismatch") as info:
        pull(settings, entry("m", wrong))
    assert info.value.detail["reason"] == "checksum_mismatch"
    assert not list((settings.models_path / PARTIAL_DIR / "m").iterdir())
    assert not (settings.models_path / "m").exists()


def test_wrong_size_is_refused(settings: Settings, server: FileServer) -> None:
    (good,) = published(server, ("visual.onnx", blob(7)))
    bigger = ModelFile(good.name, good.url, good.sha256, good.size + 10)
    with pytest.raises(ModelUnavailable):
        pull(settings, entry("m", bigger))
    assert installed_models(settings) == []


def test_missing_file_is_a_clear_404(settings: Settings, server: FileServer) -> None:
    absent = model_file("visual.onnx", blob(8))
    with pytest.raises(ModelUnavailable, match="HTTP 404") as info:
        pull(settings, entry("m", absent))
    assert info.value.detail["status"] == 404
    assert not (settings.models_path / "m").exists()


def test_unreachable_host_says_hachi_works_without_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    f = model_file("visual.onnx", blob(9), url=f"http://127.0.0.1:{port}/visual.onnx")
    with pytest.raises(ModelUnavailable) as info:
        pull(settings, entry("m", f))
    message = info.value.message
    assert f"could not reach 127.0.0.1:{port}" in message
    assert "Hachi works without this model; semantic search stays off" in message


def test_model_appears_only_when_every_file_is_verified(
    settings: Settings, server: FileServer
) -> None:
    first, second = blob(10), blob(11)
    f1 = published(server, ("visual.onnx", first))[0]
    f2 = model_file("textual.onnx", second)
    with pytest.raises(ModelUnavailable, match="404"):
        pull(settings, entry("m", f1, f2))
    assert not (settings.models_path / "m").exists()

    server.publish(f2.url, second)
    server.requests.clear()
    folder = pull(settings, entry("m", f1, f2))
    assert (folder / "textual.onnx").read_bytes() == second
    assert server.ranges_for(f1.url) == []  # the verified first file was kept, not refetched


def test_second_pull_of_the_same_model_waits_its_turn(
    settings: Settings, server: FileServer
) -> None:
    content = blob(12)
    (f,) = published(server, ("visual.onnx", content))
    server.behaviour.pause = threading.Event()
    errors: list[BaseException] = []

    def first_pull() -> None:
        try:
            pull(settings, entry("m", f))
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    worker = threading.Thread(target=first_pull)
    worker.start()
    assert server.behaviour.halfway.wait(timeout=10)
    with pytest.raises(Conflict):
        pull(settings, entry("m", f))
    server.behaviour.pause.set()
    worker.join(timeout=20)
    assert errors == []
    assert (model_dir(settings, "m") / "visual.onnx").read_bytes() == content


def test_zip_members_are_extracted_from_one_verified_archive(
    settings: Settings, server: FileServer
) -> None:
    det, rec = blob(13, 50_000), blob(14, 70_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("det.onnx", det)
        archive.writestr("pack/rec.onnx", rec)
        archive.writestr("unused.onnx", b"x")
    pack = buffer.getvalue()
    url, digest = f"{ORIGIN}/release/pack.zip", hashlib.sha256(pack).hexdigest()
    server.publish(url, pack)
    files = (
        ModelFile("det.onnx", url, digest, len(pack), member="det.onnx"),
        ModelFile("rec.onnx", url, digest, len(pack), member="rec.onnx"),
    )
    folder = pull(settings, entry("m", *files, task="faces"))
    assert (folder / "det.onnx").read_bytes() == det
    assert (folder / "rec.onnx").read_bytes() == rec
    assert not (folder / "unused.onnx").exists()
    assert len(server.ranges_for(url)) == 1


def test_pull_again_replaces_the_install(settings: Settings, server: FileServer) -> None:
    old, new = blob(15), blob(16)
    (f_old,) = published(server, ("visual.onnx", old))
    pull(settings, entry("m", f_old))
    (f_new,) = published(server, ("visual.onnx", new))
    folder = pull(settings, entry("m", f_new))
    assert (folder / "visual.onnx").read_bytes() == new
    leftovers = [p.name for p in settings.models_path.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == [] and not any(p.name.startswith(".old-") for p in folder.parent.iterdir())


def test_progress_bar_goes_to_stderr_only_when_asked(
    settings: Settings, server: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (f,) = published(server, ("visual.onnx", blob(17)))
    pull_model(settings, "m", progress=True, manifest=entry("m", f))
    shown = capsys.readouterr()
    assert "m:" in shown.err and "100%" in shown.err and shown.out == ""
    pull_model(settings, "m", progress=False, manifest=entry("m", f))
    assert capsys.readouterr().err == ""


def test_unknown_and_bundled_models_are_refused(settings: Settings) -> None:
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        pull_model(settings, "nope", progress=False, manifest=entry("m", model_file("a", b"a")))
    ocr = {"ocr": ManifestEntry("ocr", "ocr", (), "Apache-2.0", "d", {"bundled_with": "pkg"})}
    with pytest.raises(BadRequest, match="ships inside the pkg package"):
        pull_model(settings, "ocr", progress=False, manifest=ocr)


def test_mirror_maps_host_and_path(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://huggingface.co/org/repo/resolve/abc/visual/model.onnx"
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert mirrored_url(url) == url
    monkeypatch.setenv(MIRROR_ENV, "http://nas.local/models/")
    assert (
        mirrored_url(url)
        == "http://nas.local/models/huggingface.co/org/repo/resolve/abc/visual/model.onnx"
    )
