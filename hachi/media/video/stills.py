"""One frame of a video at a given time: the picture of a moment on the video's page.

The moments strip shows a small picture of each sampled moment. The pictures the indexer
sampled are not kept (only their embeddings are), so the frame is decoded again when the
strip first asks for it: the demuxer seeks to the keyframe at or before the time, and
frames are decoded from there up to the first one at the time, under the same kinds of
bounds as sampling (a wall-clock budget, a frame count, a count of undecodable packets).

Times are those of ``moments``: seconds from the start of the video stream.
"""

from __future__ import annotations

import time
from typing import Any

import av
from PIL import Image

from hachi.errors import UnreadableFile
from hachi.media.video.moments import MAX_BAD_PACKETS, _picture, _rotation, _time_of

MAX_FRAMES_TO_MOMENT = 2_000
"""Frames decoded after the seek at most: keyframes come every few seconds in any camera's
video, so more means the seek failed on a long file; the last frame decoded is used."""
EARLY_S = 0.02
"""A frame starting this much before the time asked for is the frame at that time (times
are rounded to the millisecond when stored)."""


def frame_at(container: Any, at_s: float, min_side: int, budget_s: float) -> Image.Image:
    """The upright picture shown at ``at_s`` in an open container, its shorter side about
    ``min_side``; past the end, the last frame. Raises UnreadableFile when no frame
    decodes within the budget."""
    stream = next(s for s in container.streams.video if s.codec_context is not None)
    stream.thread_type = "AUTO"
    _seek(container, stream, at_s)
    deadline = time.monotonic() + budget_s
    last: Any = None
    frames = bad = 0
    for packet in container.demux(stream):
        if time.monotonic() > deadline:
            break
        try:
            decoded = packet.decode()
        except (av.error.InvalidDataError, av.error.UndefinedError, ValueError):
            bad += 1
            if bad > MAX_BAD_PACKETS:
                break
            continue
        for frame in decoded:
            frames += 1
            last = frame
            if _time_of(frame, frames, stream) >= at_s - EARLY_S:
                return _picture(frame, min_side, _rotation(frame))
        if frames >= MAX_FRAMES_TO_MOMENT:
            break
    if last is None:
        raise UnreadableFile("no video frame could be decoded at that time")
    return _picture(last, min_side, _rotation(last))


def _seek(container: Any, stream: Any, at_s: float) -> None:
    """To the keyframe at or before ``at_s``; a container that cannot seek is decoded from
    its start (it was just opened)."""
    if at_s <= 0 or stream.time_base is None:
        return
    start = int(stream.start_time or 0)
    target = start + int(at_s / float(stream.time_base))
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
    except (av.error.FFmpegError, OverflowError, ValueError):
        return
