"""The insightface backend without its weights (they cannot be downloaded here).

The pure SCRFD pre/post-processing is checked against hand-built outputs; then two tiny
real ONNX graphs with the same signatures as det_*.onnx and w600k_*.onnx, built below,
run the whole backend: the "detector" scores a bright square as a face (score = the mean
brightness of a face-sized window at each anchor) and places five landmarks on it in the
ArcFace layout; the "embedder" average-pools the aligned crop and projects it to 512-d.
What stays untested: the real networks' accuracy and the clustering thresholds for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from hachi.ml.faces.align import ARCFACE_REFERENCE, align_face
from hachi.ml.faces.insightface_backend import InsightFaceBackend
from hachi.ml.faces.scrfd import (
    ANCHORS_PER_CELL,
    STRIDES,
    anchor_centres,
    decode,
    letterbox,
    non_maximum_suppression,
)

FACE = 64  # side of the square "face" the tiny detector is built for, in input pixels
POOL = 16  # the tiny embedder's pooling window on the 112 x 112 crop


def save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def detector_level(stride: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Score, box and landmark outputs of one stride, as N x 1, N x 4 and N x 10."""
    s = str(stride)
    pool = helper.make_node(
        "AveragePool",
        ["red"],
        ["pooled" + s],
        kernel_shape=[FACE, FACE],
        strides=[stride, stride],
        pads=[FACE // 2, FACE // 2, FACE // 2 - stride, FACE // 2 - stride],
    )
    cells = helper.make_node("Transpose", ["pooled" + s], ["cells" + s], perm=[0, 2, 3, 1])
    flat = helper.make_node("Reshape", ["cells" + s, "col"], ["flat" + s])
    pair = helper.make_node("Concat", ["flat" + s, "flat" + s], ["pair" + s], axis=1)
    score = helper.make_node("Reshape", ["pair" + s, "col"], ["score_" + s])
    ones = helper.make_node("Shape", ["score_" + s], ["n" + s])
    box_row = np.full((1, 4), FACE / 2 / stride, dtype=np.float32)
    kps_row = ((ARCFACE_REFERENCE - 56) * FACE / 112 / stride).reshape(1, 10).astype(np.float32)
    box = helper.make_node("Expand", ["boxrow" + s, "shape4_" + s], ["box_" + s])
    kps = helper.make_node("Expand", ["kpsrow" + s, "shape10_" + s], ["kps_" + s])
    take = helper.make_node("Slice", ["n" + s, "zero", "one"], ["rows" + s])
    shape4 = helper.make_node("Concat", ["rows" + s, "four"], ["shape4_" + s], axis=0)
    shape10 = helper.make_node("Concat", ["rows" + s, "ten"], ["shape10_" + s], axis=0)
    inits = [
        numpy_helper.from_array(box_row, "boxrow" + s),
        numpy_helper.from_array(kps_row, "kpsrow" + s),
    ]
    return [pool, cells, flat, pair, score, ones, take, shape4, shape10, box, kps], inits


def build_detector(path: Path, height: int | str, width: int | str) -> Path:
    red = helper.make_node("Slice", ["input.1", "zero", "one", "one"], ["red"])
    nodes, inits = (
        [red],
        [
            numpy_helper.from_array(np.array([0], np.int64), "zero"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array([4], np.int64), "four"),
            numpy_helper.from_array(np.array([10], np.int64), "ten"),
            numpy_helper.from_array(np.array([-1, 1], np.int64), "col"),
        ],
    )
    for stride in STRIDES:
        level_nodes, level_inits = detector_level(stride)
        nodes += level_nodes
        inits += level_inits
    names = [f"{kind}_{s}" for kind in ("score", "box", "kps") for s in STRIDES]
    columns = {"score": 1, "box": 4, "kps": 10}
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, columns[n.split("_")[0]]])
        for n in names
    ]
    image = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, height, width])
    return save(helper.make_graph(nodes, "tiny_scrfd", [image], outputs, inits), path)


def projection() -> np.ndarray:
    features = 3 * (112 // POOL) ** 2
    return np.random.default_rng(42).normal(0, 1, (features, 512)).astype(np.float32)


def build_embedder(path: Path, batch: int | str) -> Path:
    nodes = [
        helper.make_node(
            "AveragePool", ["input.1"], ["pooled"], kernel_shape=[POOL, POOL], strides=[POOL, POOL]
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["683"]),
    ]
    crop = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, [batch, 512])
    inits = [numpy_helper.from_array(projection(), "proj")]
    return save(helper.make_graph(nodes, "tiny_arcface", [crop], [out], inits), path)


def expected_embedding(crop: np.ndarray) -> np.ndarray:
    """What ArcFace's preprocessing + the tiny graph give: RGB, (x - 127.5) / 127.5, CHW."""
    chw = ((crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)
    cells = 112 // POOL
    pooled = chw.reshape(3, cells, POOL, cells, POOL).mean(axis=(2, 4)).reshape(-1)
    vector = pooled @ projection()
    return vector / np.linalg.norm(vector)


def test_letterbox_keeps_aspect_pads_black_and_normalises() -> None:
    pixels = np.zeros((100, 200, 3), dtype=np.uint8)
    pixels[..., 0] = 255  # pure red
    blob, ratio = letterbox(pixels, (640, 640))
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
    assert ratio == pytest.approx(3.2)
    assert blob[0, 0, 10, 10] == pytest.approx((255 - 127.5) / 128)  # R first
    assert blob[0, 2, 10, 10] == pytest.approx(-127.5 / 128)
    assert np.all(blob[0, :, 330:, :] == pytest.approx(-127.5 / 128))  # padding below


def test_anchor_centres_are_row_major_with_paired_anchors() -> None:
    centres = anchor_centres(32, 48, 16)
    assert centres.shape == (2 * 3 * ANCHORS_PER_CELL, 2)
    assert centres[:4].tolist() == [[0, 0], [0, 0], [16, 0], [16, 0]]
    assert centres[6].tolist() == [0, 16]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.95], np.float32)
    assert non_maximum_suppression(boxes, scores, 0.4) == [3, 1, 2]


def test_decode_turns_distances_into_boxes_in_photo_pixels() -> None:
    size, ratio = (64, 64), 0.5
    outputs: list[np.ndarray] = []
    for stride in STRIDES:
        n = (64 // stride) ** 2 * ANCHORS_PER_CELL
        score = np.zeros((1, n, 1), np.float32)  # batch axis kept, as some exports do
        if stride == 16:
            score[0, 2 * 5 + 1] = 0.9  # cell (x=1, y=1), second anchor: centre (16, 16)
        outputs.append(score)
    outputs += [np.ones(((64 // s) ** 2 * 2, 4), np.float32) for s in STRIDES]
    outputs += [np.full(((64 // s) ** 2 * 2, 10), 0.5, np.float32) for s in STRIDES]
    [face] = decode(outputs, size, ratio)
    assert face.box == pytest.approx((0.0, 0.0, 64.0, 64.0))  # (16 +- 16) / 0.5
    assert face.score == pytest.approx(0.9)
    assert np.allclose(face.landmarks, 48.0)  # (16 + 0.5 * 16) / 0.5


@pytest.mark.parametrize(("height", "width"), [("h", "w"), (320, 320)])
def test_backend_finds_aligns_and_embeds_a_face(tmp_path: Path, height, width) -> None:
    detector = build_detector(tmp_path / "det.onnx", height, width)
    backend = InsightFaceBackend(detector, build_embedder(tmp_path / "emb.onnx", "n"))
    original = Image.new("RGB", (1280, 960), (0, 0, 0))
    face_side = 2 * FACE * 640 // (640 if height == "h" else 320)  # FACE px in the input
    face = Image.new("RGB", (face_side, face_side), (250, 180, 120))
    face.paste((90, 40, 200), (face_side // 4, face_side // 4, face_side // 2, face_side // 2))
    original.paste(face, (400, 300))
    half = original.resize((640, 480), Image.Resampling.BILINEAR)
    [found] = backend.predict(half, scale=2.0)
    x, y, w, h = found.box
    tolerance = face_side * 0.15
    assert abs(x - 400) <= tolerance and abs(y - 300) <= tolerance
    assert abs(w - face_side) <= tolerance and abs(h - face_side) <= tolerance
    assert 0.5 <= found.score <= 1.0
    working = np.array(found.landmarks) / 2.0
    crop = align_face(np.asarray(half), working)
    assert np.allclose(found.embedding, expected_embedding(crop), atol=1e-4)
    assert found.embedding.shape == (512,) and found.embedding.dtype == np.float32


def test_fixed_batch_embedder_runs_face_by_face(tmp_path: Path) -> None:
    detector = build_detector(tmp_path / "det.onnx", "h", "w")
    one = InsightFaceBackend(detector, build_embedder(tmp_path / "e1.onnx", 1))
    many = InsightFaceBackend(detector, build_embedder(tmp_path / "en.onnx", "n"))
    one.ensure_loaded()
    many.ensure_loaded()
    chips = np.random.default_rng(3).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    first, second = one.embed(chips), many.embed(chips)
    assert len(first) == len(second) == 3
    for a, b, chip in zip(first, second, chips, strict=True):
        assert np.allclose(a, b, atol=1e-5)
        assert np.allclose(a, expected_embedding(chip), atol=1e-4)


def test_blank_photo_has_no_faces(tmp_path: Path) -> None:
    backend = InsightFaceBackend(
        build_detector(tmp_path / "det.onnx", "h", "w"), build_embedder(tmp_path / "e.onnx", "n")
    )
    assert backend.predict(Image.new("RGB", (800, 600), (10, 10, 10))) == []
