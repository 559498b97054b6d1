"""CLIP encoders on ONNX Runtime, with the committed shapes model as the real graph."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hachi.errors import BadRequest, ModelUnavailable
from hachi.ml.clip.config import load_config, write_config
from hachi.ml.clip.encoders import (
    MIN_TEXT_TOKENS,
    TEXT_INT8_MIN_COSINE,
    ClipImageEncoder,
    ClipModel,
    ClipTextEncoder,
    l2_normalize,
    trim_tokens,
)
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


# A text tower whose output depends on how many token positions it was fed: it averages
# (token embedding + position embedding) over every position it gets, then projects. Fed a
# trimmed batch it gives the average over the first L positions only, so comparing it
# with numpy at a chosen L shows exactly how many tokens the encoder passed.
PROBE_WIDTH = 16
PROBE_SEED = 7


def probe_weights(vocab_size: int, context_length: int, embed_dim: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(PROBE_SEED)
    return {
        "table": rng.normal(0, 1, (vocab_size, PROBE_WIDTH)).astype(np.float32),
        "positions": rng.normal(0, 1, (context_length, PROBE_WIDTH)).astype(np.float32),
        "projection": rng.normal(0, 1, (PROBE_WIDTH, embed_dim)).astype(np.float32),
    }


def write_probe_graph(path: Path, weights: dict[str, np.ndarray]) -> Path:
    from onnx import TensorProto, helper, numpy_helper, save

    index = {"zero": np.array([0], np.int64), "one": np.array([1], np.int64)}
    nodes = [
        helper.make_node("Gather", ["table", "text"], ["tokens"]),
        helper.make_node("Shape", ["text"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["length"]),
        helper.make_node("Slice", ["positions", "zero", "length", "zero"], ["used"]),
        helper.make_node("Add", ["tokens", "used"], ["summed"]),
        helper.make_node("ReduceMean", ["summed"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["mean", "projection"], ["embedding"]),
    ]
    inits = [numpy_helper.from_array(v, k) for k, v in {**weights, **index}.items()]
    text = helper.make_tensor_value_info("text", TensorProto.INT64, ["batch", "tokens"])
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", None])
    graph = helper.make_graph(nodes, "probe_text", [text], [out], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def probe_embeddings(weights: dict[str, np.ndarray], tokens: np.ndarray, length: int) -> np.ndarray:
    """What the probe graph gives when fed the first ``length`` token positions."""
    used = tokens[:, :length]
    mean = (weights["table"][used] + weights["positions"][:length]).mean(axis=1)
    return l2_normalize(mean @ weights["projection"])


def rewrite_model_json(folder: Path, **changes: object) -> None:
    raw = json.loads((folder / "model.json").read_text())
    raw.update(changes)
    for key in [k for k, v in raw.items() if v is None]:
        raw.pop(key)
    (folder / "model.json").write_text(json.dumps(raw))


@pytest.fixture
def probe(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """The shapes model with the probe as its text tower (and its real int8 quantisation)."""
    from hachi.ml.clip.quantize import quantize_text_tower

    folder = copy_model(tmp_path)
    config = load_config(folder)
    weights = probe_weights(config.vocab_size, config.context_length, config.embed_dim)
    write_probe_graph(folder / "textual.onnx", weights)
    quantize_text_tower(folder)
    rewrite_model_json(
        folder,
        text_trim=True,
        files=[*config.files, "textual.int8.onnx"],
        text_int8_min_cosine=0.999,
    )
    return folder, weights


def end_positions(tokens: np.ndarray, end_id: int) -> list[int]:
    return [int(np.flatnonzero(row == end_id)[0]) for row in tokens]


def test_trimmed_folder_feeds_tokens_up_to_the_batch_s_last_end_token(
    probe: tuple[Path, dict[str, np.ndarray]],
) -> None:
    folder, weights = probe
    encoder = ClipTextEncoder(folder)
    texts = ["a red circle", "a photo of a big blue star"]
    vectors = encoder.predict(texts)
    assert encoder.tokenizer is not None
    full = encoder.tokenizer(texts)
    length = max(end_positions(full, encoder.tokenizer.end_id)) + 1
    assert length < full.shape[1]
    assert encoder.tokens(texts).shape == (2, length)
    assert np.allclose(vectors, probe_embeddings(weights, full, length), atol=1e-5)
    assert not np.allclose(vectors, probe_embeddings(weights, full, full.shape[1]), atol=1e-3)
    alone = encoder.predict(texts[:1])  # a single query is cut at its own end token
    own = end_positions(full[:1], encoder.tokenizer.end_id)[0] + 1
    assert np.allclose(alone, probe_embeddings(weights, full[:1], own), atol=1e-5)


def test_folder_without_text_trim_feeds_all_positions(
    probe: tuple[Path, dict[str, np.ndarray]],
) -> None:
    """Old exports and pulled folders have no key: their graphs may take only full rows."""
    folder, weights = probe
    rewrite_model_json(folder, text_trim=None)
    encoder = ClipTextEncoder(folder)
    texts = ["a red circle", "a green square"]
    vectors = encoder.predict(texts)
    assert encoder.config is not None and not encoder.config.text_trim
    full = encoder.tokens(texts)
    assert full.shape == (2, encoder.config.context_length)
    assert np.allclose(vectors, probe_embeddings(weights, full, full.shape[1]), atol=1e-5)


def test_token_zero_inside_a_text_is_not_taken_for_padding(
    probe: tuple[Path, dict[str, np.ndarray]],
) -> None:
    folder, weights = probe
    encoder = ClipTextEncoder(folder)
    text = "!! a red circle !!"
    vectors = encoder.predict([text])
    assert encoder.tokenizer is not None
    full = encoder.tokenizer([text])
    end = end_positions(full, encoder.tokenizer.end_id)[0]
    assert 0 in full[0, 1:end].tolist(), "the text must hold token 0 ('!') before its end"
    assert end + 1 < full.shape[1], "the text must leave padding to cut"
    assert encoder.tokens([text]).shape == (1, end + 1)
    assert np.allclose(vectors, probe_embeddings(weights, full, end + 1), atol=1e-5)


def test_int8_text_graph_is_used_only_when_asked_and_agrees(
    probe: tuple[Path, dict[str, np.ndarray]],
) -> None:
    folder, _ = probe
    texts = ["a red circle", "a photo of a big blue star", "a yellow triangle"]
    reference, quantized = ClipModel(folder), ClipModel(folder, text_int8=True)
    assert quantized.text_quantized and not reference.text_quantized
    fp32, int8 = reference.encode_texts(texts), quantized.encode_texts(texts)
    assert quantized.text_quantized and quantized.text_encoder.loaded
    cosines = np.sum(fp32 * int8, axis=1)
    assert cosines.min() > 0.99 and not np.allclose(fp32, int8, atol=1e-7)
    (folder / "textual.int8.onnx").unlink()
    fallback = ClipModel(folder, text_int8=True)
    assert not fallback.text_quantized
    assert np.allclose(fallback.encode_texts(texts), fp32, atol=1e-6)


@pytest.mark.parametrize("agreement", [None, 0.99])
def test_int8_text_graph_needs_a_recorded_agreement_above_the_floor(
    probe: tuple[Path, dict[str, np.ndarray]], agreement: float | None
) -> None:
    """A folder that does not say how well its int8 tower agrees, or says too little, is
    queried in float32 even when int8 is asked for."""
    folder, _ = probe
    rewrite_model_json(folder, text_int8_min_cosine=agreement)
    texts = ["a red circle", "a yellow triangle"]
    asked = ClipModel(folder, text_int8=True)
    assert not asked.text_quantized
    np.testing.assert_allclose(
        asked.encode_texts(texts), ClipModel(folder).encode_texts(texts), atol=1e-6
    )
    rewrite_model_json(folder, text_int8_min_cosine=TEXT_INT8_MIN_COSINE)
    assert ClipModel(folder, text_int8=True).text_quantized


def test_a_bad_recorded_agreement_is_refused(probe: tuple[Path, dict[str, np.ndarray]]) -> None:
    folder, _ = probe
    for bad in ("0.999", 3.0, True):
        rewrite_model_json(folder, text_int8_min_cosine=bad)
        with pytest.raises(ModelUnavailable):
            load_config(folder)


def test_trim_tokens_cuts_after_the_last_end_token_of_the_batch() -> None:
    end = 9
    tokens = np.array([[8, 0, 5, end, 0, 0, 0], [8, 3, end, 0, 0, 0, 0]], dtype=np.int64)
    assert trim_tokens(tokens, end).tolist() == tokens[:, :4].tolist()
    assert trim_tokens(tokens[1:], end).tolist() == tokens[1:, :3].tolist()
    assert trim_tokens(np.array([[end, 0, 0]]), end).shape == (1, MIN_TEXT_TOKENS)
    no_end = tokens.copy()
    no_end[1, 2] = 4
    assert trim_tokens(no_end, end).shape == tokens.shape
    assert trim_tokens(np.zeros((0, 7), np.int64), end).shape == (0, 7)


def test_text_trim_is_written_and_read_back(tmp_path: Path) -> None:
    folder = copy_model(tmp_path)
    config = load_config(folder)
    assert not config.text_trim  # the committed folder predates the key
    write_config(dataclasses.replace(config, text_trim=True), folder)
    assert load_config(folder).text_trim
    rewrite_model_json(folder, text_trim="false")
    with pytest.raises(ModelUnavailable, match="text_trim"):
        load_config(folder)
