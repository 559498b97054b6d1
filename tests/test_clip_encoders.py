"""CLIP encoders on ONNX Runtime, with the committed shapes model as the real graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hachi.errors import BadRequest, ModelUnavailable
from hachi.ml.clip.config import load_config
from hachi.ml.clip.encoders import ClipImageEncoder, ClipModel, ClipTextEncoder, l2_normalize
from hachi.ml.clip.tokenizer import read_merges

MODEL_DIR = Path(__file__).parents[1] / "models" / "test" / "shapes-clip"


def photos() -> list[Image.Image]:
    rng = np.random.default_rng(11)
    sizes = [(90, 60), (48, 48), (120, 200), (70, 71)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


@pytest.fixture(scope="module")
def model() -> ClipModel:
    return ClipModel(MODEL_DIR, threads=1)


def test_image_embeddings_are_unit_rows_in_input_order(model: ClipModel) -> None:
    images = photos()
    vectors = model.encode_images(images)
    assert vectors.shape == (4, model.embed_dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for i, image in enumerate(images):
        assert np.allclose(model.encode_images([image])[0], vectors[i], atol=1e-5)


def test_text_embeddings_are_unit_rows_in_input_order(model: ClipModel) -> None:
    texts = ["a red circle", "a blue star", "a green square"]
    vectors = model.encode_texts(texts)
    assert vectors.shape == (3, model.embed_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(model.encode_texts(texts[::-1])[::-1], vectors, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_empty_inputs_give_empty_matrices(model: ClipModel) -> None:
    assert model.encode_images([]).shape == (0, model.embed_dim)
    assert model.encode_texts([]).shape == (0, model.embed_dim)


def test_preprocessed_batches_can_be_encoded_separately(model: ClipModel) -> None:
    images = photos()
    batch = model.preprocess_batch(images)
    assert batch.shape == (4, 3, *model.config.preprocess.image_size)
    assert np.allclose(model.encode_image_batch(batch), model.encode_images(images), atol=1e-6)


def test_wrong_batch_shape_is_a_bad_request(model: ClipModel) -> None:
    with pytest.raises(BadRequest):
        model.encode_image_batch(np.zeros((1, 3, 10, 10), dtype=np.float32))


def test_image_tower_unloads_when_idle_and_text_tower_stays(model: ClipModel) -> None:
    model.encode_images(photos()[:1])
    model.encode_texts(["a red circle"])
    assert not model.unload_images_if_idle(idle_seconds=3600)
    assert model.image_encoder.loaded
    assert model.unload_images_if_idle(idle_seconds=0)
    assert not model.image_encoder.loaded and model.text_encoder.loaded
    assert model.encode_images(photos()[:1]).shape == (1, model.embed_dim)  # reloads lazily


def test_int8_tower_is_used_only_when_asked_and_agrees(model: ClipModel) -> None:
    int8 = ClipModel(MODEL_DIR, threads=1, int8=True)
    images = photos()
    quantized, reference = int8.encode_images(images), model.encode_images(images)
    assert int8.image_encoder.quantized and not model.image_encoder.quantized
    assert np.mean(np.sum(quantized * reference, axis=1)) > 0.98


def test_int8_request_falls_back_to_float32_when_absent(tmp_path: Path) -> None:
    folder = copy_model(tmp_path)
    (folder / "visual.int8.onnx").unlink()
    encoder = ClipImageEncoder(folder, threads=1, int8=True)
    encoder.ensure_loaded()
    assert not encoder.quantized


def copy_model(tmp_path: Path) -> Path:
    return Path(shutil.copytree(MODEL_DIR, tmp_path / "copy"))


def test_manifest_style_model_json_is_understood(tmp_path: Path, model: ClipModel) -> None:
    """Folders from `hachi models pull` use embedding_dim, bpe_merges and a plain merges.txt."""
    folder = copy_model(tmp_path)
    raw = json.loads((folder / "model.json").read_text())
    vocab = folder / raw["tokenizer"]["vocab_file"]
    merges = read_merges(vocab)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges))
    vocab.unlink()
    for key in ("tokenizer", "arch", "pretrained"):
        raw.pop(key)
    raw["embedding_dim"] = raw.pop("embed_dim")
    raw.update(bpe_merges="merges.txt", open_clip_model="x", open_clip_pretrained="y")
    (folder / "model.json").write_text(json.dumps(raw))
    assert load_config(folder).arch == "x"
    texts = ["a yellow triangle", "a photo of a green star"]
    assert np.allclose(ClipModel(folder).encode_texts(texts), model.encode_texts(texts), atol=1e-6)


def test_missing_or_broken_model_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        ClipModel(tmp_path)
    folder = copy_model(tmp_path)
    (folder / "textual.onnx").unlink()
    encoder = ClipTextEncoder(folder)
    with pytest.raises(ModelUnavailable):
        encoder.predict(["a red circle"])
    assert not encoder.loaded
    (folder / "model.json").write_text(json.dumps({"task": "faces", "name": "x"}))
    with pytest.raises(ModelUnavailable, match="task"):
        load_config(folder)


def test_vocab_larger_than_the_token_table_is_refused(tmp_path: Path) -> None:
    folder = copy_model(tmp_path)
    raw = json.loads((folder / "model.json").read_text())
    raw["vocab_size"] = 100
    (folder / "model.json").write_text(json.dumps(raw))
    with pytest.raises(ModelUnavailable, match="vocab"):
        ClipTextEncoder(folder).predict(["a red circle"])


def test_l2_normalize_leaves_zero_rows_finite() -> None:
    rows = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
