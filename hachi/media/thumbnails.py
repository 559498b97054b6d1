"""WebP thumbnails, stored by content hash.

Keying by content rather than by photo id means identical photos share one file, a moved
photo keeps its thumbnail with no rewrite, and decoding workers can write thumbnails
before the catalog row (and its id) exists. Files appear atomically, so the server never
serves half a thumbnail while the indexer is writing it.

Grid tiles are made on the indexer's reader threads, which share the CPU with the image
encoder, so their resampling filter (bicubic) and WebP effort (method 0; previews, made one
at a time on first view, method 2) were chosen by measurement: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

GRID = "grid"
GRID_2X = "grid2x"
PREVIEW = "preview"
KINDS = (GRID, GRID_2X, PREVIEW)
INDEXED_KINDS = (GRID, GRID_2X)
"""Made while indexing, for every photo; previews wait for their first view."""

GRID_2X_SCALE = 2
"""The sharp grid tile is twice the grid's long side: 2x and 3x screens (phones, laptops)
ask for it through ``srcset``, so a 220 px row is drawn from 440+ device pixels."""

GRID_WEBP_METHOD = 0
"""libwebp effort (0-6) for tiles made while indexing: the fastest, see above."""

LARGE_WEBP_METHOD = 2
"""Effort for previews, made on first view, where bytes sent matter more than CPU."""

GRID_MAX_SIDE = 640
"""Thumbnails up to this long side (grid tiles, face crops) are encoded with the grid effort."""

MOMENT_SIDE = 160
"""Long side of a video moment's picture in the strip under the player (shown about 80 px
wide, so sharp on a 2x screen)."""

HASH_SHARD_CHARS = 2
"""Leading hash characters naming the sub-folder: 256 folders keep each one small."""

RESAMPLE = Image.Resampling.BICUBIC
"""Pillow's antialiased bicubic: within 0.35 dB of Lanczos once encoded, 25 % cheaper."""

REDUCING_GAP = 2.0
"""Box-reduce to within 2x of the target first, then resample: sharp and fast."""


def long_side(kind: str, grid_side: int, preview_side: int) -> int:
    """The long side in pixels of a thumbnail ``kind``, given the configured sizes."""
    sides = {GRID: grid_side, GRID_2X: grid_side * GRID_2X_SCALE, PREVIEW: preview_side}
    if kind not in sides:
        raise ValueError(f"unknown thumbnail kind {kind!r}")
    return sides[kind]


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink so the longer side is at most ``max_side``; never enlarge, never mutate."""
    if max(image.size) <= max_side:
        return image
    copy = image.copy()
    copy.thumbnail((max_side, max_side), RESAMPLE, reducing_gap=REDUCING_GAP)
    return copy


def encode_webp(image: Image.Image, max_side: int, quality: int = 80) -> bytes:
    """Lossy WebP of ``image`` fitted within ``max_side``; alpha is kept if present."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    fitted = fit(image, max_side)
    if fitted.mode not in ("RGB", "RGBA"):
        fitted = fitted.convert("RGBA" if "A" in fitted.getbands() else "RGB")
    buffer = io.BytesIO()
    fitted.save(buffer, "WEBP", quality=quality, method=webp_method(max_side))
    return buffer.getvalue()


def webp_method(max_side: int) -> int:
    """Small thumbnails are made by the thousand while indexing; large ones one at a time."""
    return GRID_WEBP_METHOD if max_side <= GRID_MAX_SIDE else LARGE_WEBP_METHOD


def thumbnail_path(thumbs_dir: Path, content_hash: str, kind: str) -> Path:
    """``thumbs_dir/<hash[:2]>/<hash>.<kind>.webp``; refuses hashes that could escape."""
    if kind not in KINDS:
        raise ValueError(f"unknown thumbnail kind {kind!r}")
    if len(content_hash) <= HASH_SHARD_CHARS or not content_hash.isalnum():
        raise ValueError(f"not a content hash: {content_hash!r}")
    return thumbs_dir / content_hash[:HASH_SHARD_CHARS] / f"{content_hash}.{kind}.webp"


def moment_thumbnail_path(thumbs_dir: Path, content_hash: str, at_s: float) -> Path:
    """``thumbs_dir/<hash[:2]>/<hash>.moment-<milliseconds>.webp``: the picture of a video
    at a time, named by its content and that time, so a revisit (or a copy of the same
    video) costs nothing."""
    grid = thumbnail_path(thumbs_dir, content_hash, GRID)  # checks the hash
    return grid.with_name(f"{content_hash}.moment-{round(at_s * 1000)}.webp")


def moment_version(content_hash: str, at_s: float) -> str:
    """What a moment picture's URL carries as ``v``: its content and time, so the URL of
    another picture (a re-indexed video, other moments) is another URL."""
    return f"{content_hash[:12]}-{round(at_s * 1000)}"


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    """Write beside the target and rename over it, so readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_thumbnail(image: Image.Image, path: Path, max_side: int) -> None:
    """Encode first, then write: a failed encode leaves no file, old or new, half-written."""
    write_bytes_atomic(path, encode_webp(image, max_side))
