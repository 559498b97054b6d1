"""Train a tiny CLIP on drawn coloured shapes and export it as Hachi's test model.

Tests need a CLIP whose answers can be checked: random weights rank photos arbitrarily, and
real models cannot be downloaded. This script draws photos of coloured shapes on muted
backgrounds (random sizes, positions, rotations, aspect ratios), captions them fully ("a
red circle", "a photo of a blue star", ...) and partly ("something red", "a circle"),
trains a small ViT (64 px, 8 px patches) and text transformer with a symmetric
contrastive loss in which a photo has every caption that describes it as a positive, and
exports the result with Hachi's exporter to ``models/test/shapes-clip/``. Its vocab file
keeps only the BPE merges that the caption words use, so the token table is tiny. Needs
the ``export`` extra:

    .venv-export/bin/python tools/train_shapes_clip.py [--out models/test/shapes-clip]

About 10 CPU-minutes on one thread (more threads were slower on a busy 2-core machine).

The drawing functions need only Pillow and numpy: tests import them to make fresh photos.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {
    "red": ((200, 255), (0, 60), (0, 60)),
    "green": ((0, 60), (150, 230), (0, 60)),
    "blue": ((0, 60), (30, 90), (190, 255)),
    "yellow": ((220, 255), (200, 255), (0, 50)),
}
SHAPES = ("circle", "square", "triangle", "star")
TEMPLATES = (
    "a {colour} {shape}",
    "a photo of a {colour} {shape}",
    "{colour} {shape}",
    "a picture of a {colour} {shape}",
    "a {colour} {shape} on a plain background",
)
# Partial captions teach the model that "red" and "a circle" are queries too.
COLOUR_TEMPLATES = ("{colour}", "something {colour}", "a {colour} shape", "a {colour} thing")
SHAPE_TEMPLATES = ("a {shape}", "a photo of a {shape}", "{shape}", "a picture of a {shape}")
CLASSES = [(colour, shape) for colour in COLOURS for shape in SHAPES]
IMAGE_SIZE = 64
CONTEXT_LENGTH = 16
BATCH = 96
LEARNING_RATE = 3e-3
ARCH_NAME = "hachi-shapes-clip"
VOCAB_NAME = "shapes_vocab.txt.gz"
VOCAB_NAME_FULL = "bpe_simple_vocab_16e6.txt.gz"
SEED = 7


def caption(colour: str, shape: str, template: int = 0) -> str:
    return TEMPLATES[template].format(colour=colour, shape=shape)


def _shape_points(shape: str, cx: float, cy: float, r: float, angle: float) -> list[float]:
    corners = {"square": 4, "triangle": 3, "star": 10}[shape]
    points = []
    for k in range(corners):
        radius = r * (0.45 if shape == "star" and k % 2 else 1.0)
        theta = angle + 2 * math.pi * k / corners
        points += [cx + radius * math.cos(theta), cy + radius * math.sin(theta)]
    return points


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    grey = rng.uniform(40, 215)
    tint = grey + rng.uniform(-18, 18, 3)
    noise = rng.normal(0, rng.uniform(0, 10), (height, width, 3))
    pixels = np.clip(tint + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def draw_shape(colour: str, shape: str, rng: np.random.Generator) -> Image.Image:
    """One photo of one shape; size, place, angle, shade and background vary."""
    width, height = (int(v) for v in rng.integers(72, 200, 2))
    image = _background(rng, width, height)
    short = min(width, height)
    r = rng.uniform(0.25, 0.45) * short
    # keep the shape inside the centre square, the part a centre crop keeps
    left, top = (width - short) / 2, (height - short) / 2
    cx, cy = left + rng.uniform(r, short - r), top + rng.uniform(r, short - r)
    fill = tuple(int(rng.integers(lo, hi + 1)) for lo, hi in COLOURS[colour])
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon(_shape_points(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=fill)
    return image


def draw_dataset(count: int, seed: int) -> tuple[list[Image.Image], np.ndarray]:
    """``count`` photos with balanced class labels (indexes into CLASSES)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASSES)
    rng.shuffle(labels)
    images = [draw_shape(*CLASSES[label], rng) for label in labels]
    return images, labels


def _applied_merges(words: list[str], full_vocab: Path) -> list[tuple[str, str]]:
    """Merges (in original rank order) that BPE applies to ``words`` with the full vocab."""
    from hachi.ml.clip.tokenizer import WORD_END, byte_alphabet, read_merges

    merges = [m for m in read_merges(full_vocab) if len(m) == 2]
    ranks = {m: i for i, m in enumerate(merges)}
    table = byte_alphabet()
    used: set[tuple[str, str]] = set()
    for word in words:
        symbols = "".join(table[b] for b in word.encode("utf-8"))
        parts = [*symbols[:-1], symbols[-1] + WORD_END]
        while len(parts) > 1:
            pairs = [p for p in zip(parts, parts[1:], strict=False) if p in ranks]
            if not pairs:
                break
            best = min(pairs, key=ranks.__getitem__)
            used.add(best)
            i = parts.index(best[0])
            while i < len(parts) - 1 and (parts[i], parts[i + 1]) != best:
                i = parts.index(best[0], i + 1)
            parts[i : i + 2] = [best[0] + best[1]]
    return sorted(used, key=ranks.__getitem__)


def write_small_vocab(full_vocab: Path, target: Path) -> int:
    """A BPE vocab holding only the caption words' merges; returns its vocab size."""
    templates = TEMPLATES + COLOUR_TEMPLATES + SHAPE_TEMPLATES
    words = sorted({w for t in templates for w in t.split()} - {"{colour}", "{shape}"})
    words += list(COLOURS) + list(SHAPES)
    merges = _applied_merges(words, full_vocab)
    lines = ["#version: hachi shapes test vocab"] + [f"{a} {b}" for a, b in merges]
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return 512 + len(merges) + 2


def model_config(vocab_size: int) -> dict[str, Any]:
    """A small ViT like the real ones (36 patches of 8 px), and a small text transformer."""
    return {
        "embed_dim": 64,
        "vision_cfg": {
            "image_size": IMAGE_SIZE,
            "layers": 3,
            "width": 96,
            "head_width": 32,
            "patch_size": 8,
        },
        "text_cfg": {
            "context_length": CONTEXT_LENGTH,
            "vocab_size": vocab_size,
            "width": 64,
            "heads": 2,
            "layers": 2,
        },
    }


def all_captions(template: int) -> list[str]:
    """The 16 full captions, then 4 colour-only and 4 shape-only ones, in one wording."""
    full = [caption(colour, shape, template) for colour, shape in CLASSES]
    colours = [COLOUR_TEMPLATES[template % 4].format(colour=c) for c in COLOURS]
    shapes = [SHAPE_TEMPLATES[template % 4].format(shape=s) for s in SHAPES]
    return full + colours + shapes


def caption_targets(labels: np.ndarray) -> np.ndarray:
    """(N, 24) matrix: 1 where a caption of all_captions() describes the photo."""
    targets = np.zeros((len(labels), len(CLASSES) + len(COLOURS) + len(SHAPES)), np.float32)
    rows = np.arange(len(labels))
    targets[rows, labels] = 1
    targets[rows, len(CLASSES) + labels // len(SHAPES)] = 1
    targets[rows, len(CLASSES) + len(COLOURS) + labels % len(SHAPES)] = 1
    return targets


def soft_cross_entropy(logits: Any, targets: Any) -> Any:
    """Cross-entropy against several positives per row; rows without one are skipped."""
    import torch

    weight = targets.sum(dim=1, keepdim=True)
    keep = weight.squeeze(1) > 0
    log_p = torch.log_softmax(logits[keep], dim=1)
    return -(targets[keep] / weight[keep] * log_p).sum(dim=1).mean()


def train(model: Any, batch: Any, targets: Any, tokens: Any, steps: int, log: Any) -> None:
    """Symmetric CLIP loss between photos and all captions, each with its positives."""
    import torch
    import torch.nn.functional as F

    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=steps)
    generator = torch.Generator().manual_seed(SEED)
    started = time.perf_counter()
    model.train()
    for step in range(steps):
        pick = torch.randint(0, len(batch), (BATCH,), generator=generator)
        template = torch.randint(0, len(tokens), (tokens.shape[1],), generator=generator)
        texts = tokens[template, torch.arange(tokens.shape[1])]
        image_emb = F.normalize(model.encode_image(batch[pick]), dim=-1)
        text_emb = F.normalize(model.encode_text(texts), dim=-1)
        logits = model.logit_scale.exp() * image_emb @ text_emb.T
        wanted = targets[pick]
        loss = (soft_cross_entropy(logits, wanted) + soft_cross_entropy(logits.T, wanted.T)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step:5d} loss {loss.item():.4f} {time.perf_counter() - started:.0f} s")
    model.eval()


def build_and_train(work: Path, steps: int, images: int) -> tuple[Path, Path, Path]:
    """Train; return (architecture JSON, checkpoint, small vocab) under ``work``."""
    import open_clip
    import torch

    from hachi.ml.clip.config import PreprocessConfig
    from hachi.ml.clip.preprocess import preprocess_batch
    from hachi.ml.clip.tokenizer import ClipTokenizer

    torch.manual_seed(SEED)
    vocab = work / VOCAB_NAME
    vocab_size = write_small_vocab(Path(open_clip.__file__).parent / VOCAB_NAME_FULL, vocab)
    arch = work / f"{ARCH_NAME}.json"
    arch.write_text(json.dumps(model_config(vocab_size), indent=2), encoding="utf-8")
    open_clip.add_model_config(arch)
    model = open_clip.create_model(ARCH_NAME, pretrained=None, device="cpu")
    pictures, labels = draw_dataset(images, SEED)
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    config = PreprocessConfig((IMAGE_SIZE, IMAGE_SIZE), mean, std)
    batch = torch.from_numpy(preprocess_batch(pictures, config))
    tokenizer = ClipTokenizer(vocab, context_length=CONTEXT_LENGTH)
    tokens = torch.stack(
        [torch.from_numpy(tokenizer(all_captions(t))) for t in range(len(TEMPLATES))]
    )
    train(model, batch, torch.from_numpy(caption_targets(labels)), tokens, steps, print)
    checkpoint = work / f"{ARCH_NAME}.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return arch, checkpoint, vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/test/shapes-clip"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=1, help="more threads rarely help")
    args = parser.parse_args()
    import torch

    from hachi.ml.clip.export import export_clip

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        arch, checkpoint, vocab = build_and_train(Path(tmp), args.steps, args.images)
        print(f"trained in {time.perf_counter() - started:.0f} s")
        staging = Path(tmp) / "export"
        report = export_clip(
            str(arch),
            str(checkpoint),
            staging,
            name="shapes-clip",
            int8=True,
            licence="MIT",
            vocab_path=vocab,
        )
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(staging, args.out)
    print(json.dumps(report.to_dict() | {"out_dir": str(args.out)}, indent=2))


if __name__ == "__main__":
    main()
