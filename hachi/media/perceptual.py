"""Perceptual fingerprints of the upright image, to find copies that are not byte-identical.

Two numbers per photo, both computed from the small decoded image the indexer already holds
(or, for a library indexed before they existed, from the stored grid thumbnail):

* ``phash``: imagehash's 64-bit DCT hash of the luminance. Resizing, recompressing,
  converting to PNG/HEIC/WebP, brightening and a crop of a few percent move it by a few
  bits; a different scene moves it by about half of them. It is stored as a signed 64-bit
  integer, SQLite's native type.
* ``chroma``: the colours, where and how much: the chromaticity (r, g share of r + g + b)
  of a 4x4 grid, then a hue histogram (12 hues weighted by saturation, and the share of
  grey). The luminance hash cannot tell a red square on blue from a blue square on red, nor
  red and cyan stripes from purple and green ones (which average to the same grid); these
  can, and brightening (a ratio) and recompression barely move them.

Both are computed on the upright image (EXIF orientation applied by the decoder), so a copy
that only differs by its orientation tag hashes the same.
"""

from __future__ import annotations

import imagehash
import numpy as np
from numpy.typing import NDArray
from PIL import Image

CHROMA_GRID = 4
GRID_BYTES = CHROMA_GRID * CHROMA_GRID * 2
"""A 4x4 grid of (r, g) chromaticity, one byte each."""
HUES = 12
HIST_BYTES = 16
"""12 hue bins, the grey share, and padding; the bins sum to about 255."""
CHROMA_BYTES = GRID_BYTES + HIST_BYTES
HIST_SIDE = 64
HASH_SOURCE_SIDE = 256
"""imagehash shrinks to 32 x 32 with Lanczos, whose cost grows with the source: 11 ms a
photo from the indexer's 1000 px decode. A box reduction to about this size first costs
under 1 ms and leaves the 32 x 32 picture, and so the hash, all but the same."""

_SIGN = 1 << 63


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT hash of ``image`` as a signed integer (what SQLite stores)."""
    rgb = _rgb(image)
    factor = max(rgb.size) // HASH_SOURCE_SIDE
    if factor > 1:
        rgb = rgb.reduce(factor)
    bits = imagehash.phash(rgb, hash_size=8).hash.flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value & _SIGN else value


def color_layout(image: Image.Image) -> bytes:
    """The grid's chromaticity (32 bytes) then the hue histogram (16 bytes) of ``image``."""
    rgb = _rgb(image)
    small = rgb.resize((CHROMA_GRID, CHROMA_GRID), Image.Resampling.BOX)
    cells = np.asarray(small, dtype=np.float64).reshape(-1, 3) + 1.0  # +1: black has no hue
    share = cells[:, :2] / cells.sum(axis=1, keepdims=True)
    grid = np.clip(np.rint(share * 255), 0, 255).astype(np.uint8)
    return bytes(grid.tobytes()) + _hue_histogram(rgb)


def _hue_histogram(rgb: Image.Image) -> bytes:
    """Saturation-weighted hue shares, softly binned so a small hue shift moves little."""
    hsv = np.asarray(rgb.resize((HIST_SIDE, HIST_SIDE), Image.Resampling.BOX).convert("HSV"))
    hue = hsv[..., 0].astype(np.float64).ravel() / 256 * HUES
    weight = hsv[..., 1].astype(np.float64).ravel() / 255 * (hsv[..., 2].ravel() > 24)
    low = np.floor(hue).astype(np.int64) % HUES
    frac = hue - np.floor(hue)
    bins = np.bincount(low, weight * (1 - frac), HUES)
    bins += np.bincount((low + 1) % HUES, weight * frac, HUES)
    grey = weight.size - weight.sum()
    shares = np.append(bins, grey) / weight.size
    out = np.zeros(HIST_BYTES, dtype=np.uint8)
    out[: HUES + 1] = np.clip(np.rint(shares * 255), 0, 255)
    return bytes(out.tobytes())


def chroma_distances(
    a: NDArray[np.int16], b: NDArray[np.int16]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Row-wise distances of two (n, 48) arrays: the grid's mean absolute chromaticity
    difference, and the hue histograms' total variation, both on a 0-255 scale."""
    grid = np.abs(a[:, :GRID_BYTES] - b[:, :GRID_BYTES]).mean(axis=1)
    hist = np.abs(a[:, GRID_BYTES:] - b[:, GRID_BYTES:]).sum(axis=1) / 2
    return grid, hist


def chroma_distance(a: bytes, b: bytes) -> tuple[float, float]:
    """``chroma_distances`` of two stored layouts."""
    grid, hist = chroma_distances(chroma_array([a]), chroma_array([b]))
    return float(grid[0]), float(hist[0])


def chroma_array(layouts: list[bytes]) -> NDArray[np.int16]:
    """Many layouts as one (n, 32) array, for vectorised comparison."""
    if not layouts:
        return np.zeros((0, CHROMA_BYTES), dtype=np.int16)
    joined = np.frombuffer(b"".join(layouts), dtype=np.uint8).reshape(-1, CHROMA_BYTES)
    return joined.astype(np.int16)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two stored hashes (signed or not)."""
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")
