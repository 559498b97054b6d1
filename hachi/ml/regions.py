"""Where in a photo an expensive analysis should look: cheap, recall-first candidate maps.

Most photos in a library hold no text and no face, yet a text detector or a face detector
costs the same on every pixel. These pure functions cut the working image into square
tiles, mark the tiles where text or a face could be (a cheap per-pixel test, no model),
and merge marked tiles into a few rectangles. The analysis then runs only inside those
rectangles, at the same resolution as before, so what it finds there is what it found on
the whole photo; a photo with no marked tile costs only the test.

- Text: printed strokes make strong local contrast (the range of a 3 x 3 neighbourhood of
  the grey image) at a density no smooth surface reaches. A tile is marked when enough
  of its pixels have that contrast.
- Faces: skin, in any complexion and most lighting, falls in one box of the YCbCr plane
  (Chai and Ngan, 1999). A tile is marked when enough of its pixels are skin-coloured. A
  photo with almost no colour (black and white, sepia, infrared) says nothing about skin,
  so :func:`skin_tiles` marks all of it.

Thresholds are measured by ``bench/bench_gates.py`` against what the full pass finds.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the image the tiles cut

TEXT_TILE = 32  # px of the image the reader works on (1280 px long)
COARSE_TEXT_TILE = 16  # px of its quarter-size copy (64 of the image)
TEXT_CONTRAST = 20  # grey levels across a 3 x 3 neighbourhood: a stroke edge, faint ones too
TEXT_TILE_SHARE = 0.12  # share of a tile's pixels at that contrast (one straight edge: ~6 %)
MIN_CROSSINGS = 3  # edges a pixel row of a tile must cross to run through text
TEXT_ROWS = 3  # such rows a tile needs (2 in the quarter-size copy)
# Large text out of focus has soft edges; a quarter-size copy makes them sharp again, and
# there a tile of 16 px (64 of the reduced photo) holding a word's strokes is over a third
# edges, against under 30 % for a horizon or a roof line.
COARSE_TEXT_TILE_SHARE = 0.36
COARSE_TEXT_CONTRAST = 20  # grey levels in the quarter-size copy
# A line goes on sideways past the tiles its strokes mark, and the detector reads small
# text only with some 50 px of context around it (less, and a crop's edge hides it).
TEXT_MARGIN = (96, 64)
LARGE_TEXT_MARGIN = (256, 128)  # around tiles marked in the quarter-size copy: big words
SKIN_CR = (133, 173)  # Chai and Ngan's skin box in the YCbCr plane
SKIN_CB = (77, 127)
SKIN_TILE_SHARE = 0.10  # share of a tile's pixels that are skin-coloured
BALANCED_SKIN_LIMIT = 0.35  # share of tiles; more, and it is the scene that the balance shifted
COLOURLESS_CHROMA = 6.0  # mean |Cb - 128| + |Cr - 128| under which a photo has no colour
FEATURE_CONTRAST = 24  # grey levels across a 3 x 3 neighbourhood of a reduced face: an eye
FEATURE_TILE_SHARE = 0.03
MAX_SHARE = 0.5  # rectangles covering more than this share of the photo: run on all of it


def grey(rgb: NDArray[np.uint8]) -> NDArray[np.int16]:
    """ITU-R BT.601 luma of H x W x 3 RGB pixels, as int16 for differences."""
    weights = np.array([77, 150, 29], dtype=np.uint16)
    return ((rgb.astype(np.uint16) @ weights) >> 8).astype(np.int16)


def local_contrast(luma: NDArray[np.int16]) -> NDArray[np.int16]:
    """Max minus min of each pixel's 3 x 3 neighbourhood (borders use what exists)."""
    high = luma.copy()
    low = luma.copy()
    for axis in (0, 1):
        for shift in (1, -1):
            src = [slice(None), slice(None)]
            dst = [slice(None), slice(None)]
            src[axis] = slice(None, -1) if shift == 1 else slice(1, None)
            dst[axis] = slice(1, None) if shift == 1 else slice(None, -1)
            np.maximum(high[tuple(dst)], high[tuple(src)].copy(), out=high[tuple(dst)])
            np.minimum(low[tuple(dst)], low[tuple(src)].copy(), out=low[tuple(dst)])
    return high - low


def tile_shares(mask: NDArray[np.bool_], tile: int) -> NDArray[np.float64]:
    """Share of true pixels in each ``tile`` x ``tile`` square (edge tiles are partial)."""
    h, w = mask.shape
    rows, cols = -(-h // tile), -(-w // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=np.uint16)
    padded[:h, :w] = mask
    counts = padded.reshape(rows, tile, cols, tile).sum(axis=(1, 3), dtype=np.float64)
    heights = np.minimum(tile, h - np.arange(rows) * tile)
    widths = np.minimum(tile, w - np.arange(cols) * tile)
    return counts / np.outer(heights, widths)


def text_tiles(
    luma: NDArray[np.uint8],
    contrast: NDArray[np.integer],
    tile: int,
    share: float,
    rows: int,
    level: int = TEXT_CONTRAST,
) -> NDArray[np.bool_]:
    """Tiles where printed text could be: a ``share`` of stroke-edge pixels (``level``
    grey levels) in ``contrast`` (a :func:`local_contrast` map of ``luma``, or OpenCV's
    morphological gradient) and ``rows`` pixel rows that cross ``MIN_CROSSINGS`` strokes."""
    dense = tile_shares(contrast >= level, tile) >= share
    return dense & (stroke_rows(luma, tile, level) >= rows)


def text_areas(
    luma: NDArray[np.uint8],
    contrast: NDArray[np.uint8],
    quarter: NDArray[np.uint8],
    quarter_contrast: NDArray[np.uint8],
) -> list[Rect]:
    """Rectangles of an image (its grey ``luma`` and local ``contrast``) where text could
    be: small text from its tiles, large or soft text from those of a ``quarter``-size copy
    (out of focus, a big word's edges are too soft at full size)."""
    size = (luma.shape[1], luma.shape[0])
    small = (quarter.shape[1], quarter.shape[0])
    tiles = text_tiles(luma, contrast, TEXT_TILE, TEXT_TILE_SHARE, TEXT_ROWS, TEXT_CONTRAST)
    coarse = text_tiles(
        quarter,
        quarter_contrast,
        COARSE_TEXT_TILE,
        COARSE_TEXT_TILE_SHARE,
        TEXT_ROWS - 1,
        COARSE_TEXT_CONTRAST,
    )
    margin = (LARGE_TEXT_MARGIN[0] // 4, LARGE_TEXT_MARGIN[1] // 4)
    found = regions(tiles, TEXT_TILE, TEXT_MARGIN, size)
    found += scaled_up(regions(coarse, COARSE_TEXT_TILE, margin, small), 4, small, size)
    return covering(found, size)


def stroke_rows(
    luma: NDArray[np.uint8], tile: int, level: int = TEXT_CONTRAST
) -> NDArray[np.int64]:
    """For each tile, how many of its pixel rows meet ``MIN_CROSSINGS`` separate edges
    (runs of pixels whose left and right neighbours differ by ``level`` grey levels).
    A row through a word crosses a stroke every few pixels; a horizon, a roof line or a
    branch, once or twice."""
    values = luma.astype(np.int16)
    edge = np.zeros(values.shape, dtype=np.bool_)
    edge[:, 1:-1] = np.abs(values[:, 2:] - values[:, :-2]) >= level
    starts = np.zeros(values.shape, dtype=np.uint8)
    starts[:, 1:] = edge[:, 1:] & ~edge[:, :-1]
    h, w = values.shape
    rows, cols = -(-h // tile), -(-w // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=np.uint8)
    padded[:h, :w] = starts
    per_row = padded.reshape(rows * tile, cols, tile).sum(axis=2)
    return (per_row >= MIN_CROSSINGS).reshape(rows, tile, cols).sum(axis=1)


def skin_tiles(
    rgb: NDArray[np.uint8], tile: int, share: float = SKIN_TILE_SHARE
) -> NDArray[np.bool_]:
    """Tiles where a face could be: a ``share`` of skin-coloured pixels, as shot or once
    the light's colour is taken out (stage lights, shade and fluorescent tubes push skin out
    of the box); every tile when the photo has too little colour for skin to tell. Whether
    the balance turned the whole scene skin-coloured is judged at the usual share, so a
    lower ``share`` only ever marks more tiles."""
    planes = tuple(np.ascontiguousarray(rgb[..., c]) for c in range(3))
    skin, chroma = _skin(*(plane.astype(np.int32) for plane in planes))
    shares = tile_shares(skin, tile)
    if float(chroma.mean()) < COLOURLESS_CHROMA:
        return np.ones(shares.shape, dtype=np.bool_)
    as_shot = shares >= share
    balanced = tile_shares(_skin(*white_balanced(planes))[0], tile)
    if (balanced >= SKIN_TILE_SHARE).mean() > BALANCED_SKIN_LIMIT:
        return as_shot  # the balance turned the scene itself skin-coloured
    return as_shot | (balanced >= share)


def white_balanced(planes: tuple[NDArray[np.uint8], ...]) -> tuple[NDArray[np.int32], ...]:
    """The R, G and B ``planes`` with the light's colour taken out by the grey-world rule:
    each channel scaled to the same mean (through a 256-entry table per channel, the same
    values as scaling every pixel, at a fraction of the cost). It also turns blue or green
    landscapes skin-coloured, all over (see ``BALANCED_SKIN_LIMIT``); estimating the light
    from the least colourful pixels alone spared some of those but lost a face under blue
    light."""
    means = np.array([plane.mean(dtype=np.float64) for plane in planes])
    gains = means.mean() / np.maximum(means, 1.0)
    levels = np.arange(256, dtype=np.float64)
    return tuple(
        np.clip(levels * gain, 0, 255).astype(np.int32)[plane]
        for plane, gain in zip(planes, gains, strict=True)
    )


def _skin(
    r: NDArray[np.int32], g: NDArray[np.int32], b: NDArray[np.int32]
) -> tuple[NDArray[np.bool_], NDArray[np.int32]]:
    """Skin-coloured pixels of the R, G and B planes, and each pixel's chroma
    |Cb - 128| + |Cr - 128|."""
    luma = (77 * r + 150 * g + 29 * b) >> 8
    cr = ((r - luma) * 183 >> 8) + 128  # 0.713 (R - Y) + 128
    cb = ((b - luma) * 144 >> 8) + 128  # 0.564 (B - Y) + 128
    skin = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    return skin, np.abs(cb - 128) + np.abs(cr - 128)


def textured_tiles(
    rgb: NDArray[np.uint8], tile: int, share: float = FEATURE_TILE_SHARE
) -> NDArray[np.bool_]:
    """Tiles with some detail (a face has eyes, brows, a mouth; a skin-coloured wall has
    none): a ``share`` of pixels whose 3 x 3 neighbourhood spans ``FEATURE_CONTRAST`` grey
    levels."""
    return tile_shares(local_contrast(grey(rgb)) >= FEATURE_CONTRAST, tile) >= share


def regions(
    tiles: NDArray[np.bool_],
    tile: int,
    margin: tuple[int, int],
    size: tuple[int, int],
    keep: NDArray[np.bool_] | None = None,
) -> list[Rect]:
    """Bounding rectangles of the groups of marked tiles, each grown by ``margin`` pixels
    (sideways, up and down) and clipped to ``size`` (width, height); rectangles that then
    overlap are merged. One
    rectangle of the whole image when they would cover more than ``MAX_SHARE`` of it.
    With ``keep``, a group is dropped unless one of its tiles is marked there too."""
    width, height = size
    rects = []
    for group in _groups(tiles):
        if keep is not None and not any(keep[cell] for cell in group):
            continue
        rows = [r for r, _ in group]
        cols = [c for _, c in group]
        rects.append(
            (
                max(0, min(cols) * tile - margin[0]),
                max(0, min(rows) * tile - margin[1]),
                min(width, (max(cols) + 1) * tile + margin[0]),
                min(height, (max(rows) + 1) * tile + margin[1]),
            )
        )
    return covering(rects, size)


def scaled_up(
    rects: list[Rect], factor: int, small: tuple[int, int], size: tuple[int, int]
) -> list[Rect]:
    """Rectangles of a copy ``factor`` times smaller (of ``small`` width, height) in the
    pixels of the image (of ``size``); a side on the copy's edge goes to the image's edge."""
    return [
        (
            x0 * factor,
            y0 * factor,
            size[0] if x1 >= small[0] else min(size[0], x1 * factor),
            size[1] if y1 >= small[1] else min(size[1], y1 * factor),
        )
        for x0, y0, x1, y1 in rects
    ]


def covering(rects: list[Rect], size: tuple[int, int]) -> list[Rect]:
    """``rects`` with overlapping ones merged; the whole image (``size`` = width, height)
    when they would cover more than ``MAX_SHARE`` of it."""
    rects = _merged(rects)
    area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects)
    if area > MAX_SHARE * size[0] * size[1]:
        return [(0, 0, *size)]
    return rects


def contains(outer: Rect | tuple[float, ...], inner: Rect | tuple[float, ...]) -> bool:
    """Whether rectangle ``inner`` lies within ``outer`` (both x0, y0, x1, y1)."""
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _groups(tiles: NDArray[np.bool_]) -> list[list[tuple[int, int]]]:
    """Marked tiles in 8-connected groups."""
    seen = np.zeros_like(tiles)
    groups = []
    for start in zip(*np.nonzero(tiles), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        group, queue = [], deque([(int(start[0]), int(start[1]))])
        while queue:
            r, c = queue.popleft()
            group.append((r, c))
            for nr in range(max(0, r - 1), min(tiles.shape[0], r + 2)):
                for nc in range(max(0, c - 1), min(tiles.shape[1], c + 2)):
                    if tiles[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        queue.append((nr, nc))
        groups.append(group)
    return groups


def _merged(rects: list[Rect]) -> list[Rect]:
    """Union overlapping rectangles until none overlap."""
    rects = list(rects)
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    rects[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects
