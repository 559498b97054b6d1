"""A generated hold-out for duplicate grouping: distinct scenes, and edits and bursts of each.

Scenes are drawn (shapes over a gradient or a noise texture) from a seed, so the same seed
gives the same files. Hard negatives are built in: a scene's *recolour* twin keeps its
layout with another palette, and its *rearranged* twin keeps its palette and shapes at other
places. A twin is a distinct scene and must never share a group with the original.

Each scene's files (``kind`` in brackets, the tier the grouping should find):

* the original JPEG with EXIF (date, camera)
* [identical] a byte-identical copy in another folder
* [edited] resized to half, recompressed at quality 45, cropped 3 % off each side, brightened
  by 25 %, converted to PNG, WebP and HEIC, stored sideways with EXIF orientation 6, and
  resized + recompressed + brightened at once; some keep the EXIF, some lose it
* [burst] two more frames a second or two later, same camera, the subject moved a little

Used by tests/test_duplicates_holdout.py (precision and recall as asserts) and by hand:
``python -m tests.duplicate_holdout OUT_DIR --scenes 40`` writes the files and a labels.json.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from hachi.indexer.extract import MIN_DECODE_SIDE
from hachi.indexer.grouping import Fingerprints, group_all, popcount
from hachi.media.decode import decode_image
from hachi.media.exif import read_metadata
from hachi.media.hashing import content_hash
from hachi.media.perceptual import chroma_array, chroma_distances, color_layout, perceptual_hash
from tests.photo_factory import Shot, exif_for

SIZE = (640, 480)


@dataclass(frozen=True)
class Sample:
    """One generated file and its truth: which scene it shows, and how it was derived."""

    path: Path
    scene: str
    kind: str  # original, identical, edited or burst


@dataclass(frozen=True)
class _Shape:
    kind: str
    box: tuple[float, float, float, float]  # fractions of the frame
    colour: int  # index into the palette


def _layout(rng: np.random.Generator) -> tuple[list[_Shape], str]:
    shapes = []
    for _ in range(int(rng.integers(3, 8))):
        x, y = rng.uniform(-0.1, 0.8, 2)
        w, h = rng.uniform(0.12, 0.5, 2)
        kind = str(rng.choice(["ellipse", "rectangle", "triangle"]))
        shapes.append(_Shape(kind, (x, y, x + w, y + h), int(rng.integers(1, 6))))
    return shapes, str(rng.choice(["gradient", "noise", "stripes"]))


def _palette(rng: np.random.Generator) -> list[tuple[int, int, int]]:
    return [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(6)]  # type: ignore[misc]


def _render(
    shapes: list[_Shape],
    background: str,
    palette: list[tuple[int, int, int]],
    seed: int,
    shift: tuple[float, float] = (0.0, 0.0),
    frame: int = 0,
) -> Image.Image:
    rng = np.random.default_rng(seed)
    grain = np.random.default_rng([seed, frame])
    w, h = SIZE
    base = np.array(palette[0], dtype=np.float64)
    if background == "gradient":
        x = np.linspace(0.4, 1.0, w)[None, :, None]
        y = np.linspace(1.0, 0.5, h)[:, None, None]
        arr = base * x * y + np.zeros((h, w, 3))
    elif background == "stripes":
        band = (np.arange(w)[None, :, None] // 40) % 2
        arr = np.where(band, base, 255 - base) * np.ones((h, w, 3))
    else:
        coarse = rng.uniform(0.4, 1.2, (6, 8, 1))
        arr = base * np.kron(coarse, np.ones((h // 6 + 1, w // 8 + 1, 1)))[:h, :w]
    arr = arr + grain.normal(0, 6, (h, w, 3))
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        x0, y0, x1, y1 = shape.box
        box = (
            (x0 + shift[0]) * w,
            (y0 + shift[1]) * h,
            (x1 + shift[0]) * w,
            (y1 + shift[1]) * h,
        )
        colour = palette[shape.colour]
        if shape.kind == "ellipse":
            draw.ellipse(box, fill=colour)
        elif shape.kind == "rectangle":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon(
                [(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])], colour
            )
    return image


def _jpeg(image: Image.Image, quality: int = 90, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())
    return out.getvalue()


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.from_pillow(image).save(out, quality=70)
    else:
        image.save(out, fmt, **({"quality": 75} if fmt == "WEBP" else {}))
    return out.getvalue()


def _edits(image: Image.Image, exif: Image.Exif) -> dict[str, bytes]:
    w, h = image.size
    cut = (round(w * 0.03), round(h * 0.03))
    brighter = ImageEnhance.Brightness(image).enhance(1.25)
    half = image.resize((w // 2, h // 2), Image.Resampling.LANCZOS)
    sideways = Image.Exif()
    sideways.load(exif.tobytes())
    sideways[0x0112] = 6
    return {
        "half.jpg": _jpeg(half, 85, exif),
        "q45.jpg": _jpeg(image, 45, exif),
        "crop.jpg": _jpeg(image.crop((cut[0], cut[1], w - cut[0], h - cut[1])), 90),
        "bright.jpg": _jpeg(brighter, 90, exif),
        "png.png": _encoded(image, "PNG"),
        "webp.webp": _encoded(image, "WEBP"),
        "heic.heic": _encoded(image, "HEIF"),
        # Stored rotated a quarter turn clockwise with orientation 6, which turns it back.
        "rotated.jpg": _jpeg(image.transpose(Image.Transpose.ROTATE_90), 90, sideways),
        "mixed.jpg": _jpeg(ImageEnhance.Brightness(half).enhance(0.85), 55),
    }


def _shot_exif(scene: int, second: int) -> Image.Exif:
    minute, sec = divmod(second, 60)
    taken = f"2021:0{1 + scene % 9}:1{scene % 10} 1{scene % 10}:{minute:02d}:{sec:02d}"
    return exif_for(Shot(taken=taken, make="Canon", model=f"EOS {scene % 3}"))


def generate(root: Path, scenes: int, seed: int = 7, twins: bool = True) -> list[Sample]:
    """Writes ``scenes`` scenes (plus their twins) and their edits under ``root``."""
    samples: list[Sample] = []
    rng = np.random.default_rng(seed)
    for index in range(scenes):
        shapes, background = _layout(rng)
        palette = _palette(rng)
        variants = [("s", shapes, palette, background)]
        if twins:
            moved = [_Shape(s.kind, _moved(s.box, rng), s.colour) for s in shapes]
            variants.append(("recolour", shapes, _palette(rng), background))
            variants.append(("rearranged", moved, palette, background))
        for name, layout, colours, back in variants:
            scene = f"{index:03d}-{name}"
            samples += _scene_files(root / scene, scene, index, layout, colours, back, seed)
    return samples


def _moved(
    box: tuple[float, float, float, float], rng: np.random.Generator
) -> tuple[float, float, float, float]:
    dx, dy = rng.uniform(-0.35, 0.35, 2)
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def _scene_files(
    folder: Path,
    scene: str,
    index: int,
    shapes: list[_Shape],
    palette: list[tuple[int, int, int]],
    background: str,
    seed: int,
) -> list[Sample]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "copies").mkdir(exist_ok=True)
    image = _render(shapes, background, palette, seed * 1000 + index)
    exif = _shot_exif(index, 0 if scene.endswith("-s") else 30)
    original = _jpeg(image, 92, exif)
    samples = [_write(folder / "original.jpg", original, scene, "original")]
    samples.append(_write(folder / "copies" / "original.jpg", original, scene, "identical"))
    for name, data in _edits(image, exif).items():
        samples.append(_write(folder / f"edit-{name}", data, scene, "edited"))
    for frame in (1, 2):
        # The camera moves 1.5 % a frame and the first shape (the subject) 4 % more.
        shift = (0.015 * frame, 0.005 * frame)
        subject = shapes[0]
        x0, y0, x1, y1 = subject.box
        step = 0.04 * frame
        frame_shapes = [_Shape(subject.kind, (x0 + step, y0, x1 + step, y1), subject.colour)]
        frame_shapes += shapes[1:]
        moved = _render(frame_shapes, background, palette, seed * 1000 + index, shift, frame)
        frame_exif = _shot_exif(index, (0 if scene.endswith("-s") else 30) + frame)
        samples.append(
            _write(folder / f"burst-{frame}.jpg", _jpeg(moved, 92, frame_exif), scene, "burst")
        )
    return samples


def _write(path: Path, data: bytes, scene: str, kind: str) -> Sample:
    path.write_bytes(data)
    return Sample(path, scene, kind)


def fingerprints(samples: list[Sample]) -> Fingerprints:
    """The samples' fingerprints as the indexer computes them (decoded upright, EXIF read)."""
    rows = []
    for sample in samples:
        data = sample.path.read_bytes()
        image = decode_image(data, MIN_DECODE_SIDE, sample.path.name).image
        meta = read_metadata(data, sample.path.name)
        rows.append(
            (perceptual_hash(image), color_layout(image), content_hash(data), meta, image.size)
        )
    contents = {digest: n for n, digest in enumerate(sorted({r[2] for r in rows}))}
    cameras = {c: n for n, c in enumerate(sorted({f"{r[3].make}/{r[3].model}" for r in rows}))}
    return Fingerprints(
        ids=np.arange(len(rows), dtype=np.int64),
        phash=np.array([r[0] for r in rows], dtype=np.int64).view(np.uint64),
        chroma=chroma_array([r[1] for r in rows]),
        content=np.array([contents[r[2]] for r in rows], dtype=np.int64),
        camera=np.array(
            [cameras[f"{r[3].make}/{r[3].model}"] if r[3].make else -1 for r in rows],
            dtype=np.int64,
        ),
        taken=np.array([_seconds(r[3].taken_at) for r in rows], dtype=np.float64),
        aspect=np.log(np.array([r[4][0] / r[4][1] for r in rows], dtype=np.float64)),
    )


def _seconds(taken_at: str | None) -> float:
    if not taken_at:
        return float("nan")
    return datetime.fromisoformat(taken_at[:19]).replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Score:
    precision: float  # of the pairs put in one group, the share showing one scene
    recall: float  # of the pairs showing one scene, the share put in one group
    mixed_groups: int  # groups holding more than one scene: must be none
    groups: int


def score(scenes: list[str], groups: list[list[int]]) -> Score:
    """Pairwise precision and recall of ``groups`` (lists of sample indices) against truth."""
    predicted = {
        (min(a, b), max(a, b)) for members in groups for a in members for b in members if a < b
    }
    by_scene: dict[str, list[int]] = {}
    for index, scene in enumerate(scenes):
        by_scene.setdefault(scene, []).append(index)
    truth = {(a, b) for members in by_scene.values() for a in members for b in members if a < b}
    hits = len(predicted & truth)
    mixed = sum(len({scenes[m] for m in members}) > 1 for members in groups)
    return Score(
        precision=hits / len(predicted) if predicted else 1.0,
        recall=hits / len(truth) if truth else 1.0,
        mixed_groups=mixed,
        groups=len(groups),
    )


def spread(samples: list[Sample], fp: Fingerprints) -> dict[str, dict[str, float]]:
    """How far each tier's files are from their scene's original (the calibration), and
    how close the nearest other scene comes."""
    original = {s.scene: i for i, s in enumerate(samples) if s.kind == "original"}
    out: dict[str, dict[str, float]] = {}
    for i, sample in enumerate(samples):
        if sample.kind == "original":
            continue
        j = original[sample.scene]
        bits = int(popcount(fp.phash[i : i + 1] ^ fp.phash[j : j + 1])[0])
        grid, hues = chroma_distances(fp.chroma[i : i + 1], fp.chroma[j : j + 1])
        tier = out.setdefault(sample.kind, {"bits": 0, "grid": 0.0, "hues": 0.0})
        tier["bits"] = max(tier["bits"], bits)
        tier["grid"] = max(tier["grid"], round(float(grid[0]), 1))
        tier["hues"] = max(tier["hues"], round(float(hues[0]), 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    samples = generate(args.out, args.scenes, args.seed)
    labels = [{"path": str(s.path), "scene": s.scene, "kind": s.kind} for s in samples]
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1))
    print(f"{len(samples)} files of {len({s.scene for s in samples})} scenes in {args.out}")
    fp = fingerprints(samples)
    print("largest difference from the original, per tier:", json.dumps(spread(samples, fp)))
    groups = [list(g.members) for g in group_all(fp)]
    print("grouping with the default thresholds:", score([s.scene for s in samples], groups))


if __name__ == "__main__":
    main()
