"""Reader-thread CPU per photo on 12 MP JPEGs: each extraction step, before and after.

    .venv/bin/python bench/bench_extract.py [--photos 48] [--rounds 3] [--before DIR]
    .venv/bin/python bench/bench_extract.py --quality

Figures are CPU milliseconds of the measuring thread (``time.thread_time``), so other
processes do not count; their load still slows the shared cores, so the variants of a step
run back to back on the same photo, round after round, and a drift in machine speed hits
them alike. Compare figures within one run only.

Steps run on bench/data/jpeg12mp-exif (made by bench_index.py). "before" is the code the
reader-thread work replaced, rebuilt here: Pillow's draft + load fed in its default 64 KiB
pieces, a Lanczos grid tile with WebP method 1, and CLIP normalisation as float arithmetic
on every pixel. The whole ``Extractor.extract`` (hash, EXIF, decode, thumbnail, CLIP
preprocessing for a 224 px model, each round into an empty thumbnail folder) runs in a
worker process per tree, the trees taking turns photo by photo; ``--before DIR`` names an
older commit's copy of hachi/ to compare with this tree, e.g.
``mkdir /tmp/before && git archive 32cf746 hachi | tar -x -C /tmp/before``.

``--quality`` prints the table behind ``hachi.media.thumbnails``' choice of filter and
WebP effort: grid tiles of the real photos in shared/corpus/faces, decoded as the indexer
decodes them, against a Lanczos resize of the full-resolution decode.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hachi.media.decode import decode_image  # noqa: E402
from hachi.media.exif import read_metadata  # noqa: E402
from hachi.media.hashing import content_hash  # noqa: E402
from hachi.media.thumbnails import encode_webp  # noqa: E402
from hachi.ml.clip.config import PreprocessConfig  # noqa: E402
from hachi.ml.clip.preprocess import fit_to_target, preprocess_image  # noqa: E402

PHOTOS = ROOT / "bench" / "data" / "jpeg12mp-exif"
FACES = ROOT.parent / "shared" / "corpus" / "faces"
MIN_SIDE = 240  # the extractor's, with a 224 px CLIP model
GRID_SIDE = 320
PREVIEW_SIDE = 1600
FULL_SIZE = 1 << 20  # as min_side: decode_image then reduces nothing
TIMING_REPEATS = 3
CLIP = PreprocessConfig(
    (224, 224), (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
)
R = Image.Resampling
FILTERS = {"lanczos": R.LANCZOS, "bicubic": R.BICUBIC, "bilinear": R.BILINEAR}
Pair = tuple[Image.Image, Image.Image]  # (full-resolution decode, the indexer's decode)
Config = tuple[str, int]  # (filter, WebP method)

WHOLE_EXTRACT = r"""
import shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from hachi.config import Settings
from hachi.indexer.extract import Extractor
from hachi.indexer.scan import FoundFile
from hachi.ml.clip.config import PreprocessConfig
from hachi.ml.clip.preprocess import preprocess_image

CONFIG = PreprocessConfig((224, 224), (0.48145466, 0.4578275, 0.40821073),
                          (0.26862954, 0.26130258, 0.27577711))

class Clip:
    task, min_side = "clip", 224
    def prepare(self, image):
        return preprocess_image(image, CONFIG)

paths = [Path(p) for p in sys.argv[2:]]
with tempfile.TemporaryDirectory() as home:
    settings = Settings.from_env({}, home=Path(home))
    extractor = Extractor(settings, preparers=[Clip()])
    extractor.geocoder.lookup(0.0, 0.0)
    found = [FoundFile(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    extractor.extract(found[0], 1, str(paths[0].parent))  # warm-up
    for line in sys.stdin:  # "clear" empties the thumbnail folder; a number extracts a photo
        if line.strip() == "clear":
            shutil.rmtree(settings.thumbs_dir, ignore_errors=True)
            print("cleared", flush=True)
            continue
        started = time.thread_time()
        result = extractor.extract(found[int(line)], 1, str(paths[0].parent))
        spent = (time.thread_time() - started) * 1000
        assert result.error is None, result.error
        print(spent, flush=True)
"""


# -- the code before, rebuilt for comparison ----------------------------------------------------


def decode_before(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        scale = min(im.size) / MIN_SIDE
        im.draft("RGB", (math.ceil(im.width / scale), math.ceil(im.height / scale)))
        im.load()
        return im


def thumbnail_before(image: Image.Image) -> bytes:
    copy = image.copy()
    copy.thumbnail((GRID_SIDE, GRID_SIDE), R.LANCZOS, reducing_gap=2.0)
    buffer = io.BytesIO()
    copy.save(buffer, "WEBP", quality=80, method=1)
    return buffer.getvalue()


def preprocess_before(image: Image.Image) -> NDArray[np.float32]:
    pixels = np.asarray(fit_to_target(image, CLIP), dtype=np.float32) / np.float32(255.0)
    pixels -= np.asarray(CLIP.mean, dtype=np.float32)
    pixels /= np.asarray(CLIP.std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


# -- per-step costs -------------------------------------------------------------------------------


def step_table(files: list[Path], rounds: int) -> dict[str, list[float]]:
    """name -> CPU ms of each (photo, round); variants of one photo run back to back."""
    blobs = [f.read_bytes() for f in files]
    images = [decode_image(b, MIN_SIDE, f.name).image for b, f in zip(blobs, files, strict=True)]
    steps: dict[str, Callable[[int], Any]] = {
        "read file": lambda i: files[i].read_bytes(),
        "blake2b hash": lambda i: content_hash(blobs[i]),
        "exif": lambda i: read_metadata(blobs[i], files[i].name),
        "decode, before": lambda i: decode_before(blobs[i]),
        "decode, after": lambda i: decode_image(blobs[i], MIN_SIDE, files[i].name),
        "grid thumbnail, before": lambda i: thumbnail_before(images[i]),
        "grid thumbnail, after": lambda i: encode_webp(images[i], GRID_SIDE),
        "clip preprocess, before": lambda i: preprocess_before(images[i]),
        "clip preprocess, after": lambda i: preprocess_image(images[i], CLIP),
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for i in range(len(files)):
            for name, step in steps.items():
                started = time.thread_time()
                step(i)
                samples[name].append((time.thread_time() - started) * 1000)
    return samples


def whole_extract(files: list[Path], rounds: int, before: Path | None) -> dict[str, list[float]]:
    """CPU ms of each (photo, round) of ``Extractor.extract`` in one process per tree; the
    trees take turns photo by photo, so drift in machine speed hits both alike."""
    trees = {"before": before, "after": ROOT} if before else {"after": ROOT}
    workers = {
        name: subprocess.Popen(
            [sys.executable, "-c", WHOLE_EXTRACT, str(tree), *map(str, files)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, tree in trees.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for _ in range(rounds):
            for worker in workers.values():
                ask(worker, "clear")  # every round writes its thumbnails afresh
            for i in range(len(files)):
                for name, worker in workers.items():
                    samples[name].append(float(ask(worker, str(i))))
    finally:
        for worker in workers.values():
            assert worker.stdin is not None
            worker.stdin.close()
            worker.wait()
    return samples


def ask(worker: subprocess.Popen[str], command: str) -> str:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(command + "\n")
    worker.stdin.flush()
    answer = worker.stdout.readline()
    if not answer:
        raise RuntimeError(f"the extract worker stopped (exit {worker.wait()})")
    return answer


def report_costs(files: list[Path], rounds: int, before: Path | None) -> None:
    print(f"{len(files)} photos x {rounds} rounds, 12 MP JPEG; CPU ms per photo, one thread")
    print(f"{'step':<28}{'mean':>8}{'median':>8}")
    for name, values in step_table(files, rounds).items():
        print(f"{name:<28}{statistics.mean(values):8.2f}{statistics.median(values):8.2f}")
    for name, values in whole_extract(files, rounds, before).items():
        mean, median = statistics.mean(values), statistics.median(values)
        print(f"{'whole extract(), ' + name:<28}{mean:8.2f}{median:8.2f}")


# -- thumbnail quality ----------------------------------------------------------------------------


def ssim(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Mean SSIM of the luma (Wang et al. 2004: Gaussian window, sigma 1.5)."""
    weights = np.array([0.299, 0.587, 0.114])
    x, y = a.astype(np.float64) @ weights, b.astype(np.float64) @ weights

    def blur(z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(cv2.GaussianBlur(z, (11, 11), 1.5), dtype=np.float64)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(index.mean())


def psnr(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def decoded_pairs(paths: list[Path], min_side: int) -> list[Pair]:
    """(full-resolution decode, the indexer's reduced decode) of each photo, both upright."""
    pairs = []
    for path in paths:
        data = path.read_bytes()
        full = decode_image(data, FULL_SIZE).image
        pairs.append((full, decode_image(data, min_side).image))
    return pairs


def quality_table(paths: list[Path], side: int, min_side: int, methods: tuple[int, ...]) -> None:
    pairs = [p for p in decoded_pairs(paths, min_side) if max(p[1].size) > side]
    configs = [(label, method) for label in FILTERS for method in methods]
    ms = tile_times(pairs, side, configs)
    print(f"{len(pairs)} photos; ms: resize + encode, CPU, the least disturbed of {TIMING_REPEATS}")
    print(f"{'filter':<10}{'method':>7}{'ms':>8}{'bytes':>8}{'PSNR dB':>9}{'SSIM':>8}")
    for config in configs:
        scores = np.array([tile_scores(pair, side, config) for pair in pairs]).mean(axis=0)
        size, db, index = scores
        print(f"{config[0]:<10}{config[1]:>7}{ms[config]:8.2f}{size:8.0f}{db:9.2f}{index:8.4f}")


def tile_times(pairs: list[Pair], side: int, configs: list[Config]) -> dict[Config, float]:
    """Mean over photos of the least disturbed of a few runs; configs interleaved per photo."""
    best = {(config, i): math.inf for config in configs for i in range(len(pairs))}
    for _ in range(TIMING_REPEATS):
        for i, (_, small) in enumerate(pairs):
            for config in configs:
                started = time.thread_time()
                make_tile(small, side, config)
                spent = (time.thread_time() - started) * 1000
                best[config, i] = min(best[config, i], spent)
    return {c: statistics.mean(best[c, i] for i in range(len(pairs))) for c in configs}


def tile_scores(pair: Pair, side: int, config: Config) -> tuple[int, float, float]:
    """(bytes, PSNR, SSIM) of one photo's tile against the full-resolution reference."""
    full, small = pair
    encoded = make_tile(small, side, config)
    with Image.open(io.BytesIO(encoded)) as tile:
        shown = np.asarray(tile.convert("RGB"))
    reference = np.asarray(full.resize((shown.shape[1], shown.shape[0]), R.LANCZOS))
    return len(encoded), psnr(shown, reference), ssim(shown, reference)


def make_tile(image: Image.Image, side: int, config: Config) -> bytes:
    tile = image.copy()
    tile.thumbnail((side, side), FILTERS[config[0]], reducing_gap=2.0)
    buffer = io.BytesIO()
    tile.save(buffer, "WEBP", quality=80, method=config[1])
    return buffer.getvalue()


def report_quality(files: list[Path]) -> None:
    faces = sorted(FACES.glob("*.jpg"))
    if not faces:
        sys.exit(f"no real photos at {FACES}")
    print(f"grid tiles ({GRID_SIDE} px, quality 80) of the real photos in {FACES}:")
    quality_table(faces, GRID_SIDE, MIN_SIDE, (0, 1, 2, 4))
    print(f"\ngrid tiles of {len(files[:8])} bench JPEGs (synthetic: smooth gradient + noise):")
    quality_table(files[:8], GRID_SIDE, MIN_SIDE, (0, 1, 2, 4))
    print(f"\npreviews ({PREVIEW_SIDE} px) of the real photos larger than that:")
    quality_table(faces, PREVIEW_SIDE, PREVIEW_SIDE * 3 // 4, (0, 1, 2, 4))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an older tree holding hachi/")
    parser.add_argument("--quality", action="store_true", help="thumbnail filter/effort table")
    args = parser.parse_args()
    files = sorted(PHOTOS.glob("*.jpg"))[: args.photos]
    if not files:
        sys.exit(f"no photos in {PHOTOS}: run bench/bench_index.py first")
    if args.quality:
        report_quality(files)
    else:
        report_costs(files, args.rounds, args.before)


if __name__ == "__main__":
    main()
