"""What a video file says about itself: length, size, rate, codec, date, place, camera.

PyAV (FFmpeg) parses every container Hachi indexes and exposes what the QuickTime user
data (``©xyz``), the Apple ``mdta`` keys (``com.apple.quicktime.*``), Matroska's segment
date and AVI's ``IDIT`` chunk hold as plain tags, so no container is parsed by hand here.
Only the container header is read; no frame is decoded.

Dates: an Apple ``creationdate`` key carries the local time and its zone, and wins. The
``creation_time`` of QuickTime/MP4 and Matroska is UTC by their specifications (phones
write it so), kept as UTC with offset 0; AVI's ``IDIT`` is the camera's local clock with
no zone.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, BinaryIO

from hachi.errors import UnreadableFile
from hachi.media.formats import VIDEO_MIME_BY_EXTENSION

MAX_VIDEO_PIXELS = 40_000_000
"""Above 8K UHD (33 MP): a frame this big is a hostile or broken file, not a camera's."""

MIME_BY_FORMAT: dict[str, str] = {
    "matroska,webm": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
}
"""Container (FFmpeg's demuxer name) -> type, where the container alone decides it."""
ISO_MEDIA_MIMES = frozenset({"video/mp4", "video/x-m4v", "video/quicktime", "video/3gpp"})
"""QuickTime and its ISO relatives share one demuxer: the extension tells them apart."""

_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")
_ZONED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)$")
_PLAIN = re.compile(r"(\d{4})[-:](\d\d)[-:](\d\d)[ T](\d\d):(\d\d):(\d\d)")


@dataclass(frozen=True)
class VideoInfo:
    """A video's container facts; times in seconds, dates as local wall clock (see above)."""

    mime: str
    duration_s: float | None
    width: int
    height: int
    frame_rate: float | None
    codec: str
    rotation: int = 0  # degrees the picture is turned for display (a phone held upright)
    taken_at: str | None = None
    tz_offset: int | None = None  # minutes east of UTC, only when the file states it
    taken_source: str | None = None
    make: str | None = None
    model: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        turned = self.rotation % 180 == 90
        return (self.height, self.width) if turned else (self.width, self.height)


def describe_container(container: Any, suffix: str) -> VideoInfo:
    """The facts of an open PyAV container; raises UnreadableFile when it holds no video
    Hachi can show (audio only, unknown codec, absurd size)."""
    video = _video_stream(container)
    codec = video.codec_context
    width, height = int(codec.width or 0), int(codec.height or 0)
    if width <= 0 or height <= 0:
        raise UnreadableFile("the video track states no picture size")
    if width * height > MAX_VIDEO_PIXELS:
        raise UnreadableFile(
            f"video resolution {width}x{height} is larger than Hachi decodes "
            f"({MAX_VIDEO_PIXELS // 1_000_000} MP)"
        )
    tags = {str(k): str(v) for k, v in {**video.metadata, **container.metadata}.items()}
    taken_at, tz_offset, source = _taken(tags, container.format.name)
    latitude, longitude, altitude = _location(tags)
    return VideoInfo(
        mime=_mime(container.format.name, suffix),
        duration_s=_duration(container, video),
        width=width,
        height=height,
        frame_rate=_rate(video),
        codec=str(codec.name),
        taken_at=taken_at,
        tz_offset=tz_offset,
        taken_source=source,
        make=_tag(tags, "com.apple.quicktime.make", "make"),
        model=_tag(tags, "com.apple.quicktime.model", "model"),
        latitude=latitude,
        longitude=longitude,
        altitude=altitude,
    )


def _video_stream(container: Any) -> Any:
    """The first video track FFmpeg can decode (an attached cover picture is no video)."""
    tracks = list(container.streams.video)
    if not tracks:
        kinds = sorted({s.type for s in container.streams})
        found = ", ".join(kinds) if kinds else "nothing"
        raise UnreadableFile(f"no video track in the file (it holds {found})")
    for track in tracks:
        codec = track.codec_context
        if codec is not None and codec.codec is not None and codec.name:
            return track
    raise UnreadableFile("the video track uses a codec Hachi cannot decode")


def _mime(format_name: str, suffix: str) -> str:
    named = VIDEO_MIME_BY_EXTENSION.get(suffix, "")
    if format_name == "matroska,webm" and named == "video/webm":
        return named
    if format_name in MIME_BY_FORMAT:
        return MIME_BY_FORMAT[format_name]
    return named if named in ISO_MEDIA_MIMES else "video/mp4"


def _duration(container: Any, video: Any) -> float | None:
    if video.duration and video.time_base:
        seconds = float(video.duration * video.time_base)
        if seconds > 0:
            return seconds
    if container.duration and container.duration > 0:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _rate(video: Any) -> float | None:
    rate = video.average_rate or video.guessed_rate or video.base_rate
    if not rate or not isinstance(rate, Fraction | int | float) or rate <= 0:
        return None
    return round(float(rate), 3)


def _tag(tags: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = tags.get(name, "").strip().strip("\x00").strip()
        if value:
            return value
    return None


def _taken(tags: dict[str, str], format_name: str) -> tuple[str | None, int | None, str | None]:
    """(local wall clock, minutes east of UTC or None, which tag) of the recording."""
    apple = _tag(tags, "com.apple.quicktime.creationdate")
    if apple and (zoned := _zoned(apple)) is not None:
        return zoned[0], zoned[1], "com.apple.quicktime.creationdate"
    stamp = _tag(tags, "creation_time", "date")
    if stamp is None:
        return None, None, None
    if format_name == "avi":  # IDIT: the camera's own clock, no zone
        plain = _PLAIN.match(stamp)
        return (_wall(plain), None, "IDIT") if plain else (None, None, None)
    zoned = _zoned(stamp)
    if zoned is not None:
        return zoned[0], zoned[1], "creation_time"
    plain = _PLAIN.match(stamp)
    return (_wall(plain), 0, "creation_time") if plain else (None, None, None)


def _zoned(text: str) -> tuple[str, int] | None:
    match = _ZONED.match(text.strip())
    if match is None:
        return None
    zone = match[2]
    if zone == "Z":
        return match[1], 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    try:
        datetime.fromisoformat(match[1])
    except ValueError:
        return None
    return match[1], sign * (int(digits[:2]) * 60 + int(digits[2:]))


def _wall(match: re.Match[str]) -> str | None:
    text = "{}-{}-{}T{}:{}:{}".format(*match.groups())
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if text.startswith("0000") else text


def _location(tags: dict[str, str]) -> tuple[float | None, float | None, float | None]:
    """ISO 6709 ``+lat+lon[+alt]/`` from the Apple key or the ``©xyz`` user data."""
    text = _tag(tags, "com.apple.quicktime.location.ISO6709", "location", "location-eng")
    match = _ISO6709.match(text or "")
    if match is None:
        return None, None, None
    lat, lon = float(match[1]), float(match[2])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None, None
    return lat, lon, float(match[3]) if match[3] else None


MAX_TOP_BOXES = 1024


def iso_claimed_length(handle: BinaryIO) -> int:
    """How long a QuickTime/MP4 file says it is: the end of its last top-level box, read
    from the box headers alone (0 for other containers). A file cut short claims more
    than it holds, which names a truncated download whatever FFmpeg's words for it."""
    size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    if handle.read(8)[4:8] != b"ftyp":
        return 0
    position = claimed = 0
    for _ in range(MAX_TOP_BOXES):
        handle.seek(position)
        header = handle.read(16)
        if len(header) < 8:
            break
        length, width = struct.unpack(">I", header[:4])[0], 8
        if length == 1 and len(header) == 16:
            length, width = struct.unpack(">Q", header[8:16])[0], 16
        elif length == 0:
            length = size - position
        if length < width:
            break
        claimed = position = position + length
        if position >= size:
            break
    return claimed
