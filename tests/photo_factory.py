"""Real JPEG files with real EXIF, written with Pillow, for tests and benchmarks."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def needs_corpus(path: Path = CORPUS) -> pytest.MarkDecorator:
    """A mark that skips a test without ``path``, except in CI, where the test runs and fails."""
    missing = not path.is_dir() and not os.environ.get("CI")
    return pytest.mark.skipif(missing, reason=f"the shared test corpus is missing: no {path}")


def require_corpus(path: Path = CORPUS) -> Path:
    """``path`` (the shared corpus or a folder of it); without it the test skips, except in
    CI (``CI`` set), where it fails: a CI run that skips the corpus tests proves nothing."""
    if not path.is_dir():
        message = f"the shared test corpus is missing: no {path}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class Shot:
    taken: str | None = "2019:06:01 12:00:00"  # EXIF format
    subsec: str | None = None
    offset: str | None = None
    make: str | None = "Canon"
    model: str | None = "Canon EOS 5D Mark IV"
    lens: str | None = None
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    orientation: int | None = None
    size: tuple[int, int] = (64, 48)
    seed: int = 0


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60, 4)
    return (float(deg), float(minutes), seconds)


def exif_for(shot: Shot) -> Image.Exif:
    exif = Image.Exif()
    if shot.make:
        exif[0x010F] = shot.make
    if shot.model:
        exif[0x0110] = shot.model
    if shot.orientation:
        exif[0x0112] = shot.orientation
    sub = exif.get_ifd(0x8769)
    if shot.taken:
        sub[0x9003] = shot.taken
        sub[0x9004] = shot.taken
    if shot.subsec:
        sub[0x9291] = shot.subsec
    if shot.offset:
        sub[0x9011] = shot.offset
    if shot.lens:
        sub[0xA434] = shot.lens
    if shot.lat is not None and shot.lon is not None:
        gps = exif.get_ifd(0x8825)
        gps[0] = b"\x02\x03\x00\x00"
        gps[1] = "N" if shot.lat >= 0 else "S"
        gps[2] = _dms(shot.lat)
        gps[3] = "E" if shot.lon >= 0 else "W"
        gps[4] = _dms(shot.lon)
        if shot.alt is not None:
            gps[5] = b"\x00" if shot.alt >= 0 else b"\x01"
            gps[6] = abs(shot.alt)
    return exif


def pixels(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 255, size=3)
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    arr = (base * (0.5 + 0.5 * x) * (0.5 + 0.5 * y)) + rng.normal(0, 8, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def jpeg_bytes(shot: Shot, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    pixels(shot.size, shot.seed).save(buffer, "JPEG", quality=quality, exif=exif_for(shot))
    return buffer.getvalue()


def write_photo(path: Path, shot: Shot | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(shot or Shot()))
    return path
