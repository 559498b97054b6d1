"""What a CLIP model folder holds, read once into a typed object.

A model folder is self-describing so that preprocessing and tokenisation can never drift
from the weights they were exported with. Layout of ``<models_dir>/<name>/``::

    model.json                  this description (below)
    visual.onnx                 image tower: float32 (N, 3, H, W) -> (N, D), input "image"
    textual.onnx                text tower: int64 (N, L) -> (N, D), input "text"; L is
                                context_length, or any 2..context_length when text_trim
    bpe_simple_vocab_16e6.txt.gz  byte-level BPE merges (open_clip's format)
    visual.int8.onnx            optional: the image tower with int8 dynamic quantisation
    textual.int8.onnx           optional: the text tower with int8 matrix products (same
                                inputs as textual.onnx), the fast query encoder

``model.json`` (the store's keys ``name``, ``task``, ``licence``, ``files``, ``source``
plus CLIP's own)::

    {
      "task": "clip",                 always "clip" for this folder type
      "name": "ViT-B-32-256-datacomp", the installed name
      "arch": "ViT-B-32-256",         open_clip architecture it was exported from
      "pretrained": "datacomp_s34b_b86k", open_clip tag or checkpoint file name
      "embed_dim": 512,               D, the width of both towers' outputs
      "image_size": 256,              int, or [height, width]
      "mean": [r, g, b], "std": [r, g, b],  normalisation applied after scaling to [0, 1]
      "resize_mode": "shortest",      "shortest" (resize + centre crop), "longest" (fit +
                                      pad with fill_color), or "squash" (resize, no crop)
      "interpolation": "bicubic",     or "bilinear"
      "fill_color": 0,                padding grey level for "longest"
      "context_length": 77,           token rows are padded / truncated to this
      "text_trim": true,              the text graphs accept fewer tokens: a batch may be cut
                                      after its last end-of-text token (causal attention,
                                      pooled at that token); absent or false: always feed
                                      context_length tokens
      "vocab_size": 49408,            rows of the token embedding; ids must stay below it
      "tokenizer": {"type": "clip_bpe", "vocab_file": "bpe_simple_vocab_16e6.txt.gz",
                    "clean": "lower"},  clean: "lower", "whitespace" or "canonicalize"
      "files": ["visual.onnx", "textual.onnx", "bpe_simple_vocab_16e6.txt.gz",
                "visual.int8.onnx", "textual.int8.onnx"],
                                      every file of the folder (the store checks them)
      "licence": "MIT"
    }

Folders written by ``hachi models pull`` from ``hachi/ml/manifest.toml`` use a few other
names, accepted as aliases: ``embedding_dim`` (embed_dim), ``open_clip_model`` (arch),
``open_clip_pretrained`` (pretrained) and ``bpe_merges`` (the vocab file, which may be
plain text, such as Hugging Face's ``merges.txt``, or gzip). The text graph's id dtype
(int64 or int32) is read from the graph itself.

Outputs of the ONNX graphs are the raw projections; Hachi L2-normalises them itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hachi.errors import ModelUnavailable

MODEL_JSON = "model.json"
TASK = "clip"
VISUAL_FILE = "visual.onnx"
TEXTUAL_FILE = "textual.onnx"
VISUAL_INT8_FILE = "visual.int8.onnx"
TEXTUAL_INT8_FILE = "textual.int8.onnx"
VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
RESIZE_MODES = ("shortest", "longest", "squash")
INTERPOLATIONS = ("bicubic", "bilinear")
CLEAN_MODES = ("lower", "whitespace", "canonicalize")


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_file: str = VOCAB_FILE
    clean: str = "lower"
    type: str = "clip_bpe"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "vocab_file": self.vocab_file, "clean": self.clean}


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything the image pipeline needs; a value object so preprocessing stays pure."""

    image_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"
    fill_color: int = 0


@dataclass(frozen=True)
class ClipConfig:
    name: str
    arch: str
    pretrained: str
    embed_dim: int
    preprocess: PreprocessConfig
    context_length: int = 77
    vocab_size: int = 49408
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    files: tuple[str, ...] = (VISUAL_FILE, TEXTUAL_FILE, VOCAB_FILE)
    licence: str = "unknown"
    text_trim: bool = False
    text_int8_min_cosine: float | None = None  # int8 vs float32 text tower, from export

    def to_dict(self) -> dict[str, Any]:
        p = self.preprocess
        size: int | list[int] = (
            p.image_size[0] if p.image_size[0] == p.image_size[1] else list(p.image_size)
        )
        return {
            "task": TASK,
            "name": self.name,
            "arch": self.arch,
            "pretrained": self.pretrained,
            "embed_dim": self.embed_dim,
            "image_size": size,
            "mean": list(p.mean),
            "std": list(p.std),
            "resize_mode": p.resize_mode,
            "interpolation": p.interpolation,
            "fill_color": p.fill_color,
            "context_length": self.context_length,
            "text_trim": self.text_trim,
            **(
                {}
                if self.text_int8_min_cosine is None
                else {"text_int8_min_cosine": self.text_int8_min_cosine}
            ),
            "vocab_size": self.vocab_size,
            "tokenizer": self.tokenizer.to_dict(),
            "files": list(self.files),
            "licence": self.licence,
        }


def _size_pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    height, width = (int(v) for v in value)
    return (height, width)


def _triple(value: Any) -> tuple[float, float, float]:
    if isinstance(value, int | float):
        return (float(value),) * 3
    r, g, b = (float(v) for v in value)
    return (r, g, b)


def parse_config(raw: dict[str, Any]) -> ClipConfig:
    """Validate a model.json mapping; any mistake is a ModelUnavailable naming the field."""
    try:
        if raw.get("task") != TASK:
            raise ValueError(f"task is {raw.get('task')!r}, expected 'clip'")
        tok = raw.get("tokenizer") or {}
        if tok.get("type", "clip_bpe") != "clip_bpe":
            raise ValueError(f"tokenizer type {tok.get('type')!r} is not supported")
        preprocess = PreprocessConfig(
            image_size=_size_pair(raw["image_size"]),
            mean=_triple(raw["mean"]),
            std=_triple(raw["std"]),
            resize_mode=raw.get("resize_mode", "shortest"),
            interpolation=raw.get("interpolation", "bicubic"),
            fill_color=int(raw.get("fill_color", 0)),
        )
        _check_choice("resize_mode", preprocess.resize_mode, RESIZE_MODES)
        _check_choice("interpolation", preprocess.interpolation, INTERPOLATIONS)
        vocab_file = tok.get("vocab_file") or raw.get("bpe_merges") or VOCAB_FILE
        tokenizer = TokenizerConfig(vocab_file=str(vocab_file), clean=tok.get("clean", "lower"))
        _check_choice("tokenizer.clean", tokenizer.clean, CLEAN_MODES)
        return ClipConfig(
            name=str(raw["name"]),
            arch=str(raw.get("arch") or raw.get("open_clip_model") or ""),
            pretrained=str(raw.get("pretrained") or raw.get("open_clip_pretrained") or ""),
            embed_dim=int(raw["embed_dim"] if "embed_dim" in raw else raw["embedding_dim"]),
            preprocess=preprocess,
            context_length=int(raw.get("context_length", 77)),
            vocab_size=int(raw.get("vocab_size", 49408)),
            tokenizer=tokenizer,
            files=tuple(str(f) for f in raw.get("files") or ()),
            licence=str(raw.get("licence", "unknown")),
            text_trim=_flag("text_trim", raw.get("text_trim", False)),
            text_int8_min_cosine=_cosine(raw.get("text_int8_min_cosine")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"invalid CLIP model.json: {exc}", {"field": str(exc)}) from exc


def _flag(name: str, value: Any) -> bool:
    """A JSON boolean; a string such as "false" would otherwise read as true."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _cosine(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1 <= value <= 1:
        raise ValueError(f"text_int8_min_cosine must be a number in [-1, 1], got {value!r}")
    return float(value)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")


def load_config(model_dir: Path) -> ClipConfig:
    """Read ``model_dir/model.json``; a missing or broken file means the model is unusable."""
    path = model_dir / MODEL_JSON
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelUnavailable(f"no {MODEL_JSON} in {model_dir}", {"path": str(path)}) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"cannot read {path}: {exc}", {"path": str(path)}) from exc
    if not isinstance(raw, dict):
        raise ModelUnavailable(f"{path} is not a JSON object", {"path": str(path)})
    return parse_config(raw)


def write_config(config: ClipConfig, model_dir: Path) -> Path:
    path = model_dir / MODEL_JSON
    path.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path
