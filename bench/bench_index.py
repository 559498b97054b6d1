"""Metadata indexing throughput on generated 12-megapixel JPEGs with EXIF.

    .venv/bin/python bench/bench_index.py [--photos 2000] [--workers N]

Generates the photos once under bench/data/ (a few base images re-encoded, each copy with
its own EXIF block, so every file has its own content hash), then indexes them into a
fresh catalog with thumbnails, as `hachi index` does, and reports photos/s. As a baseline
measured in the same run it also times the usual way of doing the same work on a sample
(full decode with Pillow, EXIF transpose, resize, WebP), one image at a time.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hachi.config import Settings  # noqa: E402
from hachi.library import Library  # noqa: E402
from tests.photo_factory import Shot, exif_for  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "jpeg12mp-exif"  # v1 had a double Exif header
BASES = 6
SIZE = (4000, 3000)


def _base_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = SIZE
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    colour = rng.uniform(40, 215, 3).astype(np.float32)
    img = colour * (0.6 + 0.4 * np.sin(6 * x + seed)) * (0.6 + 0.4 * np.cos(4 * y))
    img = img + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _with_exif(jpeg: bytes, exif: bytes) -> bytes:
    """``exif`` as Pillow's ``Exif.tobytes`` gives it, which already starts with Exif\\0\\0."""
    segment = exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif
    app1 = b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment
    return jpeg[:2] + app1 + jpeg[2:]


def generate(count: int) -> list[Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    existing = sorted(DATA.glob("*.jpg"))
    if len(existing) >= count:
        return existing[:count]
    bases = [_base_jpeg(i) for i in range(BASES)]
    rng = random.Random(1)
    makes = [("Canon", "Canon EOS R5"), ("NIKON CORPORATION", "NIKON Z 6"), ("SONY", "ILCE-7M4")]
    for i in range(len(existing), count):
        make, model = rng.choice(makes)
        shot = Shot(
            taken=f"{rng.randint(2000, 2025)}:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d}"
            " 12:00:00",
            make=make,
            model=model,
            lat=rng.uniform(-60, 70),
            lon=rng.uniform(-180, 180),
            orientation=rng.choice([1, 1, 1, 6, 8]),
        )
        data = _with_exif(bases[i % BASES], exif_for(shot).tobytes())
        (DATA / f"IMG_{i:05d}.jpg").write_bytes(data)
    return sorted(DATA.glob("*.jpg"))[:count]


def naive_rate(files: list[Path], out: Path) -> float:
    started = time.perf_counter()
    for i, path in enumerate(files):
        with Image.open(path) as img:
            upright = ImageOps.exif_transpose(img.convert("RGB"))
            upright.thumbnail((320, 320))
            upright.save(out / f"{i}.webp", "WEBP", quality=80)
    return len(files) / (time.perf_counter() - started)


def hachi_rate(folder: Path, count: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env({}, home=Path(home), workers=workers)
        library = Library(settings)
        library.extractor.geocoder.lookup(0.0, 0.0)  # load GeoNames before the clock starts
        started = time.perf_counter()
        library.add_folder(str(folder))
        library.index_pending(with_models=False)
        elapsed = time.perf_counter() - started
        job = library.current_job()
        assert job is not None and job.done == count, job
        library.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=Settings.from_env({}).workers)
    parser.add_argument("--baseline-sample", type=int, default=40)
    args = parser.parse_args()
    files = generate(args.photos)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for f in files:
            (folder / f.name).symlink_to(f)
        for f in files:  # warm the page cache so both runs measure CPU, not the disk
            f.read_bytes()
        rate = hachi_rate(folder, len(files), args.workers)
        out = Path(tmp) / "naive"
        out.mkdir()
        base = naive_rate(files[: args.baseline_sample], out)
        shutil.rmtree(out)
    print(f"photos: {len(files)} x 12 MP JPEG, workers: {args.workers}")
    print(f"hachi index: {rate:.1f} photos/s (EXIF, hash, place, thumbnail, catalog)")
    print(f"baseline (full decode + thumbnail, one at a time): {base:.1f} photos/s")
    print(f"ratio: {rate / base:.1f}x")


if __name__ == "__main__":
    main()
