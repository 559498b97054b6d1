"""What faces and OCR cost per photo with their gates on and off, against the metadata pass.

Three classes of 12 MP JPEGs (written once, in memory): photos with neither text nor faces
(generated landscapes: sky, clouds, a ragged horizon, 1/f-textured ground in five palettes,
plus ``tests/photo_factory``'s noisy gradients), the labelled face corpus, and photos with
signs (``bench_ocr``'s cluttered scenes with five sign sizes, single signs of 16-48 px
text, high and low contrast, and faint captions printed straight on landscapes), and a
third of the corpus under blue and under green light. For every photo, in one process, back to back:
the metadata pass (``Extractor.extract``: read, hash, EXIF, DCT-scaled decode, thumbnail,
place), the decode each pass makes for itself, then faces and OCR (at the indexer's sizes)
with the gate off (the old path: the whole photo) and on, alternating which goes first.
Figures are CPU
milliseconds of this process (``time.process_time``: ONNX Runtime's threads count), so
other processes' load does not; compare figures within one run only.

It also checks recall: every face and every line the gate-off pass finds must be found
with the gate on (same text; face boxes within a few pixels).

    .venv/bin/python bench/bench_gates.py [--none 12] [--signs 6] [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ocr import font, scene, squash  # noqa: E402

from hachi.config import Settings  # noqa: E402
from hachi.indexer.extract import MIN_DECODE_SIDE, Extractor  # noqa: E402
from hachi.indexer.scan import FoundFile  # noqa: E402
from hachi.indexer.stages import FaceStage, OcrStage  # noqa: E402
from hachi.media.decode import decode_image  # noqa: E402
from hachi.ml.available import OCR_INDEX_SIDE  # noqa: E402
from hachi.ml.faces.dlib_backend import DlibBackend  # noqa: E402
from hachi.ml.ocr import ENGINE_THREADS, TextReader  # noqa: E402
from tests.photo_factory import Shot, exif_for, pixels  # noqa: E402

FACES = ROOT.parent / "shared" / "corpus" / "faces"
PHOTO_SIZE = (4000, 3000)
PALETTES = {  # sky, and the two ends of the ground's colour range
    "forest": ((110, 160, 220), (40, 90, 40), (70, 120, 50)),
    "meadow": ((150, 190, 235), (90, 150, 60), (130, 170, 70)),
    "mountain": ((170, 200, 240), (100, 100, 110), (150, 150, 160)),
    "lake": ((120, 170, 230), (40, 80, 130), (60, 110, 150)),
    "dusk": ((60, 50, 110), (30, 30, 50), (60, 50, 80)),
}
SIGN_TEXTS = ("KING STREET", "CAFE ROMA", "NO PARKING", "EXIT 24")
CASTS = {"blue light": (0.7, 0.95, 1.25), "green light": (0.85, 1.1, 0.8)}
FAINT_CAPTIONS = ((60, 30), (120, 30), (40, 50))  # text height, grey levels above the ground
SINGLE_SIGNS = ((16, True), (20, True), (24, True), (20, False), (32, False), (48, False))
BOX_SLACK = 12  # px of the original: a crop shifts HOG's pyramid grid by a few pixels


def fractal(rng: np.random.Generator, shape: tuple[int, int], octaves: int = 6) -> np.ndarray:
    """1/f noise in [0, 1]: octaves of bicubically enlarged Gaussian grids."""
    h, w = shape
    out = np.zeros(shape)
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.normal(0, 1, (cells * h // w + 2, cells + 2)).astype(np.float32)
        layer = Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC)
        out += np.asarray(layer) / (1.6**octave)
    return (out - out.min()) / (np.ptp(out) + 1e-9)


def landscape(seed: int, size: tuple[int, int] = PHOTO_SIZE) -> Image.Image:
    """Sky with clouds over a ragged horizon and textured ground; no text, no face."""
    rng = np.random.default_rng(seed)
    sky, low, high = list(PALETTES.values())[seed % len(PALETTES)]
    w, h = size[0] // 2, size[1] // 2  # drawn at half size, enlarged like a soft lens
    y = np.linspace(0, 1, h)[:, None, None]
    horizon = fractal(rng, (1, w))[0] * 0.25 + 0.35 + rng.uniform(-0.1, 0.1)
    clouds = 60 * np.clip(fractal(rng, (h, w))[..., None] - 0.55, 0, 1)
    ground = np.array(low) + (np.array(high) - np.array(low)) * fractal(rng, (h, w))[..., None]
    ground = ground * (0.7 + 0.5 * fractal(rng, (h, w), 8)[..., None])
    below = (y[..., 0] > horizon[None, :])[..., None]
    px = np.where(below, ground, np.array(sky) * (0.8 + 0.3 * y) + clouds)
    px = px + rng.normal(0, 3, (h, w, 3))
    image = Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))
    return image.resize(size, Image.Resampling.BICUBIC)


def single_sign(seed: int, height: int, contrast: bool) -> Image.Image:
    """A landscape with one sign of ``height`` px text, dark on light or grey on grey."""
    image = landscape(100 + seed)
    draw = ImageDraw.Draw(image)
    text, face = SIGN_TEXTS[seed % len(SIGN_TEXTS)], font(height)
    x, y = 400 + seed * 400, 1700 + (seed % 3) * 300
    left, top, right, bottom = draw.textbbox((x, y), text, font=face)
    pad = (bottom - top) // 2
    paper, ink = ((250, 250, 240), (20, 30, 120)) if contrast else ((150, 150, 140), (90, 90, 100))
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=paper)
    draw.text((x, y), text, font=face, fill=ink)
    return image


def faint_caption(seed: int, height: int, delta: int) -> Image.Image:
    """A landscape with a caption printed straight on it, ``delta`` grey levels lighter."""
    image = landscape(200 + seed)
    x, y = 1000, 600 + 500 * (seed % 3)
    ground = np.asarray(image)[y : y + height, x : x + 400].reshape(-1, 3).mean(axis=0)
    ink = tuple(min(255, int(v) + delta) for v in ground)
    ImageDraw.Draw(image).text((x, y), "SUMMER 2019", font=font(height), fill=ink)
    return image


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif_for(Shot()))
    return buffer.getvalue()


def photo_classes(none: int, signs: int) -> dict[str, list[tuple[str, bytes]]]:
    rng = random.Random(1234)
    plain = [(f"land{i}", jpeg(landscape(i))) for i in range(max(0, none - 2))]
    plain += [(f"gradient{i}", jpeg(pixels(PHOTO_SIZE, i))) for i in range(min(2, none))]
    labels = json.loads((FACES / "labels.json").read_text(encoding="utf-8"))
    faces = [(name, (FACES / name).read_bytes()) for name in sorted(labels) if name[0] != "_"]
    signed = [(f"scene{i}", jpeg(scene(rng)[0])) for i in range(signs)]
    signed += [
        (f"sign{height}{'hi' if hi else 'lo'}", jpeg(single_sign(i, height, hi)))
        for i, (height, hi) in enumerate(SINGLE_SIGNS)
    ]
    signed += [
        (f"caption{height}+{delta}", jpeg(faint_caption(i, height, delta)))
        for i, (height, delta) in enumerate(FAINT_CAPTIONS)
    ]
    cast = [
        (f"{name} {light}", jpeg(tinted(data, gains)))
        for light, gains in CASTS.items()
        for name, data in faces[::3]
    ]
    return {
        "no text, no faces": plain,
        "faces": faces,
        "faces, coloured light": cast,
        "signs": signed,
    }


def tinted(data: bytes, gains: tuple[float, float, float]) -> Image.Image:
    """The photo as if lit by coloured light: each channel scaled."""
    with Image.open(io.BytesIO(data)) as raw:
        pixels = np.asarray(ImageOps.exif_transpose(raw).convert("RGB"), dtype=np.float32)
    return Image.fromarray(np.clip(pixels * np.array(gains), 0, 255).astype(np.uint8))


def cpu_ms(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = work()
    return (time.process_time() - started) * 1000, result


def same_faces(old: list[Any], new: list[Any]) -> bool:
    """Every face the whole-photo pass found is in the gated result, box within slack."""
    return all(
        any(max(abs(a - b) for a, b in zip(o.box, n.box, strict=True)) <= BOX_SLACK for n in new)
        for o in old
    )


def same_text(old: list[Any], new: list[Any]) -> bool:
    return {squash(line.text) for line in old} <= {squash(line.text) for line in new}


class Bench:
    def __init__(self, threads: int, home: Path, verbose: bool = False) -> None:
        self.verbose = verbose
        settings = Settings.from_env({}, home=home, ocr=True)
        self.extractor = Extractor(settings)
        self.faces = {gate: DlibBackend(gate=gate) for gate in (False, True)}
        self.ocr = {
            gate: TextReader(threads=threads, max_side=OCR_INDEX_SIDE, gate=gate)
            for gate in (False, True)
        }
        for model in (*self.faces.values(), *self.ocr.values()):
            model.ensure_loaded()
        self.home = home
        self.cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.misses: list[str] = []

    def photo(self, group: str, name: str, data: bytes, flip: bool) -> None:
        path = self.home / "photos" / f"{name}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        found = FoundFile(str(path), len(data), path.stat().st_mtime_ns)
        self._time(group, "metadata", lambda: self.extractor.extract(found, 1, str(path.parent)))
        small = _decode(data, MIN_DECODE_SIDE)  # the scan's own decode, which it has anyway
        screened = self._time(
            group, "faces screen", lambda: self.faces[True].might_hold_faces(small)
        )
        for task, stage_side, models, check in (
            ("faces", FaceStage.min_side, self.faces, same_faces),
            ("ocr", OcrStage(self.ocr[True]).min_side, self.ocr, same_text),
        ):
            image = self._time(group, f"{task} decode", lambda s=stage_side: _decode(data, s))
            results = {}
            for gate in (not flip, flip):
                key = f"{task} {'gated' if gate else 'whole'}"
                results[gate] = self._time(group, key, lambda m=models[gate], i=image: _run(m, i))
            if self.verbose:
                costs = [f"{k[1]} {v[-1]:.0f}" for k, v in self.cpu.items() if k[0] == group]
                print(name, *(c for c in costs if c.startswith(task)), sep="  ")
            if not check(results[False], results[True]):
                self.misses.append(f"{task} {name}: {results[False]} -> {results[True]}")
            if task == "faces":
                # with the screen, the pass decodes and looks only at what it passed
                after = self.cpu[(group, "faces decode")][-1] + self.cpu[(group, "faces gated")][-1]
                self.cpu[(group, "faces screened")].append(
                    self.cpu[(group, "faces screen")][-1] + (after if screened else 0.0)
                )
                if results[False] and not screened:
                    self.misses.append(f"faces {name}: ruled out by the scan's screen")

    def _time(self, group: str, key: str, work: Callable[[], Any]) -> Any:
        spent, result = cpu_ms(work)
        self.cpu[(group, key)].append(spent)
        return result

    def report(self, groups: list[str]) -> None:
        keys = ["metadata", "faces decode", "faces whole", "faces gated", "faces screened"]
        keys += ["ocr decode", "ocr whole", "ocr gated"]
        print(f"{'CPU-ms per photo, median':<26}" + "".join(f"{k:>14}" for k in keys))
        for group in groups:
            medians = {k: statistics.median(self.cpu[(group, k)]) for k in keys}
            means = {k: statistics.mean(self.cpu[(group, k)]) for k in keys}
            print(f"{group:<26}" + "".join(f"{medians[k]:>14.1f}" for k in keys))
            print(f"{'  (mean)':<26}" + "".join(f"{means[k]:>14.1f}" for k in keys))
            meta = medians["metadata"]
            whole = medians["faces whole"] + medians["ocr whole"]
            gated = medians["faces gated"] + medians["ocr gated"]
            decode = medians["faces decode"] + medians["ocr decode"]
            mean_gated = means["faces gated"] + means["ocr gated"]
            print(
                f"{'':<26}faces + OCR (medians): whole {whole:.0f} ms = {whole / meta:.1f}x "
                f"metadata, gated {gated:.0f} ms = {gated / meta:.1f}x (mean {mean_gated:.0f} ms"
                f" = {mean_gated / meta:.1f}x); the passes' own decodes add {decode:.0f} ms"
            )
            screened = medians["faces screened"] + medians["ocr decode"] + medians["ocr gated"]
            mean_screened = means["faces screened"] + means["ocr decode"] + means["ocr gated"]
            print(
                f"{'':<26}with the scan's faces screen, every cost of both passes (decodes "
                f"too): {screened:.0f} ms = {screened / meta:.1f}x metadata (mean "
                f"{mean_screened:.0f} ms = {mean_screened / meta:.1f}x)"
            )
        print("recall: " + ("every face and line kept" if not self.misses else "MISSED"))
        for miss in self.misses:
            print("  " + miss)


def _decode(data: bytes, min_side: int) -> Image.Image:
    return decode_image(data, min_side).image


def _run(model: Any, image: Image.Image) -> Any:
    return model.predict(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--none", type=int, default=12, help="photos without text or faces")
    parser.add_argument("--signs", type=int, default=4, help="cluttered scenes with 5 signs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=ENGINE_THREADS, help="OCR's ONNX Runtime threads"
    )
    parser.add_argument("--verbose", action="store_true", help="each photo's figures")
    args = parser.parse_args()
    classes = photo_classes(args.none, args.signs)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args.threads, Path(tmp), args.verbose)
        for name, data in classes["signs"][:1]:  # warm-up: arenas, thread pools
            bench.photo("warm-up", name, data, False)
        for round_ in range(args.rounds):
            for group, photos in classes.items():
                for i, (name, data) in enumerate(photos):
                    bench.photo(group, name, data, flip=(i + round_) % 2 == 1)
        print(f"{sum(map(len, classes.values()))} photos, {args.rounds} rounds")
        bench.report(list(classes))


if __name__ == "__main__":
    main()
