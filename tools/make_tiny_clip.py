"""Build a tiny random-weight open_clip model and export it with Hachi's exporter.

The parity tests need a real open_clip model to compare against, but pretrained weights
cannot be downloaded in tests; a tiny custom architecture with seeded random weights
exercises the same code paths (ViT image tower, causal text transformer, argmax pooling,
standard 49408-token vocab) in a couple of seconds. Needs the ``export`` extra.

    python tools/make_tiny_clip.py OUT_DIR [--image-size 64] [--int8] [--variant NAME]

Variants cover the text towers the exporter treats differently: "clip" (open_clip's CLIP
class, text layers on the model), "custom" (CustomTextCLIP, a TextTransformer at
model.text) and "bidir" (no causal mask, so its text graph must stay fixed-length).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ARCH_NAME = "hachi-tiny-clip"
SEED = 1234
VARIANTS = ("clip", "custom", "bidir")


def arch_name(variant: str = "clip") -> str:
    """open_clip registers configs by name, so each variant needs its own."""
    return ARCH_NAME if variant == "clip" else f"{ARCH_NAME}-{variant}"


def tiny_config(image_size: int = 64, variant: str = "clip") -> dict[str, Any]:
    """A small ViT + text transformer; the standard vocab keeps tokenizer parity meaningful."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r} is not one of {', '.join(VARIANTS)}")
    text_cfg: dict[str, Any] = {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 32,
        "heads": 2,
        "layers": 2,
    }
    if variant == "bidir":
        text_cfg["no_causal_mask"] = True
    return {
        "embed_dim": 32,
        "custom_text": variant == "custom",
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": text_cfg,
    }


def make_checkpoint(
    work_dir: Path, image_size: int = 64, variant: str = "clip"
) -> tuple[Path, Path]:
    """Write the architecture JSON and a seeded random checkpoint; return both paths."""
    import open_clip
    import torch

    work_dir.mkdir(parents=True, exist_ok=True)
    name = arch_name(variant)
    config_path = work_dir / f"{name}.json"
    config = tiny_config(image_size, variant)
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    open_clip.add_model_config(config_path)
    torch.manual_seed(SEED)
    model = open_clip.create_model(name, pretrained=None, device="cpu")
    checkpoint = work_dir / f"{name}.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return config_path, checkpoint


def make_tiny_clip(
    out_dir: Path, image_size: int = 64, int8: bool = False, variant: str = "clip"
) -> dict[str, Any]:
    """Checkpoint under ``out_dir/src``, exported model folder under ``out_dir/model``."""
    from hachi.ml.clip.export import export_clip

    config_path, checkpoint = make_checkpoint(out_dir / "src", image_size, variant)
    report = export_clip(
        str(config_path),
        str(checkpoint),
        out_dir / "model",
        name=arch_name(variant),
        int8=int8,
        licence="MIT (random weights)",
    )
    return report.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--int8", action="store_true")
    parser.add_argument("--variant", choices=VARIANTS, default="clip")
    args = parser.parse_args()
    report = make_tiny_clip(args.out_dir, args.image_size, args.int8, args.variant)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
