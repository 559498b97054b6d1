"""Face backend speed and recall on the shared corpus (../shared/corpus/faces).

Decodes every labelled photo once (EXIF orientation applied; decoding is not timed),
optionally reduces it to ``--working`` px on the long side as the indexer would, then
runs the backend over all photos ``--repeat`` times. Prints, per backend (and for dlib
per HOG detection size), photos/s, faces/s, and faces found against the labels.

    .venv/bin/python bench/bench_faces.py [--backend dlib] [--sizes 640,896,1280]
                                          [--working 0] [--repeat 2]

``--cluster-faces N`` instead times the people clustering on N synthetic 128-d faces
(50 per person): a full run, then 100 newly indexed faces against the clustered rest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from hachi.config import Settings
from hachi.indexer.people import Decisions, FaceRecord, assign_faces, params_for
from hachi.ml.faces import FaceBackend, create_backend
from hachi.ml.faces.dlib_backend import DETECT_LONG_SIDE, DlibBackend

Photos = list[tuple[Image.Image, float, int]]  # image, scale to original, labelled faces
FACES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "faces"


def load_corpus(working: int) -> Photos:
    """(image handed to the backend, scale back to the original, labelled face count)."""
    with open(FACES_DIR / "labels.json", encoding="utf-8") as handle:
        labels = {k: v for k, v in json.load(handle).items() if not k.startswith("_")}
    photos = []
    for name, people in sorted(labels.items()):
        with Image.open(FACES_DIR / name) as raw:
            image = ImageOps.exif_transpose(raw).convert("RGB")
        scale = 1.0
        if working and max(image.size) > working:
            scale = max(image.size) / working
            size = (round(image.width / scale), round(image.height / scale))
            image = image.resize(size, Image.Resampling.BILINEAR)
        photos.append((image, scale, len(people)))
    return photos


def measure(backend: FaceBackend, photos: Photos, repeat: int) -> tuple[float, int]:
    backend.ensure_loaded()
    backend.predict(photos[0][0], photos[0][1])  # warm-up
    found = 0
    start = time.perf_counter()
    for _ in range(repeat):
        found = sum(len(backend.predict(image, scale)) for image, scale, _ in photos)
    elapsed = (time.perf_counter() - start) / repeat
    return elapsed, found


def report(label: str, photos: Photos, elapsed: float, found: int) -> None:
    labelled = sum(count for _, _, count in photos)
    print(
        f"{label:<28} {len(photos) / elapsed:6.2f} photos/s  {found / elapsed:6.2f} faces/s  "
        f"{1000 * elapsed / len(photos):6.0f} ms/photo  faces {found}/{labelled}"
    )


def bench_clustering(count: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (max(1, count // 50), 128))
    noise = rng.normal(0, 1, (count, 128))
    noise *= 0.18 / np.linalg.norm(noise, axis=1, keepdims=True)
    vectors = np.repeat(centres / np.linalg.norm(centres, axis=1, keepdims=True), 50, 0)[:count]
    vectors = vectors + noise
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16)
    faces = [FaceRecord(i, i, i, None, False) for i in range(count)]
    ids = itertools.count(1)
    start = time.perf_counter()
    first = assign_faces(faces, vectors, Decisions(), params_for("dlib"), lambda: next(ids))
    full = time.perf_counter() - start
    known = [FaceRecord(i, i, i, first.get(i), False) for i in range(count - 100)]
    start = time.perf_counter()
    assign_faces(known + faces[-100:], vectors, Decisions(), params_for("dlib"), lambda: next(ids))
    print(
        f"clustering {count} faces: full {full:.2f} s ({len(set(first.values()))} people), "
        f"+100 new faces {1000 * (time.perf_counter() - start):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="dlib", choices=["dlib", "insightface"])
    parser.add_argument("--sizes", default=str(DETECT_LONG_SIDE), help="dlib HOG long sides")
    parser.add_argument("--working", type=int, default=0, help="reduce photos first (0: no)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cluster-faces", type=int, default=0, help="time clustering instead")
    args = parser.parse_args()
    if args.cluster_faces:
        bench_clustering(args.cluster_faces)
        return
    photos = load_corpus(args.working)
    print(f"{len(photos)} photos, working size {args.working or 'original'}")
    if args.backend == "dlib":
        for size in (int(s) for s in args.sizes.split(",")):
            elapsed, found = measure(DlibBackend(size), photos, args.repeat)
            report(f"dlib HOG {size}px", photos, elapsed, found)
    else:
        backend = create_backend("insightface", Settings.from_env())
        elapsed, found = measure(backend, photos, args.repeat)
        report("insightface", photos, elapsed, found)


if __name__ == "__main__":
    main()
