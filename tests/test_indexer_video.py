"""The indexer's video path (hachi.indexer.extract): the record, the poster thumbnail, the
time budget, a link swapped after the walk, the scan finding videos at all, and videos as
near-duplicates of videos (never of photos)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from hachi.config import Settings
from hachi.indexer.extract import Extractor
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.scan import walk_photos
from hachi.library import Library
from hachi.media.thumbnails import GRID, thumbnail_path
from tests.video_factory import shape_frame, shapes_video


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home", workers=1, ocr=False, face_backend="none")
    settings.ensure_dirs()
    return settings


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    videos.mkdir()
    shapes_video(videos / "clip.MOV", [("green", "star", 1.5)])
    (videos / "voice.m4a").write_bytes(b"not indexed")
    (videos / "clip.mov.part").write_bytes(b"half a download")
    return videos


def test_the_scan_finds_videos_by_extension(settings: Settings, folder: Path) -> None:
    found = [Path(f.path).name for f in walk_photos(folder, FolderRules.for_settings(settings))]
    assert found == ["clip.MOV"]


def test_a_video_record_and_its_poster_thumbnail(settings: Settings, folder: Path) -> None:
    (found,) = walk_photos(folder, FolderRules.for_settings(settings))
    extracted = Extractor(settings).extract(found, 1, str(folder))
    record = extracted.record
    assert record is not None, extracted.error
    assert (record.kind, record.mime, record.codec) == ("video", "video/quicktime", "h264")
    assert record.duration_s == pytest.approx(1.5, abs=0.15)
    assert record.taken_source == "file_mtime"  # no date in the file
    thumb = thumbnail_path(settings.thumbs_dir, record.content_hash, GRID)
    with Image.open(thumb) as image:
        assert image.size == (192, 144)  # the whole frame, never enlarged


def test_the_time_budget_is_a_recorded_reason(settings: Settings, folder: Path) -> None:
    (found,) = walk_photos(folder, FolderRules.for_settings(settings))
    extracted = Extractor(settings, video_budget_s=0).extract(found, 1, str(folder))
    assert extracted.record is None
    assert extracted.error == "decoding took longer than the 0 s allowed"


def test_a_video_replaced_after_the_walk_is_not_read(
    settings: Settings, folder: Path, tmp_path: Path
) -> None:
    (found,) = walk_photos(folder, FolderRules.for_settings(settings))
    other = shapes_video(tmp_path / "other.mov", [("red", "circle", 1.0)])
    video = Path(found.path)
    video.unlink()
    video.symlink_to(other)  # another file where the walk judged this one
    extracted = Extractor(settings).extract(found, 1, str(folder))
    assert extracted.record is None
    assert "replaced while indexing" in (extracted.error or "")


def test_a_re_encoded_video_groups_with_its_original_but_not_with_a_still(
    settings: Settings, tmp_path: Path
) -> None:
    """Videos are fingerprinted by their poster: a smaller re-encode of one is an edited
    copy; a photo of the same picture is not a copy of the video, nor another video one."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    shapes_video(folder / "party.mp4", [("red", "circle", 2.0)])
    shapes_video(folder / "party_small.mp4", [("red", "circle", 2.0)], size=(160, 120), fps=15)
    shapes_video(folder / "other.mp4", [("blue", "square", 2.0)])
    shape_frame("red", "circle", (192, 144), seed=0).save(folder / "still.jpg", quality=92)
    with Library(settings) as lib:
        lib.add_folder(str(folder))
        lib.index_pending(with_models=False)
        groups = lib.duplicates.groups()["groups"]
    assert [sorted(Path(p["path"]).name for p in g["photos"]) for g in groups] == [
        ["party.mp4", "party_small.mp4"]
    ]
    assert groups[0]["kind"] == "edited"
