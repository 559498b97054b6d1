"""`hachi models ...` and `hachi embed`, run in-process through the real entry point."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from hachi.cli import main
from hachi.ml.clip.encoders import TEXT_INT8_MIN_COSINE, ClipModel
from hachi.ml.sessions import int8_products_saturate

MODEL_DIR = Path(__file__).parents[1] / "models" / "test" / "shapes-clip"


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--home", str(home)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A Hachi home with the shapes model installed as 'shapes' through the CLI."""
    home = tmp_path / "home"
    code, out, _ = run(capsys, home, "models", "install", str(MODEL_DIR), "--name", "shapes")
    assert code == 0 and "shapes" in out
    return home


def test_install_then_list_shows_the_model(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, home, "models", "list", "--json")
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["name"] == "shapes" and entry["task"] == "clip"
    assert entry["size_bytes"] == sum(p.stat().st_size for p in Path(entry["path"]).iterdir())
    code, out, _ = run(capsys, home, "models", "list")
    assert code == 0 and out.startswith("shapes\tclip\t")


def test_embed_text_prints_unit_vectors_in_input_order(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = ["a red circle", "a blue star"]
    code, out, _ = run(capsys, home, "embed", "--model", "shapes", "--text", *texts, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["model"] == "shapes"
    vectors = np.array(result["embeddings"], dtype=np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, ClipModel(MODEL_DIR).encode_texts(texts), atol=1e-6)


def test_embed_images_from_files(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location(
        "shapes_tool", Path(__file__).parents[1] / "tools" / "train_shapes_clip.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(5)
    paths = []
    for i, (colour, shape) in enumerate([("red", "circle"), ("blue", "star")]):
        path = tmp_path / f"photo{i}.png"
        tool.draw_shape(colour, shape, rng).save(path)
        paths.append(str(path))
    code, out, _ = run(capsys, home, "embed", "--model", "shapes", "--image", *paths, "--json")
    assert code == 0
    images = np.array(json.loads(out)["embeddings"], dtype=np.float32)
    texts = ClipModel(MODEL_DIR).encode_texts(["a red circle", "a blue star"])
    assert np.argmax(images @ texts.T, axis=1).tolist() == [0, 1]


def test_embed_unreadable_image_is_a_user_error(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = run(capsys, home, "embed", "--model", "shapes", "--image", str(broken), "--json")
    assert code == 2 and "hachi:" in err
    code, _, err = run(capsys, home, "embed", "--model", "shapes", "--image", "/nonexistent.jpg")
    assert code == 2 and "nonexistent" in err


def test_embed_with_a_missing_model_names_the_install_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, tmp_path / "empty", "embed", "--model", "nope", "--text", "x")
    assert code != 0 and "hachi models pull nope" in err


def test_remove_then_list_is_empty(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, home, "models", "remove", "shapes")[0] == 0
    code, out, _ = run(capsys, home, "models", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, home, "models", "remove", "shapes")
    assert code == 2 and "shapes" in err


def test_install_rejects_a_folder_without_model_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junk").mkdir()
    code, _, err = run(capsys, tmp_path / "home", "models", "install", str(tmp_path / "junk"))
    assert code == 2 and "model" in err


def test_embed_needs_exactly_one_kind_of_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", "--text", "a", "--image", "b.jpg"])
    assert exit_info.value.code == 2
    capsys.readouterr()


def test_export_without_torch_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here; the export path is covered by test_clip_parity")
    out_dir = tmp_path / "out"
    code, _, err = run(
        capsys,
        tmp_path / "home",
        "models",
        "export",
        "ViT-B-32",
        "--pretrained",
        "openai",
        "--out",
        str(out_dir),
    )
    assert code != 0 and "hachi[export]" in err


def test_pull_of_an_unknown_model_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, tmp_path / "home", "models", "pull", "no-such-model", "--quiet")
    assert code == 2 and "no-such-model" in err and "ViT-B-32-256-datacomp" in err


def test_embed_text_is_float32_unless_int8_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain `embed --text` is the float32 reference; `--int8` uses the int8 text tower."""
    from hachi.ml.clip.config import load_config
    from hachi.ml.clip.quantize import add_text_int8

    folder = Path(shutil.copytree(MODEL_DIR, tmp_path / "shapes"))
    agreement = add_text_int8(folder, ["a red circle", "a blue star"])
    assert 0.99 < agreement < 1.0  # measured on the int8 graph, not float32 against itself
    assert load_config(folder).text_int8_min_cosine == round(agreement, 6)
    home = tmp_path / "home"
    assert run(capsys, home, "models", "install", str(folder), "--name", "shapes")[0] == 0
    texts = ["a red circle", "a photo of a blue star"]
    outputs = {}
    for flags in ((), ("--int8",)):
        code, out, _ = run(capsys, home, "embed", "--model", "shapes", *flags, "--text", *texts)
        assert code == 0
        outputs[flags] = np.array(json.loads(out)["embeddings"], dtype=np.float32)
    int8_model = ClipModel(folder, text_int8=True)
    assert int8_model.text_quantized
    assert np.allclose(outputs[()], ClipModel(folder).encode_texts(texts), atol=1e-6)
    assert np.allclose(outputs[("--int8",)], int8_model.encode_texts(texts), atol=1e-6)
    assert not np.allclose(outputs[()], outputs[("--int8",)], atol=1e-6)


def test_embed_help_says_what_int8_covers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "visual.int8.onnx" in help_text and "textual.int8.onnx" in help_text


def test_quantize_adds_measured_int8_towers_to_an_installed_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder installed as ONNX only (like a pulled one) gets int8 towers in a new folder
    swapped in whole; model.json keeps its source and records the measured agreement."""
    home = tmp_path / "home"
    assert run(capsys, home, "models", "install", str(MODEL_DIR), "--name", "shapes")[0] == 0
    folder = home / "models" / "shapes"
    before = json.loads((folder / "model.json").read_text())
    assert not ClipModel(folder, text_int8=True).text_quantized
    code, out, _ = run(capsys, home, "models", "quantize", "shapes", "--image", "--json")
    assert code == 0
    report = json.loads(out)
    after = json.loads((folder / "model.json").read_text())
    assert after["source"] == before["source"]
    added = {"textual.int8.onnx", "visual.int8.onnx"}
    assert sorted(after["files"]) == sorted(set(before["files"]) | added)
    assert after["text_int8_min_cosine"] == round(report["text_int8_min_cosine"], 6)
    assert 0.99 < report["text_int8_min_cosine"] < 1.0
    assert 0.999 < report["image_int8_mean_cosine"] < 1.0
    low, high = _weight_range(folder / "visual.int8.onnx")
    assert -64 <= low and high <= 64, "7-bit weights: 2 x 255 x 64 fits 16 bits on every CPU"
    low, high = _weight_range(folder / "textual.int8.onnx")
    seven_bits = -64 <= low and high <= 64
    assert seven_bits == int8_products_saturate(), "the text tower: 8 bits unless they saturate"
    model = ClipModel(folder, int8=True, text_int8=True)
    assert model.text_quantized == (report["text_int8_min_cosine"] >= TEXT_INT8_MIN_COSINE)
    texts = ["a red circle", "a blue star"]
    cosines = np.sum(model.encode_texts(texts) * ClipModel(folder).encode_texts(texts), axis=1)
    assert cosines.min() >= report["text_int8_min_cosine"] - 1e-3
    # again, text only: the image tower made before stays listed and on disk
    assert run(capsys, home, "models", "quantize", "shapes")[0] == 0
    again = json.loads((folder / "model.json").read_text())
    assert sorted(again["files"]) == sorted(after["files"])
    assert all((folder / f).is_file() for f in again["files"])


def _weight_range(graph: Path) -> tuple[int, int]:
    """The least and greatest int8 weight of a quantised graph."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(graph))
    weights = [
        numpy_helper.to_array(tensor)
        for tensor in model.graph.initializer
        if tensor.data_type == onnx.TensorProto.INT8 and len(tensor.dims) == 2
    ]
    assert weights, "the graph has int8 weight matrices"
    return min(int(w.min()) for w in weights), max(int(w.max()) for w in weights)


def test_quantize_refuses_what_it_cannot_quantize(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    code, _, err = run(capsys, home, "models", "quantize", "nothing-here")
    assert code != 0 and "nothing-here" in err


def test_quantize_after_pull_reports_instead_of_failing(tmp_path: Path) -> None:
    """The step `models pull` runs after a CLIP download: a sentence either way."""
    from hachi.config import Settings
    from hachi.ml.clip.optimize import quantize_after_pull
    from hachi.ml.store import install_model

    settings = Settings.from_env({}, home=tmp_path / "home")
    install_model(settings, MODEL_DIR, name="good")
    said = quantize_after_pull(settings, "good")
    assert said.startswith("queries use an int8 text tower"), said
    assert "int8 image tower made" in said
    good = ClipModel(settings.models_path / "good", text_int8=True)
    assert good.text_quantized and good.has_image_int8
    broken = Path(shutil.copytree(MODEL_DIR, tmp_path / "broken"))
    (broken / "textual.onnx").write_bytes(b"not an onnx graph")
    install_model(settings, broken, name="broken")
    said = quantize_after_pull(settings, "broken")
    assert said.startswith("queries and indexing stay on the float32 towers"), said
    assert not (settings.models_path / "broken" / "textual.int8.onnx").exists()
    # an image graph the quantiser cannot read costs the image tower only
    no_image = Path(shutil.copytree(MODEL_DIR, tmp_path / "no-image"))
    (no_image / "visual.onnx").write_bytes(b"not an onnx graph")
    install_model(settings, no_image, name="no-image")
    said = quantize_after_pull(settings, "no-image")
    assert said.startswith("queries use an int8 text tower") and "no int8 image tower" in said
    folder = settings.models_path / "no-image"
    assert (folder / "textual.int8.onnx").is_file()
    assert not (folder / "visual.int8.onnx").exists()
    assert "visual.int8.onnx" not in json.loads((folder / "model.json").read_text())["files"]


def _status(capsys: pytest.CaptureFixture[str], home: Path) -> dict:
    code, out, _ = run(capsys, home, "status", "--json")
    assert code == 0
    return dict(json.loads(out))


def test_the_first_clip_model_installed_becomes_the_librarys(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = _status(capsys, home)["models"]["clip"]
    assert (clip["name"], clip["source"], clip["installed"]) == ("shapes", "library", True)
    code, out, _ = run(capsys, home, "models", "install", str(MODEL_DIR), "--name", "other")
    assert code == 0 and "active CLIP model: shapes" in out
    assert _status(capsys, home)["models"]["clip"]["name"] == "shapes"
    code, out, _ = run(capsys, home, "status")
    assert "CLIP model: shapes (the library's choice; installed)" in out


def test_models_use_switches_the_model_and_re_embeds(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = _shape_photos(tmp_path)
    assert run(capsys, home, "models", "install", str(MODEL_DIR), "--name", "other")[0] == 0
    assert run(capsys, home, "index", str(photos), "--quiet")[0] == 0
    code, out, _ = run(capsys, home, "models", "use", "other")
    assert code == 0 and "active CLIP model: other" in out and "embedding" in out
    assert _status(capsys, home)["models"]["clip"]["name"] == "other"
    assert run(capsys, home, "index", str(photos), "--quiet")[0] == 0  # runs the queued job
    code, out, _ = run(capsys, home, "search", "a", "red", "circle", "--json")
    result = json.loads(out)
    assert code == 0 and result["semantic"] is True and result["model"] == "other"
    assert Path(result["results"][0]["path"]).name == "red-circle.png"
    code, out, _ = run(capsys, home, "models", "use", "other", "--json")
    assert code == 0 and json.loads(out)["job"] is None  # already active: nothing to redo


def _shape_photos(tmp_path: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "shapes_tool", Path(__file__).parents[1] / "tools" / "train_shapes_clip.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(11)
    folder = tmp_path / "photos"
    folder.mkdir()
    for colour, shape in [("red", "circle"), ("blue", "star"), ("green", "square")]:
        tool.draw_shape(colour, shape, rng).save(folder / f"{colour}-{shape}.png")
    return folder


def test_hachi_clip_model_overrides_the_librarys_choice(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, home, "models", "install", str(MODEL_DIR), "--name", "other")[0] == 0
    monkeypatch.setenv("HACHI_CLIP_MODEL", "other")
    clip = _status(capsys, home)["models"]["clip"]
    assert (clip["name"], clip["source"], clip["overridden"]) == ("other", "environment", True)
    assert clip["library_choice"] == "shapes"
    code, out, _ = run(capsys, home, "models", "use", "shapes")
    assert code == 0 and "HACHI_CLIP_MODEL overrides the library's shapes" in out
    code, out, _ = run(capsys, home, "status")
    assert "other (set by HACHI_CLIP_MODEL, overriding the library's shapes" in out


def test_models_use_refuses_unknown_and_non_clip_models(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, home, "models", "use", "nope")
    assert code == 2 and "not installed" in err and "hachi models pull nope" in err
    faces = tmp_path / "faces"
    faces.mkdir()
    (faces / "w.onnx").write_bytes(b"weights")
    (faces / "model.json").write_text('{"name": "f", "task": "faces", "files": ["w.onnx"]}')
    assert run(capsys, home, "models", "install", str(faces))[0] == 0
    code, _, err = run(capsys, home, "models", "use", "f")
    assert code == 2 and "not a CLIP model" in err
    assert _status(capsys, home)["models"]["clip"]["name"] == "shapes"


def test_status_shows_a_download_that_another_process_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hachi.catalog.db import connect
    from hachi.catalog.model_settings import DownloadRecord, put_download
    from hachi.config import DEFAULT_CLIP_MODEL, Settings

    home = tmp_path / "home"
    conn = connect(Settings(home=home).catalog_path)
    command = f"hachi models pull {DEFAULT_CLIP_MODEL}"
    record = DownloadRecord(
        DEFAULT_CLIP_MODEL, "clip", "downloading", 3 << 20, 12 << 20, None, command, time.time()
    )
    put_download(conn, record)
    code, out, _ = run(capsys, home, "status")
    assert code == 0 and "(Hachi's default; downloading, 3 of 12 MiB)" in out
    assert f"semantic search is off until {DEFAULT_CLIP_MODEL} has downloaded (3 of 12 MiB)" in out
    put_download(conn, dataclasses.replace(record, state="failed", error="could not reach x"))
    conn.close()
    code, out, _ = run(capsys, home, "status")
    assert f"download failed; retry with: {command}" in out
    assert "could not reach x" in out
    assert run(capsys, home, "models", "install", str(MODEL_DIR), "--name", "shapes")[0] == 0
    status = _status(capsys, home)  # the library now uses shapes: that failure is old news
    assert status["models"]["clip"]["name"] == "shapes" and status["downloads"] == []


def test_removing_the_active_model_says_what_happens_next(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, home, "models", "remove", "shapes")
    assert code == 0 and "was the library's CLIP model" in err and "hachi models use" in err
