"""hachi.media.video against ExifTool, field by field: the ExifTool test videos of the shared
corpus (QuickTime, Matroska, M2TS, two AVIs) and phone-like videos made here with PyAV.

As in test_exif_vs_exiftool, every disagreement is listed with its reason and the test
fails on a new one and on a listed one that no longer happens.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hachi.errors import UnreadableFile
from hachi.media.video import VideoInfo, probe_video
from tests.photo_factory import require_corpus
from tests.video_factory import shape_frame, write_video

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus" / "exif"
CORPUS_VIDEOS = ("QuickTime.mov", "Matroska.mkv", "M2TS.mts", "Pentax.avi", "RIFF.avi")
FIELDS = ("width", "height", "frame_rate", "duration_s", "taken_at", "tz_offset", "make",
          "model", "latitude", "longitude", "altitude")  # fmt: skip
RATE_TOLERANCE = 1e-3  # ExifTool keeps AVI's 24.000384 fps; we round to 3 decimals
DURATION_TOLERANCE = 0.05  # seconds: container vs track durations differ by a frame or so
GPS_TOLERANCE = 1e-4  # ISO 6709 strings carry 4 decimals

STRIPPED = "ExifTool's test file keeps the headers but no media samples; FFmpeg measures "
UTC_DATES = "QuickTime/Matroska dates are UTC by specification: we state offset 0, ExifTool none"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("QuickTime.mov", "duration_s"): STRIPPED + "the samples that are left (0.43 s)",
    ("QuickTime.mov", "tz_offset"): UTC_DATES,
    ("Matroska.mkv", "width"): "the 507-byte test file ends before the tracks FFmpeg needs",
    ("Matroska.mkv", "height"): "the 507-byte test file ends before the tracks FFmpeg needs",
    ("Matroska.mkv", "frame_rate"): "the 507-byte test file ends before the tracks",
    ("Matroska.mkv", "duration_s"): "the 507-byte test file ends before the tracks",
    ("Matroska.mkv", "taken_at"): "the 507-byte test file ends before the tracks",
    ("Matroska.mkv", "tz_offset"): "the 507-byte test file ends before the tracks",
    ("QuickTime.mov", "make"): "only in Pentax's own maker atom, which FFmpeg does not expose",
    ("M2TS.mts", "taken_at"): "AVCHD keeps its date in H.264 SEI user data (MDPM), which "
    "FFmpeg does not expose",
    ("M2TS.mts", "tz_offset"): "AVCHD keeps its date and zone in H.264 SEI user data (MDPM)",
    ("M2TS.mts", "make"): "AVCHD's maker code (4113) in MDPM user data, not exposed by FFmpeg",
    ("M2TS.mts", "frame_rate"): "ExifTool states no rate for M2TS; FFmpeg reads 50 fps from "
    "the H.264 stream",
    ("Pentax.avi", "taken_at"): "two dates in the file: FFmpeg reads the IDIT chunk "
    "(12:14:34), ExifTool prefers Pentax's own maker data (12:14:00)",
    ("Pentax.avi", "duration_s"): STRIPPED + "nothing: the stripped index has no frames",
    ("RIFF.avi", "duration_s"): STRIPPED + "nothing: the stripped index has no frames",
    ("made-android.mp4", "tz_offset"): UTC_DATES,
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Videos with the tags phones and cameras write, made with PyAV."""
    folder = tmp_path_factory.mktemp("made")
    picture = shape_frame("red", "square", (160, 120), 1)
    write_video(
        folder / "made-iphone.mov",
        [(picture, 1.0)],
        metadata={
            "com.apple.quicktime.creationdate": "2024-05-01T10:20:30+0900",
            "com.apple.quicktime.location.ISO6709": "+35.6586+139.7454+040.000/",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 15",
            "creation_time": "2024-05-01T01:20:30Z",
        },
        options={"movflags": "use_metadata_tags"},
    )
    write_video(
        folder / "made-android.mp4",
        [(picture, 2.0)],
        fps=30,
        metadata={"creation_time": "2023-02-03T04:05:06Z"},
    )
    write_video(
        folder / "made-mkv.mkv",
        [(picture, 1.5)],
        fps=25,
        metadata={"creation_time": "2022-07-08T09:10:11Z"},
    )
    return folder


def exiftool(paths: list[Path]) -> dict[str, dict[str, Any]]:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not on PATH (CI installs it; apt install libimage-exiftool-perl)")
    out = subprocess.run(
        ["exiftool", "-j", "-n", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    return {Path(r["SourceFile"]).name: r for r in json.loads(out)}


def expected(record: dict[str, Any]) -> dict[str, Any]:
    taken, zone = taken_of(record)
    altitude = record.get("GPSAltitude")
    if altitude is not None and record.get("GPSAltitudeRef") == 1:
        altitude = -altitude
    return {
        "width": record.get("ImageWidth"),
        "height": record.get("ImageHeight"),
        "frame_rate": record.get("VideoFrameRate"),
        "duration_s": seconds(record.get("Duration")),
        "taken_at": taken,
        "tz_offset": zone,
        "make": record.get("Make"),
        "model": record.get("Model"),
        "latitude": record.get("GPSLatitude"),
        "longitude": record.get("GPSLongitude"),
        "altitude": altitude,
    }


def seconds(value: Any) -> float | None:
    """ExifTool's duration: a number, or Matroska's "HH:MM:SS.fraction" tag as written."""
    if value is None or isinstance(value, int | float):
        return value
    hours, minutes, rest = str(value).split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


DATE = re.compile(r"(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?")


def taken_of(record: dict[str, Any]) -> tuple[str | None, int | None]:
    for tag in ("CreationDate", "DateTimeOriginal", "CreateDate"):
        match = DATE.match(str(record.get(tag, "")))
        if match and not match[1].startswith("0000"):
            stamp = "{}-{}-{}T{}:{}:{}".format(*match.groups()[:6])
            zone = match[7]
            if zone is None:
                return stamp, None
            if zone == "Z":
                return stamp, 0
            sign = -1 if zone[0] == "-" else 1
            return stamp, sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
    return None, None


def ours(path: Path) -> dict[str, Any]:
    try:
        info: VideoInfo | None = probe_video(path)
    except UnreadableFile:
        info = None
    return {name: getattr(info, name) if info else None for name in FIELDS}


def agree(name: str, mine: Any, theirs: Any) -> bool:
    if mine is None or theirs is None:
        return mine is None and theirs is None
    if name == "frame_rate":
        return math.isclose(mine, theirs, rel_tol=RATE_TOLERANCE)
    if name == "duration_s":
        return abs(mine - theirs) <= DURATION_TOLERANCE
    if name in ("latitude", "longitude", "altitude"):
        return abs(mine - theirs) <= GPS_TOLERANCE
    return bool(mine == theirs)


def differences(paths: list[Path]) -> dict[tuple[str, str], tuple[Any, Any]]:
    records = exiftool(paths)
    found = {}
    for path in paths:
        theirs = expected(records[path.name])
        mine = ours(path)
        for name in FIELDS:
            if not agree(name, mine[name], theirs[name]):
                found[(path.name, name)] = (mine[name], theirs[name])
    return found


@pytest.fixture(scope="module")
def found(made: Path) -> dict[tuple[str, str], tuple[Any, Any]]:
    corpus = require_corpus(CORPUS)
    paths = [corpus / name for name in CORPUS_VIDEOS] + sorted(made.iterdir())
    return differences(paths)


def test_no_unexplained_difference(found: dict[tuple[str, str], tuple[Any, Any]]) -> None:
    unexplained = {key: value for key, value in found.items() if key not in KNOWN_DIFFERENCES}
    assert unexplained == {}


def test_every_listed_difference_still_happens(
    found: dict[tuple[str, str], tuple[Any, Any]],
) -> None:
    assert sorted(set(KNOWN_DIFFERENCES) - set(found)) == []


def test_the_comparison_covers_real_values(made: Path) -> None:
    """Guard against agreeing on nothing: the phone video's facts are all there."""
    mine = ours(made / "made-iphone.mov")
    assert None not in mine.values()
