"""A 10,000-photo catalog made in seconds, for measuring the UI at library scale.

Rows go in through the catalog's own writer verb (upsert_photo), as the indexer's would;
the photos share a few small real thumbnails, since the UI's speed, not decoding, is measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hachi.catalog import folders as folders_db
from hachi.catalog.db import connect, transaction
from hachi.catalog.photos import PhotoRecord, PlaceRecord, upsert_photo
from hachi.config import Settings
from hachi.media.thumbnails import KINDS, long_side, thumbnail_path, write_thumbnail

SHARED_THUMBNAILS = 16
CAMERAS = (("Canon", "Canon EOS R5"), ("NIKON CORPORATION", "NIKON Z 6"), ("Apple", "iPhone 13"))
PLACES = (
    PlaceRecord("Paris", "Paris", "Ile-de-France", "France", "FR", "Paris, France"),
    PlaceRecord("Kyoto", "Kyoto", "Kyoto", "Japan", "JP", "Kyoto, Japan"),
    None,
)


def shared_hash(i: int) -> str:
    """32 hex digits, as a real content hash (thumbnail URLs take nothing else)."""
    return f"{i % SHARED_THUMBNAILS:04x}" + "cafe" * 7


def write_shared_thumbnails(settings: Settings) -> None:
    rng = np.random.default_rng(0)
    for k in range(SHARED_THUMBNAILS):
        colour = rng.integers(40, 220, size=3).astype(np.uint8)
        image = Image.fromarray(np.tile(colour, (96, 128, 1)), "RGB")
        for kind in KINDS:
            size = long_side(kind, settings.thumb_size, settings.preview_size)
            write_thumbnail(image, thumbnail_path(settings.thumbs_dir, shared_hash(k), kind), size)


def record(i: int, folder_id: int, root: Path) -> PhotoRecord:
    make, model = CAMERAS[i % len(CAMERAS)]
    year = 2005 + i % 20
    portrait = i % 5 == 1
    return PhotoRecord(
        path=str(root / f"{year}" / f"IMG_{i:05d}.jpg"),
        folder_id=folder_id,
        dir_path=str(root / f"{year}"),
        dir_label=f"{root.name}/{year}",
        size=2_000_000 + i,
        mtime_ns=1_600_000_000_000_000_000 + i,
        content_hash=shared_hash(i),
        mime="image/jpeg",
        width=3000 if portrait else 4000,  # every fifth photo upright: rows of mixed shapes
        height=4000 if portrait else 3000,
        taken_at=f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}T12:{i % 60:02d}:00",
        tz_offset=60,
        taken_source="exif",
        camera_make=make,
        camera_model=model,
        camera_label=model,
        lens=None,
        focal_length=35.0,
        aperture=2.8,
        exposure_time=0.004,
        iso=200,
        # No fingerprint (an empty one: none could be made), as for a file Hachi cannot
        # read: the photos share 16 thumbnails, not their content, so none is a duplicate.
        chroma=b"",
        latitude=None,
        longitude=None,
        altitude=None,
        orientation=1,
        place=PLACES[i % len(PLACES)],
    )


def build_catalog(settings: Settings, root: Path, count: int) -> None:
    """`count` photos under `root` (an existing, empty folder) in one transaction."""
    settings.ensure_dirs()
    write_shared_thumbnails(settings)
    conn = connect(settings.catalog_path)
    try:
        folder = folders_db.add_folder(conn, str(root))
        with transaction(conn):
            for i in range(count):
                upsert_photo(conn, record(i, folder.id, root), None)
        folders_db.mark_scanned(conn, folder.id)
    finally:
        conn.close()
