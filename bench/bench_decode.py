"""Per-photo cost of the decoding layer on a realistic 12 MP JPEG.

Run: ``.venv/bin/python bench/bench_decode.py [--repeat N] [--threads T]``

Prints the median time of each step (decode at 320 and 224 px, WebP grid thumbnail,
content hash of 4 MB and of the JPEG itself), a full-resolution decode for comparison, and
the photos/s of hash + decode + thumbnail across T threads (the indexer's reader stage).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from hachi.media.decode import decode_image
from hachi.media.hashing import content_hash
from hachi.media.thumbnails import encode_webp

WIDTH, HEIGHT = 4000, 3000
GRID_SIDE = 320
CLIP_SIDE = 224
HASH_BUFFER_BYTES = 4 * 1024 * 1024


def make_jpeg(seed: int = 0) -> bytes:
    """Smooth gradients plus sensor-like noise at quality 90: ~4-6 MB, like a phone photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    red = 128 + 100 * np.sin(x / 700 + seed)
    green = 128 + 100 * np.cos(y / 500)
    blue = 255 * (x + y) / (WIDTH + HEIGHT)
    pixels = np.stack([red, green, blue], -1) + rng.normal(0, 6, (HEIGHT, WIDTH, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "BenchCam"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def median_ms(step: Callable[[], object], repeat: int) -> float:
    step()  # warm caches and lazy imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def full_decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image.thumbnail((GRID_SIDE * 2, GRID_SIDE * 2))
        return image


def reader_stage(data: bytes) -> None:
    content_hash(data)
    decoded = decode_image(data, GRID_SIDE, "bench.jpg")
    encode_webp(decoded.image, GRID_SIDE)


def throughput(photos: list[bytes], threads: int) -> float:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(reader_stage, photos[:threads]))
        start = time.perf_counter()
        list(pool.map(reader_stage, photos))
        return len(photos) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    data = make_jpeg()
    decoded = decode_image(data, GRID_SIDE, "bench.jpg")
    buffer = np.random.default_rng(1).bytes(HASH_BUFFER_BYTES)
    print(f"test JPEG: {WIDTH}x{HEIGHT}, {len(data) / 1e6:.1f} MB, q90")
    print(f"decoded for grid: {decoded.image.size} (reported {decoded.width}x{decoded.height})")
    steps: dict[str, Callable[[], object]] = {
        f"decode_image(12 MP JPEG, {GRID_SIDE})": lambda: decode_image(data, GRID_SIDE),
        f"decode_image(12 MP JPEG, {CLIP_SIDE})": lambda: decode_image(data, CLIP_SIDE),
        "full-resolution decode (for comparison)": lambda: full_decode(data),
        f"encode_webp(decoded, {GRID_SIDE})": lambda: encode_webp(decoded.image, GRID_SIDE),
        "content_hash(4 MB)": lambda: content_hash(buffer),
        f"content_hash(this JPEG, {len(data) / 1e6:.1f} MB)": lambda: content_hash(data),
    }
    for label, step in steps.items():
        print(f"{label:45s} {median_ms(step, args.repeat):8.2f} ms")
    photos = [data] * (args.repeat * args.threads * 2)
    rate = throughput(photos, args.threads)
    print(f"hash+decode+thumbnail, {args.threads} threads: {rate:8.1f} photos/s")


if __name__ == "__main__":
    main()
