"""Indexing end to end on real files: new, unchanged, changed, moved, removed, failed."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.indexer.runner import run_next_job
from hachi.library import Library
from hachi.media.thumbnails import GRID, thumbnail_path
from tests.photo_factory import Shot, write_photo


def index(settings: Settings, *folders: Path) -> dict:
    library = Library(settings)
    try:
        for folder in folders:
            library.add_folder(str(folder))
        while run_next_job(settings, library.extractor) is not None:
            pass
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
