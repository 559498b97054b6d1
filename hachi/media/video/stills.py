"""One frame of a video at a given time: the picture of a moment on the video's page.

The moments strip shows a small picture of each sampled moment. The pictures the indexer
sampled are not kept (only their embeddings are), so the frame is decoded again when the
strip first asks for it: the demuxer seeks to the keyframe at or before the time, and
frames are decoded from there up to the first one at the time, under the same kinds of
bounds as sampling (a wall-clock budget, a frame count, a count of undecodable packets).

A moment found from keyframes alone starts a little before its cut (``moments``), so the
frame at its time may still show the shot before. The keyframes that follow, up to
``DENSE_KEYFRAMES_S`` later and before the next moment, are therefore looked at too: the
first that differs from that frame as a new shot does (``SCENE_SHARE``) is the picture.

Times are those of ``moments``: seconds from the start of the video stream.
"""

from __future__ import annotations

import time
from typing import Any

import av
from PIL import Image

from hachi.errors import UnreadableFile
from hachi.media.video.moments import (
    DENSE_KEYFRAMES_S,
    SCENE_SHARE,
    PacketDecoder,
    _changed_share,
    _picture,
    _rotation,
    _signature,
    _time_of,
)

MAX_FRAMES_TO_MOMENT = 2_000
"""Frames decoded after the seek at most: keyframes come every few seconds in any camera's
video, so more means the seek failed on a long file; the last frame decoded is used."""
EARLY_S = 0.02
"""A frame starting this much before the time asked for is the frame at that time (times
are rounded to the millisecond when stored)."""


class _Search:
    """The frame at the time, then (keyframes only) a cut shortly after it."""

    def __init__(self, at_s: float, next_s: float | None) -> None:
        self.at_s = at_s
        # the next keyframe at most DENSE_KEYFRAMES_S on, and before the next moment
        ahead = at_s + DENSE_KEYFRAMES_S + EARLY_S
        self.until_s = ahead if next_s is None else min(ahead, next_s - EARLY_S)
        self.found: Any = None  # the frame at the time
        self.signature: Any = None
        self.last: Any = None
        self.awaiting_key = False  # a keyframe went in; the decoder may hold it back a while

    def offer(self, frame: Any, at_s: float) -> Any:
        """The frame to show once known, else None."""
        self.last = frame
        if self.found is None:
            if at_s < self.at_s - EARLY_S:
                return None
            self.found, self.signature = frame, _signature(frame)
            return None
        if at_s > self.until_s:
            return self.found
        if not frame.key_frame:
            return None
        self.awaiting_key = False
        if _changed_share(_signature(frame), self.signature) >= SCENE_SHARE:
            return frame
        return None

    def skips(self, packet: Any) -> bool:
        """After the frame at the time, only keyframes are decoded, each with the packets
        after it until its frame comes out (B-frames reorder); an empty packet flushes."""
        if self.found is None or packet.size == 0:
            return False
        if packet.is_keyframe:
            self.awaiting_key = True
            return False
        return not self.awaiting_key

    def best(self) -> Any:
        return self.found if self.found is not None else self.last


def frame_at(
    container: Any, at_s: float, min_side: int, budget_s: float, next_s: float | None = None
) -> Image.Image:
    """The upright picture of the moment at ``at_s`` in an open container (``next_s``: where
    the next moment starts), its shorter side about ``min_side``; past the end, the last
    frame. Raises UnreadableFile when no frame decodes within the budget."""
    stream = next(s for s in container.streams.video if s.codec_context is not None)
    stream.thread_type = "SLICE"  # frame threads would hold frames back: one is wanted
    _seek(container, stream, at_s)
    search = _Search(at_s, next_s)
    deadline = time.monotonic() + budget_s
    frames = 0
    packets = PacketDecoder()
    for packet in container.demux(stream):
        if time.monotonic() > deadline or frames >= MAX_FRAMES_TO_MOMENT:
            break
        if search.skips(packet):
            if _packet_time(packet, stream) > search.until_s:
                break  # no keyframe before the end of the look-ahead
            continue
        decoded = packets.frames(packet)
        if decoded is None:
            break
        for frame in decoded:
            frames += 1
            shown = search.offer(frame, _time_of(frame, frames, stream))
            if shown is not None:
                return _picture(shown, min_side, _rotation(shown))
    chosen = search.best()
    if chosen is None:
        raise UnreadableFile("no video frame could be decoded at that time")
    return _picture(chosen, min_side, _rotation(chosen))


def _packet_time(packet: Any, stream: Any) -> float:
    if packet.pts is None or packet.time_base is None:
        return 0.0
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    return float(packet.pts * packet.time_base) - start


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
