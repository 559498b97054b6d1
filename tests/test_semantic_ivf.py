"""The IVF index as the first pass of semantic search: the shown results must be those of
exact scoring (recall@100 >= 0.99 on a clustered library), and an index that is missing,
stale, damaged or half written must cost speed only, never answers.

The library is 12,000 photo rows whose vectors gather around 80 subjects (sizes falling
off like a power law, ~0.85 cosine to their subject), written through the catalog's and
the vector store's own functions, as the indexer writes them. The index thresholds are
lowered for the small library (built from 1,000 rows, each query reading 20 % of them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from hachi.catalog import analyses
from hachi.catalog.db import connect, transaction
from hachi.catalog.folders import add_folder
from hachi.catalog.photos import PhotoRecord, upsert_photo
from hachi.config import Settings
from hachi.indexer.compaction import compact_all
from hachi.ml.clip.encoders import ClipModel
from hachi.ml.store import install_model, model_dir
from hachi.search.engine import search
from hachi.search.semantic import SemanticIndex
from hachi.vectors import VectorStore, ivf, vector_file

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = 12_000
SUBJECTS = 80
MODEL = "shapes-clip"
LIMIT = 100


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


def subjects(dim: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(21)
    centres = rng.standard_normal((SUBJECTS, dim)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def photos(centres: NDArray[np.float32], count: int, seed: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, SUBJECTS + 1) ** 0.7
    subject = rng.choice(SUBJECTS, count, p=weights / weights.sum())
    spread = 0.6 / np.sqrt(centres.shape[1])  # ~0.85 cosine to the subject
    noise = rng.standard_normal((count, centres.shape[1])).astype(np.float32)
    return centres[subject] + spread * noise


def queries(centres: NDArray[np.float32], count: int = 12) -> list[NDArray[np.float32]]:
    """Near a subject (or between two), with noise of their own, like a description."""
    rng = np.random.default_rng(33)
    out = []
    for i in range(count):
        a, b = rng.choice(SUBJECTS, 2, replace=False)
        subject = centres[a] if i % 3 else (centres[a] + centres[b]) / 2
        q = subject + 0.5 * rng.standard_normal(centres.shape[1]).astype(np.float32) / 8
        out.append((q / np.linalg.norm(q)).astype(np.float32))
    return out


@pytest.fixture
def library(tmp_path: Path) -> Iterator[tuple]:
    settings = Settings.from_env({}, home=tmp_path / "home", clip_model=MODEL, ocr=False)
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / MODEL)
    clip = ClipModel(model_dir(settings, MODEL))
    conn = connect(settings.catalog_path)
    root = str(tmp_path / "photos")
    folder = add_folder(conn, root)
    with transaction(conn):
        ids = [upsert_photo(conn, record(i, folder.id, root), None) for i in range(PHOTOS)]
    centres = subjects(clip.embed_dim)
    committed = analyses.committed_rows(conn, MODEL, clip.embed_dim)
    path = vector_file(settings.vectors_dir, MODEL)
    with VectorStore(path, clip.embed_dim, committed, search_copy=True) as store:
        first = store.append(photos(centres, PHOTOS, 5))
    with transaction(conn):
        analyses.store_vectors(conn, MODEL, ids, first)
    yield conn, clip, settings, centres, ids
    conn.close()


def indexed(clip: ClipModel, settings: Settings) -> SemanticIndex:
    return SemanticIndex(clip, settings.vectors_dir, index_min_rows=1000, probe_min_rows=0)


def ready(index: SemanticIndex, conn) -> None:  # type: ignore[no-untyped-def]
    """Take a snapshot (which starts the background build) and wait for the index."""
    index.snapshot(conn)
    assert index.wait_for_index(120)
    assert index.snapshot(conn).ann is not None


def shown(conn, index: SemanticIndex, q: NDArray[np.float32], text: str = "") -> tuple:  # type: ignore[no-untyped-def]
    result = search(conn, text, limit=LIMIT, semantic=index, query_vector=q).to_dict()
    return [(h["id"], h["score"]) for h in result["results"]], result["first_pass"]


def test_index_finds_what_exact_scoring_shows(library: tuple) -> None:
    conn, clip, settings, centres, _ = library
    fast, exact = indexed(clip, settings), SemanticIndex(clip, settings.vectors_dir)
    ready(fast, conn)
    snap = fast.snapshot(conn)
    assert snap.ann is not None and snap.store is not None
    probe = snap.ann.probe(queries(centres)[0], 0.2, snap.store.int8_kernel())
    assert len(probe.rows) < PHOTOS / 2  # the index really reads a part of the library
    recalls = []
    for q in queries(centres):
        got, first_pass = shown(conn, fast, q)
        want, exact_pass = shown(conn, exact, q)
        assert (first_pass, exact_pass) == ("index", "all")
        assert want
        recalls.append(len({i for i, _ in got} & {i for i, _ in want}) / len(want))
        exact_scores = dict(want)
        common = [(s, exact_scores[i]) for i, s in got if i in exact_scores]
        np.testing.assert_allclose(*zip(*common, strict=True), atol=1e-6)  # shown scores exact
    assert np.mean(recalls) >= 0.99


def test_filters_and_similar_stay_exact(library: tuple) -> None:
    conn, clip, settings, centres, ids = library
    fast, exact = indexed(clip, settings), SemanticIndex(clip, settings.vectors_dir)
    ready(fast, conn)
    for q in queries(centres, 4):
        got, first_pass = shown(conn, fast, q, "camera:canon")
        want, _ = shown(conn, exact, q, "camera:canon")
        assert first_pass == "all" and got == want and got
    example = ids[7]
    got, first_pass = shown(conn, fast, None, f"similar:{example}")  # type: ignore[arg-type]
    want, _ = shown(conn, exact, None, f"similar:{example}")  # type: ignore[arg-type]
    assert first_pass == "index" and example not in {i for i, _ in got}
    assert len({i for i, _ in got} & {i for i, _ in want}) >= 0.99 * len(want)


def test_rows_added_after_the_build_are_found(library: tuple) -> None:
    conn, clip, settings, centres, _ = library
    fast = indexed(clip, settings)
    ready(fast, conn)
    built_rows = fast.snapshot(conn).ann.rows  # type: ignore[union-attr]
    q = queries(centres)[1]
    root = str(settings.home / "more")
    folder = add_folder(conn, root)
    with transaction(conn):
        new = [upsert_photo(conn, record(PHOTOS + i, folder.id, root), None) for i in range(50)]
    path = vector_file(settings.vectors_dir, MODEL)
    committed = analyses.committed_rows(conn, MODEL, clip.embed_dim)
    with VectorStore(path, clip.embed_dim, committed, search_copy=True) as store:
        first = store.append(np.repeat(q[None, :], 50, axis=0))  # the best possible answers
    with transaction(conn):
        analyses.store_vectors(conn, MODEL, new, first)
    got, first_pass = shown(conn, fast, q)
    assert fast.snapshot(conn).ann.rows == built_rows  # type: ignore[union-attr]
    assert first_pass == "index"
    assert {i for i, _ in got[:50]} == set(new)


def test_index_of_other_vectors_is_ignored(library: tuple, tmp_path: Path) -> None:
    """A fingerprint mismatch (the vector file was rewritten) means: score every row."""
    conn, clip, settings, centres, _ = library
    path = vector_file(settings.vectors_dir, MODEL)
    other = photos(centres, PHOTOS, 99)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    ivf.build(path, other.astype(np.float16))
    fast = SemanticIndex(clip, settings.vectors_dir, index_min_rows=10**9)  # no rebuild
    snap = fast.snapshot(conn)
    assert snap.ann is None
    got, first_pass = shown(conn, fast, queries(centres)[0])
    want, _ = shown(conn, SemanticIndex(clip, settings.vectors_dir), queries(centres)[0])
    assert first_pass == "all" and got == want


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_index_is_ignored_then_rebuilt(library: tuple, damage: str) -> None:
    conn, clip, settings, centres, _ = library
    ready(indexed(clip, settings), conn)
    path = ivf.index_path(vector_file(settings.vectors_dir, MODEL))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x07" * len(data))
    else:
        path.write_bytes(b"")
    fast = indexed(clip, settings)
    got, first_pass = shown(conn, fast, queries(centres)[2])
    want, _ = shown(conn, SemanticIndex(clip, settings.vectors_dir), queries(centres)[2])
    assert first_pass == "all" and got == want
    ready(fast, conn)  # the snapshot that found it damaged started a rebuild
    assert shown(conn, fast, queries(centres)[2])[1] == "index"


def test_killed_build_leaves_no_index_or_a_whole_one(library: tuple) -> None:
    conn, clip, settings, _, _ = library
    f16 = vector_file(settings.vectors_dir, MODEL)
    code = (
        "import sys, numpy as np; from pathlib import Path; from hachi.vectors import ivf; "
        f"m = np.memmap(sys.argv[1], dtype=np.float16, mode='r').reshape(-1, {clip.embed_dim}); "
        "ivf.build(Path(sys.argv[1]), m[:int(sys.argv[2])])"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.3, 0.8, 1.5):
        child = subprocess.Popen([sys.executable, "-c", code, str(f16), str(PHOTOS)], env=env)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        index_file = ivf.index_path(f16)
        store = VectorStore(f16, clip.embed_dim, PHOTOS, read_only=True)
        opened = ivf.IvfIndex.open_valid(f16, store.matrix(), PHOTOS)
        assert (opened is None) == (not index_file.exists())
        store.close()
        index_file.unlink(missing_ok=True)


def test_reembedding_and_compaction_rebuild_the_index(library: tuple) -> None:
    conn, clip, settings, centres, ids = library
    fast = indexed(clip, settings)
    ready(fast, conn)
    old_index = ivf.index_path(vector_file(settings.vectors_dir, MODEL))
    # re-embed half the library: new rows at the end, the old ones dead
    again = ids[: PHOTOS // 2]
    path = vector_file(settings.vectors_dir, MODEL)
    committed = analyses.committed_rows(conn, MODEL, clip.embed_dim)
    with VectorStore(path, clip.embed_dim, committed, search_copy=True) as store:
        first = store.append(photos(centres, len(again), 77))
    with transaction(conn):
        analyses.store_vectors(conn, MODEL, again, first)
    exact = SemanticIndex(clip, settings.vectors_dir)
    q = queries(centres)[3]
    got, first_pass = shown(conn, fast, q)
    want, _ = shown(conn, exact, q)
    assert first_pass == "index"  # dead rows skipped, the long tail scored in full
    assert len({i for i, _ in got} & {i for i, _ in want}) >= 0.99 * len(want)
    assert fast.wait_for_index(120)  # the long tail started a rebuild; let it end first
    assert compact_all(conn, settings.vectors_dir) == [MODEL]
    assert not old_index.exists()
    got, first_pass = shown(conn, fast, q)
    assert first_pass == "all"  # the new generation has no index yet
    assert got == shown(conn, exact, q)[0]
    ready(fast, conn)
    assert ivf.index_path(vector_file(settings.vectors_dir, MODEL, 1)).exists()
    got, first_pass = shown(conn, fast, q)
    assert first_pass == "index"
    assert len({i for i, _ in got} & {i for i, _ in want}) >= 0.99 * len(want)


def test_a_video_scores_as_its_best_moment_beside_the_index(library: tuple) -> None:
    """With the index as first pass, a video's moments are still scored (all of them), so
    the moment that shows the query lifts the video to the top and names when it starts."""
    conn, clip, settings, centres, _ = library
    fast, exact = indexed(clip, settings), SemanticIndex(clip, settings.vectors_dir)
    ready(fast, conn)
    q = queries(centres)[2]
    root = str(settings.home / "videos")
    folder = add_folder(conn, root)
    with transaction(conn):
        clip_record = replace(record(PHOTOS + 1, folder.id, root), kind="video", duration_s=10.0)
        video = upsert_photo(conn, clip_record, None)
    far = -q  # the poster and the other moments look like nothing asked for
    moments = np.stack([far, far, far, q, far]).astype(np.float32)
    path = vector_file(settings.vectors_dir, MODEL)
    committed = analyses.committed_rows(conn, MODEL, clip.embed_dim)
    with VectorStore(path, clip.embed_dim, committed, search_copy=True) as store:
        first = store.append(moments)
    with transaction(conn):
        analyses.store_moments(conn, MODEL, video, first, [0.0, 2.0, 4.0, 6.0, 8.0], poster=0)
    for index, first_pass in ((fast, "index"), (exact, "all")):
        result = search(conn, "", limit=LIMIT, semantic=index, query_vector=q).to_dict()
        assert result["first_pass"] == first_pass
        top = result["results"][0]
        assert (top["id"], top["at_s"]) == (video, 6.0)
