"""The shipped manifest is complete and honest; bad manifests fail loudly and precisely."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hachi.config import DEFAULT_CLIP_MODEL
from hachi.errors import HachiError
from hachi.ml.manifest import (
    ManifestEntry,
    ModelFile,
    default_manifest_path,
    load_manifest,
    parse_manifest,
)

REPO_MANIFEST = Path(__file__).parents[1] / "hachi" / "ml" / "manifest.toml"
SHA = "ab" * 32


def test_default_path_is_the_repository_manifest() -> None:
    assert default_manifest_path() == REPO_MANIFEST.resolve()


def test_shipped_manifest_has_clip_faces_and_ocr() -> None:
    manifest = load_manifest()
    tasks = {entry.task for entry in manifest.values()}
    assert {"clip", "faces", "ocr"} <= tasks
    assert DEFAULT_CLIP_MODEL in manifest
    assert manifest["rapidocr-ppocr-v6-small"].bundled_with == "rapidocr"


def test_shipped_downloads_are_pinned_and_checksummed() -> None:
    for entry in load_manifest().values():
        for f in entry.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), f
            assert f.size > 1000, f
            assert "/resolve/main/" not in f.url and "/latest/" not in f.url, f.url
            assert f.url.startswith("https://"), f.url


def test_clip_entries_give_the_loader_what_it_needs() -> None:
    for entry in load_manifest().values():
        if entry.task != "clip":
            continue
        names = {f.name for f in entry.files}
        assert {"visual.onnx", "textual.onnx", entry.config["bpe_merges"]} <= names
        for key in ("image_size", "mean", "std", "embedding_dim", "context_length"):
            assert key in entry.config, (entry.name, key)


def test_insightface_entries_carry_the_non_commercial_licence() -> None:
    faces = [e for e in load_manifest().values() if e.task == "faces"]
    assert faces
    for entry in faces:
        assert "non-commercial" in entry.licence
        assert {entry.config["detector"]["file"], entry.config["embedder"]["file"]} == {
            f.name for f in entry.files
        }


def test_archive_members_count_once_in_the_download_size() -> None:
    pack = ModelFile("det.onnx", "https://h/p.zip", SHA, 100, member="det.onnx")
    rec = ModelFile("rec.onnx", "https://h/p.zip", SHA, 100, member="rec.onnx")
    other = ModelFile("x.onnx", "https://h/x.onnx", SHA, 7)
    entry = ManifestEntry("m", "faces", (pack, rec, other), "MIT", "d", {"k": 1})
    assert entry.download_size == 107
    assert entry.model_json("pull:x") == {
        "name": "m",
        "task": "faces",
        "licence": "MIT",
        "files": ["det.onnx", "rec.onnx", "x.onnx"],
        "source": "pull:x",
        "k": 1,
    }


def good_document() -> dict[str, Any]:
    return {
        "schema": 1,
        "models": {
            "clip-a": {
                "task": "clip",
                "licence": "MIT",
                "description": "test",
                "files": [
                    {"name": "visual.onnx", "url": "https://h/v.onnx", "sha256": SHA, "size": 5}
                ],
                "config": {"image_size": 224},
            }
        },
    }


def test_a_good_document_parses() -> None:
    entry = parse_manifest(good_document())["clip-a"]
    assert entry.files == (ModelFile("visual.onnx", "https://h/v.onnx", SHA, 5),)
    assert entry.config == {"image_size": 224}


def _file(doc: dict[str, Any]) -> dict[str, Any]:
    files: list[dict[str, Any]] = doc["models"]["clip-a"]["files"]
    return files[0]


def _model(doc: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = doc["models"]["clip-a"]
    return model


BREAKAGES = [
    (lambda d: d.update(schema=2), "expected schema = 1"),
    (lambda d: d.update(extra=1), "unknown top-level keys"),
    (lambda d: d.update(models={}), "at least one"),
    (lambda d: _file(d).pop("sha256"), "missing keys \\['sha256'\\]"),
    (lambda d: _file(d).update(sha256=""), "sha256 must be a non-empty"),
    (lambda d: _file(d).update(sha256="AB" * 32), "64 lower-case hex"),
    (lambda d: _file(d).update(sha256="ab" * 31), "64 lower-case hex"),
    (lambda d: _file(d).update(size=0), "positive integer"),
    (lambda d: _file(d).update(size=True), "positive integer"),
    (lambda d: _file(d).update(url="ftp://h/v.onnx"), "must be http"),
    (lambda d: _file(d).update(name="../v.onnx"), "local name"),
    (lambda d: _file(d).update(member="/etc/passwd"), "member must be a relative"),
    (lambda d: _file(d).update(mirror="x"), "unknown keys \\['mirror'\\]"),
    (lambda d: _model(d).update(task="tagging"), "task 'tagging'"),
    (lambda d: _model(d).pop("licence"), "missing keys \\['licence'\\]"),
    (lambda d: _model(d).update(config={"name": "x"}), "may not set \\['name'\\]"),
    (lambda d: _model(d).update(config=[1]), "config must be a table"),
    (lambda d: _model(d).update(files=[]), "at least one \\[\\[files\\]\\]"),
    (lambda d: _model(d)["files"].append(dict(_file(d))), "used twice"),
    (lambda d: _model(d)["config"].update(bundled_with="pkg"), "bundled model lists no files"),
    (lambda d: d["models"].update({"bad name": _model(d)}), "name must match"),
]


@pytest.mark.parametrize(("breakage", "message"), BREAKAGES)
def test_bad_documents_name_the_problem(breakage: Any, message: str) -> None:
    doc = good_document()
    breakage(doc)
    with pytest.raises(HachiError, match=message):
        parse_manifest(doc)


def test_a_url_shared_outside_an_archive_is_refused() -> None:
    doc = good_document()
    twin = dict(_file(doc), name="textual.onnx")
    _model(doc)["files"].append(twin)
    with pytest.raises(HachiError, match="not as archive members"):
        parse_manifest(doc)
    _file(doc)["member"] = "a.onnx"
    twin["member"] = "b.onnx"
    twin["size"] = 6
    with pytest.raises(HachiError, match="different sha256 or size"):
        parse_manifest(doc)


def test_load_manifest_reports_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "manifest.toml"
    broken.write_text("schema = 1\n[models.a\n")
    with pytest.raises(HachiError, match="not valid TOML"):
        load_manifest(broken)
    with pytest.raises(HachiError, match="cannot read"):
        load_manifest(tmp_path / "absent.toml")
    broken.write_text('schema = 1\n[models.a]\ntask = "clip"\n')
    with pytest.raises(HachiError, match=r"manifest.toml: model 'a': missing keys"):
        load_manifest(broken)
