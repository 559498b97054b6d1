"""Videos: what their container says (``probe``) and the moments search embeds (``moments``).

``read_video`` is the one door the indexer uses: it opens the file with PyAV, refuses what
cannot be indexed with a reason a person can read, and samples the moments within a
wall-clock budget.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
from PIL import Image

from hachi.errors import UnreadableFile
from hachi.media.video.moments import Moment, Sampled, sample_moments, sample_poster
from hachi.media.video.probe import VideoInfo, describe_container, iso_claimed_length
from hachi.media.video.stills import frame_at

__all__ = [
    "Moment",
    "SampledVideo",
    "VideoInfo",
    "probe_video",
    "read_frame",
    "read_poster",
    "read_video",
]


@dataclass(frozen=True)
class SampledVideo:
    info: VideoInfo  # width and height as displayed (turned upright)
    sampled: Sampled

    @property
    def poster(self) -> Moment:
        return self.sampled.moments[self.sampled.poster]


def probe_video(path: Path) -> VideoInfo:
    """The container facts alone (no frame decoded)."""
    with path.open("rb") as handle, _open(handle) as container:
        return describe_container(container, path.suffix.lower())


def read_video(source: Path | BinaryIO, min_side: int, budget_s: float) -> SampledVideo:
    """Facts and moments of one video; raises UnreadableFile with the reason it is refused.

    ``source`` may be a file the caller opened (and checked is the file it meant), which
    is then all that is read."""
    with _opened(source) as handle, _open(handle) as container:
        info = describe_container(container, _suffix(handle))
        try:
            sampled = sample_moments(container, info.duration_s, min_side, budget_s)
        except (av.error.FFmpegError, MemoryError) as exc:
            raise UnreadableFile(f"the video cannot be decoded: {_reason(exc)}") from None
    if sampled.rotation % 180 == 90:
        info = dataclasses.replace(
            info, width=info.height, height=info.width, rotation=sampled.rotation
        )
    return SampledVideo(info, sampled)


def read_poster(path: Path, min_side: int, budget_s: float) -> Moment:
    """The poster frame alone (a preview, a face or OCR pass): the start of the video is
    decoded, not all of it."""
    with path.open("rb") as handle, _open(handle) as container:
        describe_container(container, path.suffix.lower())
        try:
            return sample_poster(container, min_side, budget_s)
        except (av.error.FFmpegError, MemoryError) as exc:
            raise UnreadableFile(f"the video cannot be decoded: {_reason(exc)}") from None


def read_frame(
    path: Path, at_s: float, min_side: int, budget_s: float, next_s: float | None = None
) -> Image.Image:
    """The picture of the moment at ``at_s`` (the next starting at ``next_s``), decoded
    from the keyframe before it."""
    with path.open("rb") as handle, _open(handle) as container:
        describe_container(container, path.suffix.lower())
        try:
            return frame_at(container, at_s, min_side, budget_s, next_s)
        except (av.error.FFmpegError, MemoryError) as exc:
            raise UnreadableFile(f"the video cannot be decoded: {_reason(exc)}") from None


@contextmanager
def _opened(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """The caller's open file (left open, rewound), or ``source`` opened here."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield handle
    else:
        source.seek(0)
        yield source


def _suffix(handle: BinaryIO) -> str:
    return Path(str(getattr(handle, "name", ""))).suffix.lower()


def _open(handle: BinaryIO) -> av.container.InputContainer:
    size = os.fstat(handle.fileno()).st_size
    if size == 0:
        raise UnreadableFile("zero-byte file")
    try:
        return av.open(handle, mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        claimed = iso_claimed_length(handle)
        if claimed > size:
            raise UnreadableFile(
                f"truncated video: the file ends at {size} bytes, its boxes claim {claimed}"
            ) from None
        raise UnreadableFile(f"not a readable video container: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """FFmpeg's short description, without the path it repeats."""
    message = getattr(exc, "strerror", None) or type(exc).__name__
    return str(message).rstrip(".").lower()
