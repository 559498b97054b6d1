"""What the 2x grid tile costs while indexing: CPU time and bytes, against the 1x tile alone.

    PYTHONPATH=. .venv/bin/python bench/bench_thumbs_2x.py [--photos 40] [--rounds 3] [--corpus DIR]

Generates --photos 12 MP JPEGs (4000x3000, textured so WebP has real work), then per photo,
as the reader thread does in hachi/indexer/extract.py:

  before   DCT-scaled decode with the old floor (shorter side >= 240) + the 320 px tile
  after    decode with today's floor (>= 480, so a 4:3 photo still has a 640 px long side)
           + the 640 px 2x tile + the 320 px tile shrunk from it

and reports CPU-ms per photo for each, the split (decode, 1x, 2x), the bytes of each tile,
and the ratio. Rounds are interleaved so both sides see the same load. With faces on (the
default), the decode floor is 1200 px anyway, so only the 2x encode is extra there.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hachi.media.decode import decode_image
from hachi.media.thumbnails import encode_webp, fit

GRID_SIDE = 320
OLD_FLOOR, NEW_FLOOR = 240, 480


def make_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(75, 100, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC)
    noise = rng.integers(-12, 12, size=(3000, 4000, 3))
    image = Image.fromarray(
        np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def cpu_ms(fn):  # type: ignore[no-untyped-def]
    started = time.process_time()
    result = fn()
    return (time.process_time() - started) * 1000, result


def _two_tiles(image: Image.Image) -> tuple[bytes, Image.Image]:
    """As the indexer does: the 2x tile, then the 1x shrunk from it (encoded by the caller's
    timing too: see main)."""
    sharp = fit(image, GRID_SIDE * 2)
    data = encode_webp(sharp, GRID_SIDE * 2)
    small = fit(sharp, GRID_SIDE)
    encode_webp(small, GRID_SIDE)
    return data, small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, help="real JPEGs instead of generated ones")
    args = parser.parse_args()
    if args.corpus:
        photos = [p.read_bytes() for p in sorted(args.corpus.glob("*.jpg"))[: args.photos]]
    else:
        photos = [make_jpeg(i) for i in range(args.photos)]
    parts: dict[str, list[float]] = {
        k: [] for k in ("old_decode", "old_grid", "new_decode", "new_tiles")
    }
    sizes: dict[str, list[int]] = {"grid": [], "grid2x": []}
    for _ in range(args.rounds):
        for data in photos:
            ms, old = cpu_ms(lambda data=data: decode_image(data, OLD_FLOOR, "x.jpg").image)
            parts["old_decode"].append(ms)
            ms, new = cpu_ms(lambda data=data: decode_image(data, NEW_FLOOR, "x.jpg").image)
            parts["new_decode"].append(ms)
            ms, _ = cpu_ms(lambda old=old: encode_webp(old, GRID_SIDE))
            parts["old_grid"].append(ms)
            ms, (sharp, tile) = cpu_ms(lambda new=new: _two_tiles(new))
            parts["new_tiles"].append(ms)
            grid = encode_webp(tile, GRID_SIDE)
            sizes["grid"].append(len(grid))
            sizes["grid2x"].append(len(sharp))
    mean = {k: statistics.mean(v) for k, v in parts.items()}
    before = mean["old_decode"] + mean["old_grid"]
    after = mean["new_decode"] + mean["new_tiles"]
    load = os.getloadavg()[0]
    print(f"load {load:.1f}; {len(photos)} photos x {args.rounds} rounds, CPU-ms a photo")
    for key, value in mean.items():
        print(f"  {key:10s} {value:7.1f}")
    print(f"  before (decode >= {OLD_FLOOR} + 1x tile): {before:.1f} ms")
    print(f"  after  (decode >= {NEW_FLOOR} + 1x + 2x): {after:.1f} ms  ({after / before:.2f}x)")
    extra = mean["new_tiles"] - mean["old_grid"]
    print(f"  with faces on (decode >= 1200 either way): +{extra:.1f} ms for the 2x tile")
    g, g2 = statistics.mean(sizes["grid"]), statistics.mean(sizes["grid2x"])
    print(f"  bytes: 1x {g / 1024:.1f} KiB, 2x {g2 / 1024:.1f} KiB ({g2 / g:.2f}x)")
    print(f"  tile bytes per photo: {(g + g2) / g:.2f}x the 1x tile alone")


if __name__ == "__main__":
    main()
