"""Indexing end to end on real files: new, unchanged, changed, moved, removed, failed."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from hachi.catalog import analyses
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.indexer.extract import Extractor
from hachi.indexer.passes import run_pass
from hachi.indexer.pipeline import PHOTOS_PER_COMMIT, Progress
from hachi.indexer.runner import run_next_job
from hachi.indexer.stage_runner import Stopped, StopReason
from hachi.indexer.stages import Stage
from hachi.library import Library
from hachi.media.geocode import Gazetteer, Geocoder, load_gazetteer
from hachi.media.thumbnails import GRID, thumbnail_path
from hachi.ml.store import install_model
from tests.photo_factory import Shot, jpeg_bytes, write_photo


def index(settings: Settings, *folders: Path) -> dict:
    library = Library(settings)
    try:
        for folder in folders:
            library.add_folder(str(folder))
        library.index_pending(with_models=False)
        job = library.current_job()
        assert job is not None
        return library.job_dict(job)
    finally:
        library.close()


def rows(settings: Settings, sql: str, *params: object) -> list[sqlite3.Row]:
    conn = connect(settings.catalog_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_new_files_are_indexed_with_metadata(settings: Settings, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(
        photos / "a.jpg",
        Shot(
            taken="2019:06:01 12:00:00",
            make="NIKON CORPORATION",
            model="NIKON D850",
            lat=48.8584,
            lon=2.2945,
        ),
    )
    write_photo(photos / "sub" / "b.jpg", Shot(taken="2020:01:02 03:04:05", seed=1))
    (photos / "notes.txt").write_text("not a photo")
    job = index(settings, photos)
    assert (job["state"], job["found"], job["done"], job["failed"]) == ("done", 2, 2, 0)
    got = rows(
        settings,
        "SELECT p.name, p.taken_at, c.label, pl.label AS place FROM photos p "
        "LEFT JOIN cameras c ON c.id = p.camera_id LEFT JOIN places pl ON pl.id = p.place_id "
        "ORDER BY p.name",
    )
    assert [tuple(r)[:3] for r in got] == [
        ("a.jpg", "2019-06-01T12:00:00", "Nikon D850"),
        ("b.jpg", "2020-01-02T03:04:05", "Canon EOS 5D Mark IV"),
    ]
    assert "Paris" in got[0]["place"]
    assert len(list((settings.thumbs_dir).rglob("*.grid.webp"))) == 2


def test_rescan_finds_unchanged_changed_moved_and_removed(
    settings: Settings, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    for i in range(4):
        write_photo(photos / f"p{i}.jpg", Shot(seed=i))
    index(settings, photos)
    ids = {r["name"]: r["id"] for r in rows(settings, "SELECT id, name FROM photos")}

    write_photo(photos / "p0.jpg", Shot(seed=100, taken="2001:01:01 00:00:00"))  # changed
    os.utime(photos / "p0.jpg", ns=(1, 1))
    (photos / "moved").mkdir()
    shutil.move(photos / "p1.jpg", photos / "moved" / "p1-renamed.jpg")  # moved
    (photos / "p2.jpg").unlink()  # removed
    write_photo(photos / "p4.jpg", Shot(seed=4))  # new

    job = index(settings, photos)
    assert {k: job[k] for k in ("done", "unchanged", "moved", "removed", "failed")} == {
        "done": 2,
        "unchanged": 1,
        "moved": 1,
        "removed": 1,
        "failed": 0,
    }
    after = {r["name"]: r for r in rows(settings, "SELECT id, name, taken_at FROM photos")}
    assert set(after) == {"p0.jpg", "p1-renamed.jpg", "p3.jpg", "p4.jpg"}
    assert after["p1-renamed.jpg"]["id"] == ids["p1.jpg"], "a moved photo keeps its id"
    assert after["p0.jpg"]["id"] == ids["p0.jpg"], "a changed photo keeps its id"
    assert after["p0.jpg"]["taken_at"] == "2001-01-01T00:00:00"
    fts = rows(settings, "SELECT COUNT(*) FROM photos_fts")[0][0]
    assert fts == 4


BAD_FILES = {
    "zero.jpg": b"",
    "truncated.jpg": None,  # filled in below
    "text.jpg": b"hello, I am not a photo at all\n" * 10,
    "pdf.png": b"%PDF-1.4\n" + b"0" * 200,
}


def test_bad_files_are_recorded_and_never_stop_the_job(settings: Settings, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    good = write_photo(photos / "good.jpg", Shot(size=(400, 300)))
    data = good.read_bytes()
    for name, payload in BAD_FILES.items():
        (photos / name).write_bytes(payload if payload is not None else data[: len(data) // 3])
    png_named_jpg = photos / "really-a-png.jpg"
    from PIL import Image

    Image.new("RGB", (30, 20), "red").save(png_named_jpg, "PNG")
    job = index(settings, photos)
    assert job["state"] == "done"
    assert (job["done"], job["failed"]) == (2, 4)
    failures = {
        Path(r["path"]).name: r["error"] for r in rows(settings, "SELECT * FROM failed_files")
    }
    assert set(failures) == {"zero.jpg", "truncated.jpg", "text.jpg", "pdf.png"}
    assert "zero-byte" in failures["zero.jpg"]
    assert "truncated" in failures["truncated.jpg"].lower()
    assert "not an image" in failures["text.jpg"]
    # A failed file that is fixed gets indexed on the next scan and leaves the failure list.
    (photos / "zero.jpg").write_bytes(data)
    job = index(settings, photos)
    assert (job["done"], job["failed"], job["unchanged"]) == (1, 0, 2 + 3)
    assert len(rows(settings, "SELECT * FROM failed_files")) == 3


def test_hidden_folders_and_symlink_loops_are_safe(settings: Settings, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(photos / "a.jpg")
    write_photo(photos / ".cache" / "hidden.jpg")
    write_photo(photos / ".hidden.jpg")
    (photos / "loop").symlink_to(photos, target_is_directory=True)
    job = index(settings, photos)
    assert (job["found"], job["done"]) == (1, 1)


@pytest.mark.parametrize("bad", ["/etc", "/", "/usr/share", "does/not/exist", "/nonexistent/x"])
def test_bad_folders_are_refused(settings: Settings, bad: str) -> None:
    from hachi.errors import BadRequest

    library = Library(settings)
    try:
        with pytest.raises(BadRequest):
            library.add_folder(bad)
    finally:
        library.close()


def test_a_file_or_hachis_home_is_refused(settings: Settings, tmp_path: Path) -> None:
    from hachi.errors import BadRequest

    photo = write_photo(tmp_path / "x.jpg")
    library = Library(settings)
    try:
        with pytest.raises(BadRequest, match="not a folder"):
            library.add_folder(str(photo))
        with pytest.raises(BadRequest, match="own data"):
            library.add_folder(str(settings.home))
    finally:
        library.close()


def test_camera_sized_photo_gets_an_upright_grid_tile_true_to_the_original(
    settings: Settings, tmp_path: Path
) -> None:
    """Reader threads decode a reduced image and make the tile from it: the tile must still
    be upright, fill the grid size and look like the full-resolution photo."""
    photos = tmp_path / "photos"
    path = write_photo(photos / "portrait.jpg", Shot(size=(2400, 1800), orientation=6, seed=4))
    job = index(settings, photos)
    assert (job["done"], job["failed"]) == (1, 0)
    (row,) = rows(settings, "SELECT width, height, content_hash FROM photos")
    assert (row["width"], row["height"]) == (1800, 2400)
    tile_path = thumbnail_path(settings.thumbs_dir, row["content_hash"], GRID)
    with Image.open(tile_path) as tile, Image.open(path) as original:
        assert tile.size == (240, 320)
        upright = ImageOps.exif_transpose(original).convert("RGB")
        reference = np.asarray(upright.resize(tile.size, Image.Resampling.LANCZOS), float)
        error = np.asarray(tile.convert("RGB"), float) - reference
    assert 10 * np.log10(255**2 / np.mean(error**2)) > 35


def many_photos(folder: Path, count: int) -> Path:
    """``count`` small real JPEGs (and one broken file), more than one commit's worth."""
    folder.mkdir(parents=True)
    data = jpeg_bytes(Shot(size=(32, 24)))
    for i in range(count):
        (folder / f"IMG_{i:04d}.jpg").write_bytes(data)
    (folder / "IMG_9999_broken.jpg").write_bytes(data[:40])
    return folder


def leftovers(settings: Settings, folder_id: int) -> dict[str, int]:
    counts = {}
    for table in ("photos", "failed_files", "dirs"):
        sql = f"SELECT COUNT(*) FROM {table} WHERE folder_id = ?"
        counts[table] = rows(settings, sql, folder_id)[0][0]
    counts["photos_fts"] = rows(
        settings, "SELECT COUNT(*) FROM photos_fts WHERE rowid NOT IN (SELECT id FROM photos)"
    )[0][0]
    return counts


def index_removing_midway(
    settings: Settings, library: Library, folder_id: int
) -> tuple[dict, list[int]]:
    """Runs the queued job; removes ``folder_id`` from the job's own thread after the
    first committed batch, while the next batches are being extracted."""
    removed_at: list[int] = []

    def on_progress(progress: Progress, _current: str | None) -> None:
        if progress.done and not removed_at:
            removed_at.append(progress.done)
            library.remove_folder(folder_id)

    ran = run_next_job(settings, library.extractor, on_progress)
    assert ran is not None
    return library.job_dict(library.get_job(ran[0].id)), removed_at


def test_removing_the_folder_of_a_running_job_cancels_it_cleanly(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photos = many_photos(tmp_path / "photos", PHOTOS_PER_COMMIT * 2 + 10)
    library = Library(settings)
    try:
        folder, _job = library.add_folder(str(photos))
        with caplog.at_level(logging.DEBUG):
            job, removed_at = index_removing_midway(settings, library, folder.id)
        assert removed_at and removed_at[0] < PHOTOS_PER_COMMIT * 2, "removed mid-job"
        assert (job["state"], job["error"]) == ("cancelled", None)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert "IntegrityError" not in caplog.text
        assert library.list_folders() == []
        assert leftovers(settings, folder.id) == dict.fromkeys(
            ("photos", "failed_files", "dirs", "photos_fts"), 0
        )
        assert rows(settings, "SELECT COUNT(*) FROM photos")[0][0] == 0
        assert library.current_job().state == "cancelled"  # type: ignore[union-attr]
    finally:
        library.close()


def test_removing_one_folder_of_a_job_keeps_indexing_the_others(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = many_photos(tmp_path / "first", PHOTOS_PER_COMMIT * 2)
    second = tmp_path / "second"
    for i in range(5):
        write_photo(second / f"s{i}.jpg", Shot(seed=i))
    library = Library(settings)
    try:
        removed, job_a = library.add_folder(str(first))
        kept, job_b = library.add_folder(str(second))
        assert job_a.id == job_b.id, "one queued job covers both folders"
        with caplog.at_level(logging.DEBUG):
            job, removed_at = index_removing_midway(settings, library, removed.id)
        assert removed_at
        assert (job["state"], job["error"], job["folder_ids"]) == ("done", None, [kept.id])
        assert "IntegrityError" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [f.id for f in library.list_folders()] == [kept.id]
        assert leftovers(settings, removed.id)["photos"] == 0
        names = sorted(r[0] for r in rows(settings, "SELECT name FROM photos"))
        assert names == [f"s{i}.jpg" for i in range(5)]
    finally:
        library.close()


def test_deleting_a_folder_through_the_api_while_it_indexes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same, from another thread, as a user clicking Remove during indexing."""
    from tests.server_fixtures import create_token, make_settings, running_app, wait_for_job

    settings = make_settings(tmp_path / "home")
    photos = many_photos(tmp_path / "photos", PHOTOS_PER_COMMIT * 6)
    with caplog.at_level(logging.DEBUG), running_app(settings, background=True) as (app, lib):
        client = app.test_client()
        headers = {"Authorization": f"Bearer {create_token(settings)}"}
        added = client.post("/api/folders", json={"path": str(photos)}, headers=headers)
        folder_id, job_id = added.get_json()["folder"]["id"], added.get_json()["job"]["id"]
        deadline = time.monotonic() + 30
        while lib.get_job(job_id).done == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert lib.get_job(job_id).state == "running"
        assert client.delete(f"/api/folders/{folder_id}", headers=headers).status_code == 204
        job = wait_for_job(client, job_id, headers)
    assert (job["state"], job["error"]) == ("cancelled", None)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert rows(settings, "SELECT COUNT(*) FROM photos")[0][0] == 0
    assert leftovers(settings, folder_id)["failed_files"] == 0


class RemovingStage(Stage):
    """A real stage (its store writes analysis rows) that removes the folder mid-pass,
    as a user would while a slow model pass runs."""

    task = "probe"
    model = "probe-1"
    min_side = 16
    batch_size = 4

    def __init__(self, library: Library, folder_id: int) -> None:
        self.library = library
        self.folder_id = folder_id
        self.batches = 0

    def prepare(self, image: Image.Image) -> Any:
        return image.size

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        self.batches += 1
        if self.batches == 2:
            self.library.remove_folder(self.folder_id)
        return list(prepared)

    def store(self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Any) -> None:
        for pid in photo_ids:
            analyses.record_analysis(conn, pid, self.task, self.model)


def test_removing_a_folder_during_a_model_pass_drops_its_results(
    settings: Settings, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    for i in range(12):
        write_photo(photos / f"p{i}.jpg", Shot(seed=i))
    index(settings, photos)
    library = Library(settings)
    conn = connect(settings.catalog_path)
    try:
        (folder,) = library.list_folders()
        stage = RemovingStage(library, folder.id)
        with pytest.raises(Stopped) as stopped:  # the job had no other folder
            run_pass(conn, library.rescan().id, stage, workers=2)
        assert stopped.value.reason is StopReason.CANCELLED
        assert stage.batches == 2, "the batch in flight was stored without its photos"
        assert rows(settings, "SELECT COUNT(*) FROM photos")[0][0] == 0
        assert rows(settings, "SELECT COUNT(*) FROM analyses")[0][0] == 0
    finally:
        conn.close()
        library.close()


def test_only_a_first_index_loads_the_places_before_its_photos(tmp_path: Path) -> None:
    """The gazetteer (~145 MB, seconds to load) is loaded up front for a folder's first
    index with CLIP on, so its peak and the CLIP tower's never add up; a rescan that finds
    nothing new (one runs at every start) leaves it unloaded."""
    settings = Settings(
        home=tmp_path / "home", workers=1, ocr=False, face_backend="none",
        clip_model="shapes-clip",
    )  # fmt: skip
    settings.ensure_dirs()
    install_model(settings, Path(__file__).resolve().parents[1] / "models/test/shapes-clip")
    photos = tmp_path / "photos"
    for i in range(3):
        write_photo(photos / f"p{i}.jpg", Shot(seed=i))  # no GPS: no lookup loads it either
    loads: list[int] = []

    def counted() -> Gazetteer:
        loads.append(1)
        return load_gazetteer()

    extractor = Extractor(settings, Geocoder(loader=counted))
    with Library(settings) as lib:
        folder, _ = lib.add_folder(str(photos))
        assert lib.models.clip is not None, "CLIP is on, so the scan embeds inline"
        while run_next_job(settings, extractor, models=lib.models):
            pass
        assert len(loads) == 1
        lib.rescan([folder.id])
        while run_next_job(settings, extractor, models=lib.models):
            pass
    assert len(loads) == 1, "an unchanged rescan did not load the places"


class ThreadStage(Stage):
    """A real stage that notes which thread runs it and what it stored."""

    task = "threads"
    model = "threads-1"
    min_side = 16
    batch_size = 4

    def __init__(self, on_readers: bool) -> None:
        self.on_readers = on_readers
        self.run_on: list[str] = []
        self.stored: list[tuple[int, tuple[int, int]]] = []

    def prepare(self, image: Image.Image) -> Any:
        return image.size

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        self.run_on += [threading.current_thread().name] * len(prepared)
        return list(prepared)

    def store(self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Any) -> None:
        for pid, result in zip(photo_ids, results, strict=True):
            self.stored.append((pid, result))
            analyses.record_analysis(conn, pid, self.task, self.model)


@pytest.mark.parametrize("on_readers", [True, False])
def test_a_pass_runs_a_reader_stage_on_its_reader_threads(
    settings: Settings, tmp_path: Path, on_readers: bool
) -> None:
    """Faces and OCR run one photo at a time on the pass's reader threads, where they decode
    (so both cores work); other stages run in batches on the calling thread. Either way
    every photo's result is stored once."""
    photos = tmp_path / "photos"
    for i in range(10):
        write_photo(photos / f"p{i}.jpg", Shot(seed=i))
    index(settings, photos)
    stage = ThreadStage(on_readers)
    conn = connect(settings.catalog_path)
    try:
        with Library(settings) as library:
            assert run_pass(conn, library.rescan().id, stage, workers=2) == 10
    finally:
        conn.close()
    readers = {name for name in stage.run_on if name.startswith("hachi-threads")}
    if on_readers:
        assert len(stage.run_on) == 10 and readers == set(stage.run_on)
    else:
        assert stage.run_on == [threading.current_thread().name] * 10
    assert sorted(pid for pid, _ in stage.stored) == [
        row[0] for row in rows(settings, "SELECT id FROM photos ORDER BY id")
    ]
    assert all(size[0] > 0 and size[1] > 0 for _, size in stage.stored)
