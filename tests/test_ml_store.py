"""The model store on a real temporary directory: install, list, look up, remove."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hachi.config import Settings
from hachi.errors import BadRequest, Conflict, ModelUnavailable, NotFound
from hachi.ml.store import (
    install_model,
    installed_models,
    model_dir,
    model_lock,
    remove_model,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def model_folder(root: Path, name: str = "tiny", **meta: Any) -> Path:
    """A model folder as `hachi models export` would leave it: files plus model.json."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "visual.onnx").write_bytes(os.urandom(1000))
    (root / "tok").mkdir(exist_ok=True)
    (root / "tok" / "merges.txt").write_text("#version: 0.2\na b\n")
    description = {
        "name": name,
        "task": "clip",
        "licence": "MIT",
        "files": ["visual.onnx", "tok/merges.txt"],
        "image_size": 224,
        **meta,
    }
    (root / "model.json").write_text(json.dumps(description))
    return root


def test_install_copies_listed_files_and_lists_the_model(
    settings: Settings, tmp_path: Path
) -> None:
    src = model_folder(tmp_path / "export")
    (src / "scratch.bin").write_bytes(b"not listed")
    installed = install_model(settings, src)
    folder = settings.models_path / "tiny"
    assert installed.path == folder and installed.task == "clip"
    assert (folder / "visual.onnx").read_bytes() == (src / "visual.onnx").read_bytes()
    assert (folder / "tok" / "merges.txt").is_file()
    assert not (folder / "scratch.bin").exists()
    assert installed.source == f"local:{src.resolve()}"
    assert installed.size_bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert installed_models(settings) == [installed]
    assert installed.to_dict() == {
        "name": "tiny",
        "task": "clip",
        "path": str(folder),
        "size_bytes": installed.size_bytes,
        "source": installed.source,
    }
    assert json.loads((folder / "model.json").read_text())["image_size"] == 224


def test_install_under_another_name_rewrites_model_json(settings: Settings, tmp_path: Path) -> None:
    src = model_folder(tmp_path / "export", source="export:open_clip ViT-B-32")
    installed = install_model(settings, src, name="my-clip")
    meta = json.loads((settings.models_path / "my-clip" / "model.json").read_text())
    assert meta["name"] == "my-clip" and installed.name == "my-clip"
    assert installed.source == "export:open_clip ViT-B-32"


def test_reinstall_replaces_the_old_files(settings: Settings, tmp_path: Path) -> None:
    install_model(settings, model_folder(tmp_path / "a"))
    newer = model_folder(tmp_path / "b")
    install_model(settings, newer)
    folder = model_dir(settings, "tiny")
    assert (folder / "visual.onnx").read_bytes() == (newer / "visual.onnx").read_bytes()
    hidden = [p.name for p in settings.models_path.iterdir() if p.name.startswith((".tmp", ".old"))]
    assert hidden == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "model.json").unlink(), "not a model folder"),
        (lambda d: (d / "visual.onnx").unlink(), "listed file 'visual.onnx' is missing"),
        (lambda d: (d / "model.json").write_text("[1, 2]"), "JSON object"),
        (lambda d: (d / "model.json").write_text("{nope"), "not a model folder"),
        (lambda d: _rewrite(d, task="sorting"), "task 'sorting'"),
        (lambda d: _rewrite(d, files=["../../etc/passwd"]), "relative path inside"),
        (lambda d: _rewrite(d, files="visual.onnx"), "list of relative paths"),
        (lambda d: _rewrite(d, name=""), "'name' must be"),
    ],
)
def test_install_refuses_invalid_folders(
    settings: Settings, tmp_path: Path, change: Any, message: str
) -> None:
    src = model_folder(tmp_path / "export")
    change(src)
    with pytest.raises(BadRequest, match=message):
        install_model(settings, src)
    assert installed_models(settings) == []


def _rewrite(folder: Path, **changes: Any) -> None:
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, **changes}))


def test_install_refuses_missing_folder_and_bad_name(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        install_model(settings, tmp_path / "nowhere")
    with pytest.raises(BadRequest, match="invalid model name"):
        install_model(settings, model_folder(tmp_path / "export"), name="../escape")


def test_model_dir_names_the_command_that_installs_a_missing_model(settings: Settings) -> None:
    with pytest.raises(ModelUnavailable) as info:
        model_dir(settings, "ViT-B-32-laion2b")
    assert "`hachi models pull ViT-B-32-laion2b`" in info.value.message
    assert info.value.detail == {
        "model": "ViT-B-32-laion2b",
        "command": "hachi models pull ViT-B-32-laion2b",
    }
    with pytest.raises(ModelUnavailable):
        model_dir(settings, "../home")


def test_broken_and_hidden_folders_are_not_models(settings: Settings, tmp_path: Path) -> None:
    assert installed_models(settings) == []
    install_model(settings, model_folder(tmp_path / "export"))
    broken = settings.models_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text('{"name": "broken", "task": "clip", "files": ["x"]}')
    (settings.models_path / ".partial" / "other").mkdir(parents=True)
    assert [m.name for m in installed_models(settings)] == ["tiny"]
    with pytest.raises(ModelUnavailable):
        model_dir(settings, "broken")


def test_remove_model(settings: Settings, tmp_path: Path) -> None:
    install_model(settings, model_folder(tmp_path / "export"))
    remove_model(settings, "tiny")
    assert installed_models(settings) == []
    assert not (settings.models_path / "tiny").exists()
    with pytest.raises(NotFound):
        remove_model(settings, "tiny")


def test_one_writer_per_model_name(settings: Settings, tmp_path: Path) -> None:
    src = model_folder(tmp_path / "export")
    with model_lock(settings, "tiny"):
        with pytest.raises(Conflict, match="being installed"):
            install_model(settings, src)
        install_model(settings, src, name="other")  # a different name is not blocked
    install_model(settings, src)
    assert [m.name for m in installed_models(settings)] == ["other", "tiny"]
