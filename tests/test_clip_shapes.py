"""The committed shapes CLIP finds coloured shapes by text, with ONNX Runtime only.

This is the end-to-end proof that tokenizer, preprocessing, both ONNX towers and the
normalisation fit together: a model trained (tools/train_shapes_clip.py) on drawn shapes
must rank freshly drawn photos (a seed it never saw) correctly for "a red circle" etc.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from hachi.ml.clip.encoders import ClipModel

ROOT = Path(__file__).parents[1]
MODEL_DIR = ROOT / "models" / "test" / "shapes-clip"
FRESH_SEED = 20240601
PHOTOS_PER_CLASS = 6
MIN_ACCURACY = 0.9


def load_shapes_tool() -> ModuleType:
    path = ROOT / "tools" / "train_shapes_clip.py"
    spec = importlib.util.spec_from_file_location("train_shapes_clip", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shapes() -> ModuleType:
    return load_shapes_tool()


@pytest.fixture(scope="module")
def gallery(shapes: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and labels of fresh photos, PHOTOS_PER_CLASS of each class."""
    images, labels = shapes.draw_dataset(PHOTOS_PER_CLASS * len(shapes.CLASSES), FRESH_SEED)
    model = ClipModel(MODEL_DIR, threads=1)
    return model.encode_images(images), labels


def test_text_query_retrieves_its_shape_first(
    shapes: ModuleType, gallery: tuple[np.ndarray, np.ndarray]
) -> None:
    vectors, labels = gallery
    queries = [shapes.caption(colour, shape) for colour, shape in shapes.CLASSES]
    texts = ClipModel(MODEL_DIR, threads=1).encode_texts(queries)
    scores = texts @ vectors.T
    top1 = labels[np.argmax(scores, axis=1)]
    assert np.array_equal(top1, np.arange(len(shapes.CLASSES)))
    # precision of the top PHOTOS_PER_CLASS results, averaged over the queries
    top_k = np.argsort(-scores, axis=1)[:, :PHOTOS_PER_CLASS]
    precision = np.mean(labels[top_k] == np.arange(len(queries))[:, None])
    assert precision >= MIN_ACCURACY


@pytest.mark.parametrize("template", [0, 1, 3])
def test_each_photo_is_closest_to_its_own_caption(
    shapes: ModuleType, gallery: tuple[np.ndarray, np.ndarray], template: int
) -> None:
    vectors, labels = gallery
    captions = [shapes.caption(colour, shape, template) for colour, shape in shapes.CLASSES]
    texts = ClipModel(MODEL_DIR, threads=1).encode_texts(captions)
    predicted = np.argmax(vectors @ texts.T, axis=1)
    assert np.mean(predicted == labels) >= MIN_ACCURACY


def test_colour_and_shape_both_matter(shapes: ModuleType) -> None:
    """'a red circle' must beat both 'a blue circle' and 'a red square' on a red circle."""
    rng = np.random.default_rng(FRESH_SEED + 1)
    images = [shapes.draw_shape("red", "circle", rng) for _ in range(8)]
    model = ClipModel(MODEL_DIR, threads=1)
    scores = (
        model.encode_images(images)
        @ model.encode_texts(["a red circle", "a blue circle", "a red square"]).T
    )
    assert np.mean(np.argmax(scores, axis=1) == 0) >= 0.875


@pytest.mark.parametrize("kind", ["colour", "shape"])
def test_partial_queries_find_every_matching_photo(
    shapes: ModuleType, gallery: tuple[np.ndarray, np.ndarray], kind: str
) -> None:
    """'red' must rank all red photos (any shape) first; 'a circle' all circles (any colour)."""
    vectors, labels = gallery
    model = ClipModel(MODEL_DIR, threads=1)
    names = list(shapes.COLOURS) if kind == "colour" else list(shapes.SHAPES)
    queries = [name if kind == "colour" else f"a {name}" for name in names]
    scores = model.encode_texts(queries) @ vectors.T
    per_value = PHOTOS_PER_CLASS * len(shapes.CLASSES) // len(names)
    for i, name in enumerate(names):
        top = np.argsort(-scores[i])[:per_value]
        matching = [name in shapes.CLASSES[label] for label in labels[top]]
        assert np.mean(matching) >= MIN_ACCURACY, name
