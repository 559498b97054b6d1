"""hachi.media.video on real files encoded by PyAV: facts, moments, poster, and refusals.

Every bad input must end in UnreadableFile with a reason a person can read, quickly: the
refusals are checked by what they say, and the budget by a budget of zero.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from hachi.errors import UnreadableFile
from hachi.media.video import probe_video, read_poster, read_video
from hachi.media.video.moments import (
    KEYFRAMES_ONLY_AFTER_S,
    MAX_MOMENTS,
    MAX_SPACING_S,
    Sampling,
)
from tests.video_factory import black, shape_frame, shapes_video, write_video

SIZE = (192, 144)
APPLE_TAGS = {
    "com.apple.quicktime.creationdate": "2024-05-01T10:20:30+0900",
    "com.apple.quicktime.location.ISO6709": "+35.6586+139.7454+040.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
    "creation_time": "2024-05-01T01:20:30Z",
}


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    return shapes_video(folder / "shots.mp4", [("red", "circle", 3), ("blue", "square", 3)])


def test_facts_of_a_plain_mp4(two_shots: Path) -> None:
    info = probe_video(two_shots)
    assert (info.mime, info.codec, info.width, info.height) == ("video/mp4", "h264", 192, 144)
    assert info.duration_s == pytest.approx(6.0, abs=0.15)
    assert info.frame_rate == pytest.approx(10.0)
    assert info.taken_at is None and info.latitude is None and info.make is None


def test_apple_keys_give_local_time_with_zone_place_and_camera(tmp_path: Path) -> None:
    path = write_video(
        tmp_path / "phone.mov",
        [(shape_frame("green", "star", SIZE, 1), 1.0)],
        metadata=APPLE_TAGS,
        options={"movflags": "use_metadata_tags"},
    )
    info = probe_video(path)
    assert info.mime == "video/quicktime"
    assert (info.taken_at, info.tz_offset) == ("2024-05-01T10:20:30", 9 * 60)
    assert info.taken_source == "com.apple.quicktime.creationdate"
    assert (info.make, info.model) == ("Apple", "iPhone 15")
    assert (info.latitude, info.longitude, info.altitude) == (35.6586, 139.7454, 40.0)


def test_utc_creation_time_is_kept_as_utc(tmp_path: Path) -> None:
    path = write_video(
        tmp_path / "android.mp4",
        [(shape_frame("green", "star", SIZE, 1), 1.0)],
        metadata={"creation_time": "2023-02-03T04:05:06Z", "location": "-33.8568+151.2153/"},
    )
    info = probe_video(path)
    assert (info.taken_at, info.tz_offset, info.taken_source) == (
        "2023-02-03T04:05:06",
        0,
        "creation_time",
    )
    assert (info.latitude, info.longitude, info.altitude) == (-33.8568, 151.2153, None)


def test_each_shot_becomes_a_moment_at_its_start(two_shots: Path) -> None:
    video = read_video(two_shots, 64, budget_s=30)
    starts = [m.at_s for m in video.sampled.moments]
    assert starts[0] == 0.0
    assert any(abs(t - 3.0) <= 0.2 for t in starts), starts
    # never two moments closer than the floor, never a gap over the ceiling
    gaps = np.diff(starts + [6.0])
    assert gaps.min() >= 1.0 and gaps.max() <= MAX_SPACING_S + 0.5
    assert min(video.poster.image.size) == 64


def test_a_long_still_shot_gets_a_moment_every_few_seconds(tmp_path: Path) -> None:
    path = shapes_video(tmp_path / "still.mp4", [("red", "circle", 13)], fps=5)
    starts = [m.at_s for m in read_video(path, 64, 30).sampled.moments]
    assert len(starts) >= 3
    assert max(np.diff(starts + [13.0])) <= MAX_SPACING_S + 0.5


def test_a_black_fade_in_is_not_the_poster(tmp_path: Path) -> None:
    picture = shape_frame("yellow", "square", SIZE, 3)
    path = write_video(tmp_path / "fade.mp4", [(black(SIZE), 2.0), (picture, 3.0)])
    video = read_video(path, 64, 30)
    assert video.sampled.moments[0].at_s == 0.0
    assert video.poster.at_s >= 1.9
    assert np.asarray(video.poster.image).mean() > 40


def test_long_videos_are_sampled_sparsely_and_keyframes_only() -> None:
    two_hours = Sampling.for_duration(2 * 3600)
    assert two_hours.keyframes_only
    assert 2 * 3600 / two_hours.max_spacing_s <= MAX_MOMENTS
    short = Sampling.for_duration(60)
    assert not short.keyframes_only and short.max_spacing_s == MAX_SPACING_S
    assert Sampling.for_duration(KEYFRAMES_ONLY_AFTER_S - 1).keyframes_only is False


def test_other_containers_and_codecs(tmp_path: Path) -> None:
    picture = shape_frame("blue", "circle", SIZE, 4)
    cases = {
        "clip.mkv": ("libx264", "yuv420p", "video/x-matroska"),
        "clip.webm": ("libvpx", "yuv420p", "video/webm"),
        "clip.avi": ("mjpeg", "yuvj420p", "video/x-msvideo"),
        "clip.mts": ("mpeg2video", "yuv420p", "video/mp2t"),
        "clip.3gp": ("mpeg4", "yuv420p", "video/3gpp"),
    }
    for name, (codec, pix_fmt, mime) in cases.items():
        path = write_video(tmp_path / name, [(picture, 1.0)], codec=codec, pix_fmt=pix_fmt)
        video = read_video(path, 64, 30)
        assert video.info.mime == mime, name
        assert (video.info.width, video.info.height) == SIZE, name
        assert video.sampled.moments, name


# -- bad input ----------------------------------------------------------------------------


def refusal(path: Path, budget_s: float = 30) -> str:
    with pytest.raises(UnreadableFile) as caught:
        read_video(path, 64, budget_s)
    return caught.value.message


def test_zero_length(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert refusal(tmp_path / "empty.mp4") == "zero-byte file"


def test_truncated(tmp_path: Path, two_shots: Path) -> None:
    data = two_shots.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    assert refusal(tmp_path / "cut.mp4").startswith("truncated video")


def test_malformed_container(tmp_path: Path) -> None:
    (tmp_path / "noise.mkv").write_bytes(np.random.default_rng(5).bytes(4096))
    assert refusal(tmp_path / "noise.mkv").startswith("not a readable video container")


def test_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert refusal(path) == "no video track in the file (it holds audio)"


def test_unknown_codec(tmp_path: Path, two_shots: Path) -> None:
    data = two_shots.read_bytes()
    at = data.find(b"avc1", data.find(b"stsd"))
    (tmp_path / "odd.mp4").write_bytes(data[:at] + b"zzzz" + data[at + 4 :])
    assert refusal(tmp_path / "odd.mp4") == "the video track uses a codec Hachi cannot decode"


def test_huge_resolution_is_refused_before_decoding(tmp_path: Path) -> None:
    big = Image.new("RGB", (8200, 5000), (90, 90, 90))
    path = write_video(tmp_path / "big.avi", [(big, 0.1)], codec="mjpeg", pix_fmt="yuvj420p")
    assert "8200x5000" in refusal(path)


def test_the_time_budget_ends_decoding(two_shots: Path) -> None:
    assert "longer than the 0 s allowed" in refusal(two_shots, budget_s=0)


def test_corrupt_frames_alone_yield_no_moment(tmp_path: Path, two_shots: Path) -> None:
    data = bytearray(two_shots.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 4 : mdat + 4 + 9000] = np.random.default_rng(7).bytes(9000)
    (tmp_path / "scrambled.mp4").write_bytes(bytes(data))
    try:
        video = read_video(tmp_path / "scrambled.mp4", 64, 30)
    except UnreadableFile as exc:
        assert exc.message.startswith(("no video frame", "the video cannot be decoded"))
    else:  # FFmpeg concealed the damage: what it made of it must still be a sampled video
        assert video.sampled.moments


def test_a_change_of_subject_on_the_same_background_is_a_new_shot(tmp_path: Path) -> None:
    """A whole-frame average would hide it: a quarter of the frame changes, the rest not."""
    from PIL import ImageDraw

    def scene(colour: tuple[int, int, int], left: int) -> Image.Image:
        picture = Image.new("RGB", (320, 180), (120, 130, 125))
        ImageDraw.Draw(picture).ellipse((left, 40, left + 90, 130), fill=colour)
        return picture

    path = write_video(
        tmp_path / "subject.mp4",
        [(scene((220, 30, 30), 30), 2.5), (scene((30, 60, 220), 200), 2.5)],
    )
    starts = [m.at_s for m in read_video(path, 64, 30).sampled.moments]
    assert any(abs(t - 2.5) <= 0.3 for t in starts), starts


def test_with_dense_keyframes_a_cut_is_placed_no_later_than_it_happens(tmp_path: Path) -> None:
    """Keyframes every 0.9 s (no keyframe at the cut): only keyframes are decoded, and the
    moment starts at the keyframe before the one that shows the new shot."""
    path = shapes_video(
        tmp_path / "phone.mp4", [("red", "circle", 3.0), ("blue", "square", 3.0)], gop=9
    )
    starts = [m.at_s for m in read_video(path, 64, 30).sampled.moments]
    assert all(round(t * 10) % 9 == 0 for t in starts), starts  # keyframe times only
    assert any(2.0 <= t <= 3.0 for t in starts), starts


def test_the_poster_alone_skips_the_black_fade_in(tmp_path: Path) -> None:
    picture = shape_frame("yellow", "square", SIZE, 3)
    path = write_video(tmp_path / "fade.mp4", [(black(SIZE), 1.5), (picture, 2.0)])
    poster = read_poster(path, 64, budget_s=30)
    assert 1.4 <= poster.at_s <= 2.0
    assert np.asarray(poster.image).mean() > 40
