"""Sampling a video into moments: the frames search embeds, each with the time it starts.

People remember a moment, not a file, so one frame per video is not enough; every frame
is far too many. The decoder runs through the file once (FFmpeg's own threads, frames
converted to pictures only when looked at), and every ``PROBE_S`` a 16x9 grey signature
of the frame is compared with that of the last moment kept (the share of its cells that
changed):

- a new moment starts at a scene change, but never within ``MIN_SPACING_S`` of the last;
- a moment is taken anyway once ``max_spacing`` has passed (``MAX_SPACING_S``, widened
  for long videos so no video yields over ``MAX_MOMENTS``), so no shot of that length
  is missed and a static scene still gets a moment now and then;
- videos over ``KEYFRAMES_ONLY_AFTER_S`` are decoded keyframes only (a 2-hour static
  recording is not decoded frame by frame), and so is any video once its keyframes prove
  to come at least every ``DENSE_KEYFRAMES_S`` (phones', cameras'): the frames between
  them are not even handed to the decoder.

Decoding is bounded: a wall-clock budget checked between packets, a frame count and a
count of undecodable packets, so a hostile file costs at most that and then a reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.errors import UnreadableFile

PROBE_S = 0.5
MIN_SPACING_S = 1.0
MAX_SPACING_S = 4.0
MAX_MOMENTS = 120
"""At most this many moments per video: bounds memory on the reader threads and the index
size of long videos (whose spacing widens instead)."""
KEYFRAMES_ONLY_AFTER_S = 600.0
DENSE_KEYFRAMES_S = 2.0
"""Keyframes at most this far apart (seen ``DENSE_KEYFRAMES_SEEN`` times in a row) are
sampled alone: at least two fall in any 4-second shot."""
DENSE_KEYFRAMES_SEEN = 3
CELL_CHANGE = 24.0
"""A signature cell (a 1/144 of the frame, grey 0-255) differing by more than this changed."""
SCENE_SHARE = 0.1
"""A new shot: at least this share of cells changed since the last moment. A subject that
moves or changes within a still background is found (a whole-frame mean would average it
away); a small moving thing (a passer-by, a ball) is not."""
BLACK_LUMA = 24.0
"""A frame whose signature stays below this everywhere is black (a fade-in): no poster."""
MAX_FRAMES = 500_000  # about 4.6 hours at 30 fps: more is not a camera's video
MAX_BAD_PACKETS = 50
SIGNATURE_SIZE = (16, 9)


@dataclass(frozen=True)
class Moment:
    at_s: float
    image: Image.Image  # upright, shorter side about the requested size


@dataclass(frozen=True)
class Sampled:
    moments: list[Moment]  # in time order, at least one
    poster: int  # index of the moment that makes the thumbnail
    rotation: int  # degrees the pictures were turned to stand upright


@dataclass(frozen=True)
class Sampling:
    """How one video is sampled, from its length."""

    max_spacing_s: float
    keyframes_only: bool

    @classmethod
    def for_duration(cls, duration_s: float | None) -> Sampling:
        length = duration_s or 0.0
        spacing = max(MAX_SPACING_S, length / MAX_MOMENTS)
        return cls(spacing, length > KEYFRAMES_ONLY_AFTER_S)


class _Picker:
    """Decides, frame by frame, which frames become moments (see the module docstring)."""

    def __init__(self, sampling: Sampling, min_side: int, rotation: int) -> None:
        self.sampling = sampling
        self.min_side = min_side
        self.rotation = rotation
        self.moments: list[Moment] = []
        self.signatures: list[NDArray[np.float32]] = []
        self.next_probe = -1.0
        self.last_probe = 0.0

    def offer(self, frame: Any, at_s: float) -> None:
        if at_s < self.next_probe or len(self.moments) >= MAX_MOMENTS:
            return
        self.next_probe = at_s + PROBE_S
        looked_before, self.last_probe = self.last_probe, at_s
        signature = _signature(frame)
        start = at_s
        if self.moments:
            since = at_s - self.moments[-1].at_s
            changed = _changed_share(signature, self.signatures[-1]) >= SCENE_SHARE
            if since < MIN_SPACING_S or (not changed and since < self.sampling.max_spacing_s):
                return
            if changed and at_s - looked_before > PROBE_S:
                # keyframes only: the cut lies since the frame looked at before, so the
                # moment starts there (play from a little early rather than late)
                start = max(looked_before, self.moments[-1].at_s + MIN_SPACING_S)
        self.moments.append(Moment(round(start, 3), _picture(frame, self.min_side, self.rotation)))
        self.signatures.append(signature)

    def poster_index(self) -> int:
        """The first moment that is not black (a fade-in), else the first."""
        for i, signature in enumerate(self.signatures):
            if float(signature.max()) >= BLACK_LUMA:
                return i
        return 0


class PacketDecoder:
    """Decodes packets, passing over ones that fail (a damaged stretch of a file) until
    more than ``MAX_BAD_PACKETS`` have: then the file is given up."""

    def __init__(self) -> None:
        self.bad = 0

    def frames(self, packet: Any) -> list[Any] | None:
        """The packet's frames; [] for one that failed; None once too many have."""
        try:
            return list(packet.decode())
        except (av.error.InvalidDataError, av.error.UndefinedError, ValueError):
            self.bad += 1
            return None if self.bad > MAX_BAD_PACKETS else []


def sample_moments(
    container: Any,
    duration_s: float | None,
    min_side: int,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Sampled:
    """The moments of an open PyAV container, and which one is the poster.

    Raises UnreadableFile when no frame decodes, or when the budget runs out before the
    first moment; a budget that runs out later keeps the moments found so far.
    """
    stream = next(s for s in container.streams.video if s.codec_context is not None)
    stream.thread_type = "AUTO"
    sampling = Sampling.for_duration(duration_s)
    keyframes = _Keyframes(sampling.keyframes_only)
    picker = _Picker(sampling, min_side, 0)
    deadline = clock() + budget_s
    frames = 0
    packets = PacketDecoder()
    for packet in container.demux(stream):
        if clock() > deadline:
            if not picker.moments:
                raise UnreadableFile(f"decoding took longer than the {budget_s:g} s allowed")
            break
        if keyframes.skips(packet):
            continue
        decoded = packets.frames(packet)
        if decoded is None:
            break
        for frame in decoded:
            frames += 1
            if picker.rotation == 0 and frames == 1:
                picker.rotation = _rotation(frame)
            picker.offer(frame, _time_of(frame, frames, stream))
        if frames >= MAX_FRAMES:
            break
    if not picker.moments:
        raise UnreadableFile("no video frame could be decoded (truncated or corrupt video)")
    return Sampled(picker.moments, picker.poster_index(), picker.rotation)


class _Keyframes:
    """Whether to decode only keyframes: always for long videos, and once the keyframes
    prove dense (phones write one every 1-2 s), since a moment's time is then within
    ``DENSE_KEYFRAMES_S`` anyway and the frames between them are most of the decoding."""

    def __init__(self, only: bool) -> None:
        self.only = only
        self.times: list[float] = []

    def skips(self, packet: Any) -> bool:
        if packet.is_keyframe:
            if packet.pts is not None and packet.time_base is not None:
                self.times.append(float(packet.pts * packet.time_base))
                recent = self.times[-DENSE_KEYFRAMES_SEEN:]
                gaps = np.diff(recent)
                if len(recent) == DENSE_KEYFRAMES_SEEN and 0 < gaps.max() <= DENSE_KEYFRAMES_S:
                    self.only = True
            return False
        return self.only and packet.size > 0  # an empty packet flushes the decoder


POSTER_SEARCH_S = 30.0
"""How far into a video ``sample_poster`` looks for a frame that is not black."""


def sample_poster(container: Any, min_side: int, budget_s: float) -> Moment:
    """The poster alone (the first frame, looked at every ``PROBE_S``, that is not black;
    else the first), for a preview or a model that sees only the poster: decoding stops
    there instead of running through the whole video."""
    stream = next(s for s in container.streams.video if s.codec_context is not None)
    stream.thread_type = "AUTO"
    deadline = time.monotonic() + budget_s
    first: Moment | None = None
    next_probe = -1.0
    for count, frame in enumerate(container.decode(stream), start=1):
        at_s = _time_of(frame, count, stream)
        if at_s < next_probe:
            continue
        next_probe = at_s + PROBE_S
        rotation = _rotation(frame)
        if float(_signature(frame).max()) >= BLACK_LUMA:
            return Moment(round(at_s, 3), _picture(frame, min_side, rotation))
        if first is None:
            first = Moment(round(at_s, 3), _picture(frame, min_side, rotation))
        if at_s > POSTER_SEARCH_S or time.monotonic() > deadline:
            break
    if first is None:
        raise UnreadableFile("no video frame could be decoded (truncated or corrupt video)")
    return first


def _time_of(frame: Any, count: int, stream: Any) -> float:
    if frame.time is not None:
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        return max(0.0, float(frame.time) - start)
    rate = float(stream.average_rate or 30)
    return (count - 1) / rate


def _signature(frame: Any) -> NDArray[np.float32]:
    small = frame.reformat(width=SIGNATURE_SIZE[0], height=SIGNATURE_SIZE[1], format="gray")
    return np.asarray(small.to_ndarray(), dtype=np.float32)


def _changed_share(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(np.mean(np.abs(a - b) > CELL_CHANGE))


def _rotation(frame: Any) -> int:
    """Degrees to turn the picture counter-clockwise for display (the display matrix)."""
    try:
        return int(round(float(frame.rotation))) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def _picture(frame: Any, min_side: int, rotation: int) -> Image.Image:
    """The frame as an RGB picture whose shorter side is ``min_side`` (never enlarged)."""
    width, height = frame.width, frame.height
    scale = min(1.0, min_side / max(1, min(width, height)))
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    image: Image.Image = frame.reformat(width=size[0], height=size[1], format="rgb24").to_image()
    turn = _TURNS.get(rotation)
    return image.transpose(turn) if turn is not None else image
