"""Semantic ranking over a library bigger than the cutoff's sample, where the int8 copy
only picks candidates: the answers must be those of exact float16 scoring, photo for photo.

The library is 12,000 photo rows with synthetic vectors (a few tight groups of "relevant"
photos around topic directions, the rest spread out), written through the catalog's and
the vector store's own functions, as the indexer writes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hachi.catalog import analyses
from hachi.catalog.db import connect, transaction
from hachi.catalog.folders import add_folder
from hachi.catalog.photos import PhotoRecord, upsert_photo
from hachi.config import Settings
from hachi.ml.clip.encoders import ClipModel
from hachi.ml.store import install_model, model_dir
from hachi.search import ranking
from hachi.search.engine import search
from hachi.search.semantic import SemanticIndex
from hachi.vectors import VectorStore, vector_file
from hachi.vectors.q8 import copy_paths

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = 12_000
TOPICS = 4
PER_TOPIC = 150
MODEL = "shapes-clip"


def record(i: int, folder_id: int, root: str) -> PhotoRecord:
    camera = ("Canon", "Canon EOS R5") if i % 3 == 0 else ("SONY", "ILCE-7M4")
    return PhotoRecord(
        path=f"{root}/img_{i:05d}.jpg", folder_id=folder_id, dir_path=root, dir_label="photos",
        size=1000, mtime_ns=i, content_hash=f"{i:032x}", mime="image/jpeg", width=400,
        height=300, taken_at=f"20{10 + i % 15}-06-01T12:00:00", tz_offset=None,
        taken_source="DateTimeOriginal", camera_make=camera[0], camera_model=camera[1],
        camera_label=camera[1], lens=None, focal_length=None, aperture=None,
        exposure_time=None, iso=None, latitude=None, longitude=None, altitude=None,
        orientation=1, place=None,
    )  # fmt: skip


def vectors(dim: int, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray]:
    topics = rng.standard_normal((TOPICS, dim)).astype(np.float32)
    rows = rng.standard_normal((PHOTOS, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    for t in range(TOPICS):
        group = slice(t * PER_TOPIC, (t + 1) * PER_TOPIC)
        rows[group] = rows[group] * 0.8 + topics[t] / np.linalg.norm(topics[t])
    return rows, topics


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    base = tmp_path_factory.mktemp("int8")
    settings = Settings.from_env({}, home=base / "home", clip_model=MODEL, ocr=False)
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / MODEL)
    clip = ClipModel(model_dir(settings, MODEL))
    conn = connect(settings.catalog_path)
    root = str(base / "photos")
    folder = add_folder(conn, root)
    with transaction(conn):
        ids = [upsert_photo(conn, record(i, folder.id, root), None) for i in range(PHOTOS)]
    rows, topics = vectors(clip.embed_dim, np.random.default_rng(5))
    committed = analyses.committed_rows(conn, MODEL, clip.embed_dim)
    path = vector_file(settings.vectors_dir, MODEL)
    with VectorStore(path, clip.embed_dim, committed, search_copy=True) as store:
        first = store.append(rows)
    with transaction(conn):
        analyses.store_vectors(conn, MODEL, ids, first)
    yield conn, clip, settings, topics, path
    conn.close()


def queries(topics: NDArray[np.float32]) -> list[NDArray[np.float32]]:
    rng = np.random.default_rng(11)
    found = [t + 0.3 * rng.standard_normal(len(t)).astype(np.float32) for t in topics]
    unrelated = [rng.standard_normal(topics.shape[1]).astype(np.float32) for _ in range(3)]
    return [q / np.linalg.norm(q) for q in found + unrelated]


def answers(conn, index: SemanticIndex, topics, filters: str, more: int) -> list[tuple]:
    out = []
    for q in queries(topics):
        result = search(conn, filters, limit=1000, semantic=index, more=more, query_vector=q)
        out.append([(h["id"], h["score"]) for h in result.to_dict()["results"]])
    return out


@pytest.mark.parametrize(("filters", "more"), [("", 0), ("", 1), ("camera:canon", 0)])
def test_int8_candidates_then_exact_scores_equal_exact_scoring(
    library: tuple, tmp_path: Path, filters: str, more: int
) -> None:
    conn, clip, settings, topics, path = library
    assert PHOTOS > ranking.FIT_SAMPLE  # the sampled path, not the small-library one
    fast = SemanticIndex(clip, settings.vectors_dir)
    try:
        assert fast.snapshot(conn).approximate
        with_copy = answers(conn, fast, topics, filters, more)
    finally:
        fast.close()
    aside = [tmp_path / p.name for p in copy_paths(path)]
    for original, moved in zip(copy_paths(path), aside, strict=True):
        original.rename(moved)
    exact = SemanticIndex(clip, settings.vectors_dir)
    try:
        assert not exact.snapshot(conn).approximate
        without = answers(conn, exact, topics, filters, more)
    finally:
        exact.close()
        for original, moved in zip(copy_paths(path), aside, strict=True):
            moved.rename(original)
    assert [len(a) for a in with_copy] == [len(a) for a in without]
    assert any(0 < len(a) < PHOTOS for a in with_copy)
    for got, want in zip(with_copy, without, strict=True):
        assert [i for i, _ in got] == [i for i, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
