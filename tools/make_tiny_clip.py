"""Build a tiny random-weight open_clip model and export it with Hachi's exporter.

The parity tests need a real open_clip model to compare against, but pretrained weights
cannot be downloaded in tests; a tiny custom architecture with seeded random weights
exercises the same code paths (ViT image tower, causal text transformer, argmax pooling,
standard 49408-token vocab) in a couple of seconds. Needs the ``export`` extra.

    python tools/make_tiny_clip.py OUT_DIR [--image-size 64] [--int8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ARCH_NAME = "hachi-tiny-clip"
SEED = 1234


def tiny_config(image_size: int = 64) -> dict[str, Any]:
    """A small ViT + text transformer; the standard vocab keeps tokenizer parity meaningful."""
    return {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 2,
        },
    }


def make_checkpoint(work_dir: Path, image_size: int = 64) -> tuple[Path, Path]:
    """Write the architecture JSON and a seeded random checkpoint; return both paths."""
    import open_clip
    import torch

    work_dir.mkdir(parents=True, exist_ok=True)
    config_path = work_dir / f"{ARCH_NAME}.json"
    config_path.write_text(json.dumps(tiny_config(image_size), indent=2), encoding="utf-8")
    open_clip.add_model_config(config_path)
    torch.manual_seed(SEED)
    model = open_clip.create_model(ARCH_NAME, pretrained=None, device="cpu")
    checkpoint = work_dir / f"{ARCH_NAME}.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return config_path, checkpoint


def make_tiny_clip(out_dir: Path, image_size: int = 64, int8: bool = False) -> dict[str, Any]:
    """Checkpoint under ``out_dir/src``, exported model folder under ``out_dir/model``."""
    from hachi.ml.clip.export import export_clip

    config_path, checkpoint = make_checkpoint(out_dir / "src", image_size)
    report = export_clip(
        str(config_path),
        str(checkpoint),
        out_dir / "model",
        name=ARCH_NAME,
        int8=int8,
        licence="MIT (random weights)",
    )
    return report.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--int8", action="store_true")
    args = parser.parse_args()
    print(json.dumps(make_tiny_clip(args.out_dir, args.image_size, args.int8), indent=2))


if __name__ == "__main__":
    main()
