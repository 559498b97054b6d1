"""Turning one file into a catalog record: read once, hash, EXIF, decode, thumbnail, place.

This runs on worker threads. The file is read into memory once and every step works on
those bytes, so a 12 MP JPEG costs one read, one DCT-scaled decode and one small WebP
encode. Any failure becomes a recorded reason, never an exception that could stop a job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from PIL import Image

from hachi.catalog.photos import PhotoRecord, PlaceRecord
from hachi.config import Settings
from hachi.errors import UnreadableFile
from hachi.indexer.scan import FoundFile
from hachi.media.cameras import camera_label
from hachi.media.decode import decode_image
from hachi.media.exif import PhotoMetadata, read_metadata
from hachi.media.geocode import Geocoder
from hachi.media.hashing import content_hash
from hachi.media.perceptual import color_layout, perceptual_hash
from hachi.media.thumbnails import GRID, thumbnail_path, write_thumbnail

MIN_DECODE_SIDE = 240  # a 4:3 photo then still has a 320 px long side for its grid thumbnail
MAX_FILE_BYTES = 2 * 1024**3


class Preparer(Protocol):
    """The part of a model stage that runs on reader threads (see indexer.stages)."""

    task: str
    min_side: int

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
    ) -> None:
        self.settings = settings
        self.geocoder = geocoder or Geocoder()
        self.preparers = tuple(preparers)
        self.min_side = max([MIN_DECODE_SIDE, *(p.min_side for p in self.preparers)])

    def with_preparers(self, preparers: Sequence[Preparer]) -> Extractor:
        """The same extractor (and loaded geocoder) feeding other model stages."""
        return Extractor(self.settings, self.geocoder, preparers)

    def extract(self, found: FoundFile, folder_id: int, root: str) -> Extracted:
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

    def _record(
        self, found: FoundFile, folder_id: int, root: str, data: bytes
    ) -> tuple[PhotoRecord, Image.Image]:
        name = os.path.basename(found.path)
        digest = content_hash(data)
        meta = read_metadata(data, name)
        decoded = decode_image(data, self.min_side, name)
        thumb = thumbnail_path(self.settings.thumbs_dir, digest, GRID)
        if not thumb.exists():
            write_thumbnail(decoded.image, thumb, self.settings.thumb_size)
        taken_at, source = _taken(meta, found)
        dir_path = os.path.dirname(found.path)
        record = PhotoRecord(
            path=found.path,
            folder_id=folder_id,
            dir_path=dir_path,
            dir_label=_dir_label(root, dir_path),
            size=found.size,
            mtime_ns=found.mtime_ns,
            content_hash=digest,
            mime=decoded.mime,
            width=decoded.width,
            height=decoded.height,
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
            phash=perceptual_hash(decoded.image),
            chroma=color_layout(decoded.image),
        )
        return record, decoded.image

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
