"""Turning one file into a catalog record: read once, hash, EXIF, decode, thumbnail, place.

This runs on worker threads. The file is read into memory once and every step works on
those bytes, so a 12 MP JPEG costs one read, one DCT-scaled decode and one small WebP
encode. Any failure becomes a recorded reason, never an exception that could stop a job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from PIL import Image

from hachi.catalog.photos import PhotoRecord, PlaceRecord
from hachi.config import Settings
from hachi.errors import UnreadableFile
from hachi.indexer.scan import FoundFile
from hachi.indexer.video_input import prepare_video
from hachi.media.cameras import camera_label
from hachi.media.decode import decode_image
from hachi.media.exif import PhotoMetadata, read_metadata
from hachi.media.formats import is_video_path
from hachi.media.geocode import Geocoder
from hachi.media.hashing import content_hash, hash_stream
from hachi.media.perceptual import color_layout, perceptual_hash
from hachi.media.thumbnails import (
    INDEXED_KINDS,
    fit,
    long_side,
    thumbnail_path,
    write_thumbnail,
)
from hachi.media.video import SampledVideo, VideoInfo, read_video

MIN_DECODE_SIDE = 480  # a 4:3 photo then still has a 640 px long side for its 2x grid tile
MAX_FILE_BYTES = 2 * 1024**3
VIDEO_SECONDS_PER_FILE = 300.0
"""Wall-clock budget for sampling one video; a longer one keeps the moments found so far."""


class Preparer(Protocol):
    """The part of a model stage that runs on reader threads (see indexer.stages)."""

    task: str
    min_side: int
    per_moment: bool

    def prepare(self, image: Image.Image) -> Any: ...


@dataclass
class Extracted:
    found: FoundFile
    folder_id: int
    record: PhotoRecord | None
    error: str | None
    prepared: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    stage_errors: dict[str, str] = field(default_factory=dict)


class Extractor:
    """Holds what every file's extraction shares (settings, the geocoder)."""

    def __init__(
        self,
        settings: Settings,
        geocoder: Geocoder | None = None,
        preparers: Sequence[Preparer] = (),
        video_budget_s: float = VIDEO_SECONDS_PER_FILE,
    ) -> None:
        self.settings = settings
        self.video_budget_s = video_budget_s
        self.geocoder = geocoder or Geocoder()
        self.preparers = tuple(preparers)
        self.min_side = max([MIN_DECODE_SIDE, *(p.min_side for p in self.preparers)])

    def with_preparers(self, preparers: Sequence[Preparer]) -> Extractor:
        """The same extractor (and loaded geocoder) feeding other model stages."""
        return Extractor(self.settings, self.geocoder, preparers, self.video_budget_s)

    def extract(self, found: FoundFile, folder_id: int, root: str) -> Extracted:
        if is_video_path(found.path):
            return self._extract_video(found, folder_id, root)
        try:
            data = _read(found)
            record, image = self._record(found, folder_id, root, data)
        except UnreadableFile as exc:
            return Extracted(found, folder_id, None, exc.message)
        result = Extracted(found, folder_id, record, None)
        self.prepare_all(image, result)
        return result

    def prepare_all(self, image: Image.Image, into: Extracted) -> None:
        for preparer in self.preparers:
            try:
                into.prepared[preparer.task] = preparer.prepare(image)
            except Exception as exc:  # noqa: BLE001 - one photo's model input, recorded
                into.stage_errors[preparer.task] = f"{type(exc).__name__}: {exc}"

    def _extract_video(self, found: FoundFile, folder_id: int, root: str) -> Extracted:
        """A video: hashed as a stream (never read whole), sampled into moments within the
        time budget; the poster frame makes the thumbnail and feeds the photo-only stages."""
        try:
            video, digest = self._read_video(found)
        except UnreadableFile as exc:
            return Extracted(found, folder_id, None, exc.message)
        self._write_tiles(video.poster.image, digest)
        record = replace(
            self._video_record(found, folder_id, root, digest, video.info),
            phash=perceptual_hash(video.poster.image),  # re-encoded copies group together
            chroma=color_layout(video.poster.image),
        )
        result = Extracted(found, folder_id, record, None)
        for preparer in self.preparers:
            try:
                result.prepared[preparer.task] = prepare_video(preparer, video)
            except Exception as exc:  # noqa: BLE001 - one video's model input, recorded
                result.stage_errors[preparer.task] = f"{type(exc).__name__}: {exc}"
        return result

    def _read_video(self, found: FoundFile) -> tuple[SampledVideo, str]:
        """Sampled and hashed from one open file: the one the walk judged (a link swapped
        since is refused, as ``_read`` does for photos), never a path opened twice."""
        _check_video_file(found)
        try:
            with open(found.path, "rb") as handle:
                opened = os.fstat(handle.fileno())
                if found.identity not in (None, (opened.st_dev, opened.st_ino)):
                    raise UnreadableFile("the file was replaced while indexing; rescan to index it")
                video = read_video(handle, self.min_side, self.video_budget_s)
                return video, hash_stream(handle)
        except PermissionError:
            raise UnreadableFile("cannot read file: permission denied") from None
        except OSError as exc:
            raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from None

    def _video_record(
        self, found: FoundFile, folder_id: int, root: str, digest: str, info: VideoInfo
    ) -> PhotoRecord:
        meta = PhotoMetadata(
            taken_at=info.taken_at,
            tz_offset=info.tz_offset,
            taken_source=info.taken_source,
            make=info.make,
            model=info.model,
            latitude=info.latitude,
            longitude=info.longitude,
            altitude=info.altitude,
        )
        return self._photo_record(
            found, folder_id, root, digest, meta, info.mime, info.width, info.height,
            kind="video", duration_s=info.duration_s, frame_rate=info.frame_rate,
            codec=info.codec,
        )  # fmt: skip

    def _record(
        self, found: FoundFile, folder_id: int, root: str, data: bytes
    ) -> tuple[PhotoRecord, Image.Image]:
        name = os.path.basename(found.path)
        digest = content_hash(data)
        meta = read_metadata(data, name)
        decoded = decode_image(data, self.min_side, name)
        self._write_tiles(decoded.image, digest)
        record = self._photo_record(
            found, folder_id, root, digest, meta, decoded.mime, decoded.width, decoded.height,
            phash=perceptual_hash(decoded.image), chroma=color_layout(decoded.image),
        )  # fmt: skip
        return record, decoded.image

    def _photo_record(
        self,
        found: FoundFile,
        folder_id: int,
        root: str,
        digest: str,
        meta: PhotoMetadata,
        mime: str,
        width: int | None,
        height: int | None,
        **media: Any,
    ) -> PhotoRecord:
        """One catalog row from what was read, for a photo or a video alike (``media``: the
        fields only one of them has), so both date, place and label a file the same way."""
        taken_at, source = _taken(meta, found)
        dir_path = os.path.dirname(found.path)
        return PhotoRecord(
            path=found.path,
            folder_id=folder_id,
            dir_path=dir_path,
            dir_label=_dir_label(root, dir_path),
            size=found.size,
            mtime_ns=found.mtime_ns,
            content_hash=digest,
            mime=mime,
            width=width,
            height=height,
            taken_at=taken_at,
            tz_offset=meta.tz_offset if source == meta.taken_source else None,
            taken_source=source,
            camera_make=meta.make,
            camera_model=meta.model,
            camera_label=camera_label(meta.make, meta.model),
            lens=meta.lens,
            focal_length=meta.focal_length,
            aperture=meta.aperture,
            exposure_time=meta.exposure_time,
            iso=meta.iso,
            latitude=meta.latitude,
            longitude=meta.longitude,
            altitude=meta.altitude,
            orientation=meta.orientation,
            place=self._place(meta),
            **media,
        )

    def _write_tiles(self, image: Image.Image, digest: str) -> None:
        """The grid tiles, largest first, each smaller one shrunk from the one before (a
        640 px image is cheaper to shrink to 320 than the decoded photo)."""
        for kind in sorted(INDEXED_KINDS, key=self._side, reverse=True):
            image = fit(image, self._side(kind))
            thumb = thumbnail_path(self.settings.thumbs_dir, digest, kind)
            if not thumb.exists():
                write_thumbnail(image, thumb, self._side(kind))

    def _side(self, kind: str) -> int:
        return long_side(kind, self.settings.thumb_size, self.settings.preview_size)

    def _place(self, meta: PhotoMetadata) -> PlaceRecord | None:
        if meta.latitude is None or meta.longitude is None:
            return None
        place = self.geocoder.lookup(meta.latitude, meta.longitude)
        if place is None:
            return None
        return PlaceRecord(
            name=place.name,
            city=place.city,
            region=place.region,
            country=place.country,
            country_code=place.country_code,
            label=place.label(),
        )


def _check_video_file(found: FoundFile) -> None:
    """The checks ``_read`` makes before opening, for a file that is streamed, not read."""
    if found.size < 0:
        raise UnreadableFile("cannot read file: permission denied or vanished")
    if found.size == 0:
        raise UnreadableFile("zero-byte file")


def _read(found: FoundFile) -> bytes:
    if found.size < 0:
        raise UnreadableFile("cannot read file: permission denied or vanished")
    if found.size == 0:
        raise UnreadableFile("zero-byte file")
    if found.size > MAX_FILE_BYTES:
        raise UnreadableFile(f"file too large ({found.size // 1024**2} MiB)")
    try:
        with open(found.path, "rb") as file:
            opened = os.fstat(file.fileno())
            if found.identity not in (None, (opened.st_dev, opened.st_ino)):
                # A link swapped since the walk judged it: read only what the rules passed.
                raise UnreadableFile("the file was replaced while indexing; rescan to index it")
            return file.read()
    except PermissionError:
        raise UnreadableFile("cannot read file: permission denied") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from None


def _taken(meta: PhotoMetadata, found: FoundFile) -> tuple[str, str]:
    """The metadata's date, else the file's modification time (local clock), labelled so."""
    if meta.taken_at:
        return meta.taken_at, meta.taken_source or "exif"
    stamp = datetime.fromtimestamp(found.mtime_ns / 1e9)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S"), "file_mtime"


def _dir_label(root: str, dir_path: str) -> str:
    """Folder name as people think of it: the root's own name plus the subfolders."""
    base = os.path.basename(root.rstrip("/")) or root
    rel = os.path.relpath(dir_path, root)
    return base if rel == "." else f"{base}/{rel}"
