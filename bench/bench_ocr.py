"""OCR speed and recall versus the size photos are reduced to before text detection.

Generates 12 MP "photos" (noisy, textured backgrounds with clutter) holding signs whose
text height is a given fraction of the photo height, then reads them with TextReader at
several ``max_side`` values. Prints, per size, seconds per photo and the share of signs
whose text was read exactly (ignoring spaces and case).

    .venv/bin/python bench/bench_ocr.py [--photos 6] [--threads 2] [--sizes 960,1280,1600]

Measured with ``--photos 4 --threads 2`` on the 2-core shared dev VM (load average ~5,
so timings vary by up to 2x between runs; best of two or three runs), onnxruntime 1.32:

    engine (models)                              max_side  s/photo  signs read
    rapidocr 3.10 (PP-OCRv6 small det + rec)          960     0.62   19/20
                                                     1280     2.08   20/20
                                                     1600     4.51   20/20
    rapidocr-onnxruntime 1.4.4 (PP-OCRv4 mobile)      960     0.81   17/20
                                                     1280     1.34   20/20
                                                     1600     2.39   19/20

Text detection is ~85 % of the time (the PP-OCRv6 small detector is twice the size of
the v4 mobile one); recognition ~10 %, the angle classifier ~1 %. OCR_MAX_SIDE stays 1280.
"""

from __future__ import annotations

import argparse
import random
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hachi.ml.ocr import OCR_MODEL, OCR_PACKAGE, TextReader

PHOTO_SIZE = (4000, 3000)
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
)
SIGNS = ("RE16 TGK", "HAPPY BIRTHDAY", "KING STREET", "EXIT 24", "CAFE ROMA", "NO PARKING")
# Text height as a fraction of the photo height: a street sign across the road is ~1.5 %.
TEXT_HEIGHTS = (0.008, 0.012, 0.018, 0.03, 0.05)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def scene(rng: random.Random) -> tuple[Image.Image, list[str]]:
    """A cluttered photo with one sign per text height; returns it and the sign texts."""
    noise = np.random.default_rng(rng.randrange(1 << 30)).integers(
        0, 60, (PHOTO_SIZE[1] // 8, PHOTO_SIZE[0] // 8, 3), dtype=np.uint8
    )
    base = Image.fromarray(noise + np.uint8(rng.randrange(60, 150))).resize(PHOTO_SIZE)
    draw = ImageDraw.Draw(base)
    for _ in range(30):
        x, y = rng.randrange(PHOTO_SIZE[0]), rng.randrange(PHOTO_SIZE[1])
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(50, 600), y + rng.randrange(50, 400)), fill=colour)
    texts = []
    for row, height in enumerate(TEXT_HEIGHTS):
        text = rng.choice(SIGNS)
        face = font(int(height * PHOTO_SIZE[1]))
        x, y = rng.randrange(100, 1600), 150 + row * 560
        left, top, right, bottom = draw.textbbox((x, y), text, font=face)
        pad = (bottom - top) // 2
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(250, 250, 240))
        draw.text((x, y), text, font=face, fill=(20, 30, 120))
        texts.append(text)
    return base, texts


def squash(text: str) -> str:
    return "".join(text.split()).upper()


def measure(size: int, photos: list[tuple[Image.Image, list[str]]], threads: int) -> str:
    reader = TextReader(threads=threads, max_side=size)
    reader.ensure_loaded()
    reader.predict(photos[0][0])  # warm-up: first run allocates arenas
    found = total = 0
    started = time.perf_counter()
    for image, texts in photos:
        read = {squash(line.text) for line in reader.predict(image)}
        found += sum(squash(t) in read for t in texts)
        total += len(texts)
    per_photo = (time.perf_counter() - started) / len(photos)
    return f"{size:>8} {per_photo:>10.3f} {found:>4}/{total:<4} ({100 * found / total:.0f} %)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="960,1280,1600,2000")
    args = parser.parse_args()
    rng = random.Random(1234)
    photos = [scene(rng) for _ in range(args.photos)]
    print(f"{OCR_MODEL} ({OCR_PACKAGE} {version(OCR_PACKAGE)}), {args.threads} threads")
    print(f"{args.photos} photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, text heights {TEXT_HEIGHTS}")
    print(f"{'max_side':>8} {'s/photo':>10} signs read")
    for size in (int(s) for s in args.sizes.split(",")):
        print(measure(size, photos, args.threads), flush=True)


if __name__ == "__main__":
    main()
