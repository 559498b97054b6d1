"""hachi.media.video.read_frame on real files encoded by PyAV: the picture at a moment's
time, after a seek, in any container, and refusals in Hachi's own error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hachi.errors import UnreadableFile
from hachi.media.video import read_frame, read_video
from tests.video_factory import shapes_video

SIZE = (192, 144)
SHOTS = [("red", "circle", 3.0), ("blue", "square", 3.0), ("yellow", "star", 3.0)]


def centre(image: Image.Image) -> tuple[int, int, int]:
    """The mean colour of the middle of the picture, where the shape is drawn."""
    w, h = image.size
    middle = np.asarray(image.convert("RGB").crop((w // 3, h // 3, 2 * w // 3, 2 * h // 3)))
    r, g, b = middle.reshape(-1, 3).mean(axis=0)
    return round(r), round(g), round(b)


def colour_of(image: Image.Image) -> str:
    r, g, b = centre(image)
    if b > r + 40 and b > g + 40:
        return "blue"
    if r > 150 and g > 150 and b < 120:
        return "yellow"
    if r > g + 40 and r > b + 40:
        return "red"
    return f"unknown {r, g, b}"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a keyframe every 2 s, as phones write them: the seek lands before the time asked for
    folder = tmp_path_factory.mktemp("stills")
    return shapes_video(folder / "shots.mp4", SHOTS, gop=20)


@pytest.mark.parametrize(("at_s", "colour"), [(0.0, "red"), (3.0, "blue"), (6.5, "yellow")])
def test_the_picture_at_a_time_is_the_shot_then(shots: Path, at_s: float, colour: str) -> None:
    picture = read_frame(shots, at_s, 96, 10)
    assert colour_of(picture) == colour
    assert min(picture.size) == 96


@pytest.mark.parametrize("gop", [None, 20])
def test_every_sampled_moment_gives_its_own_shot(tmp_path: Path, gop: int | None) -> None:
    """Decoded frame by frame (sparse keyframes) a moment starts at the frame sampled; with
    a keyframe every 2 s a cut's moment starts a little early, and its picture is still the
    keyframe after the cut, not the shot before."""
    path = shapes_video(tmp_path / "shots.mp4", SHOTS, gop=gop)
    sampled = read_video(path, 96, 30).sampled.moments
    assert len(sampled) >= len(SHOTS)
    starts = [m.at_s for m in sampled]
    for i, moment in enumerate(sampled):
        following = starts[i + 1] if i + 1 < len(starts) else None
        picture = read_frame(path, moment.at_s, 96, 10, following)
        assert colour_of(picture) == colour_of(moment.image), moment.at_s


def test_a_moment_before_a_cut_shows_the_cut(shots: Path) -> None:
    """From 4 s (blue) the next keyframe, at 6 s, is the yellow star: a new shot."""
    assert colour_of(read_frame(shots, 4.0, 64, 10)) == "yellow"
    assert colour_of(read_frame(shots, 4.0, 64, 10, next_s=5.0)) == "blue"  # not past the next
    assert colour_of(read_frame(shots, 3.5, 64, 10)) == "blue"  # 5.5 s: no cut by then


def test_past_the_end_is_the_last_frame(shots: Path) -> None:
    assert colour_of(read_frame(shots, 60.0, 64, 10)) == "yellow"


def test_other_containers(tmp_path: Path) -> None:
    cases = {
        "shots.webm": ("libvpx", "yuv420p"),
        "shots.mkv": ("mpeg4", "yuv420p"),
        "shots.avi": ("mjpeg", "yuvj420p"),
        "shots.mts": ("mpeg2video", "yuv420p"),
    }
    for name, (codec, pix_fmt) in cases.items():
        path = shapes_video(tmp_path / name, SHOTS[:2], codec=codec, pix_fmt=pix_fmt)
        assert colour_of(read_frame(path, 4.0, 64, 10)) == "blue", name


def test_unreadable_files_are_our_error(tmp_path: Path, shots: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(1).bytes(4096))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(shots.read_bytes()[:2000])
    for path in (noise, empty, cut):
        with pytest.raises(UnreadableFile):
            read_frame(path, 1.0, 64, 10)
