"""int8 towers for a CLIP model that is already installed (``hachi models quantize``, and
right after ``hachi models pull``).

Folders pulled from the manifest hold ONNX graphs made by others, in float32 only, so their
queries run the whole float32 text tower (~55 ms for ViT-B-32 on two cores). Quantising
that tower here gives the int8 copy ``hachi models export`` writes (about 3x faster at a
fixed 77 tokens), measured against float32 and recorded in model.json, where the runtime
reads whether it may use it. Optionally the image tower too, for ``HACHI_CLIP_IMAGE_INT8``.

The installed folder is never edited in place: its files are hard-linked (or copied) into a
staging folder, the int8 graphs are added there, and the store swaps it in, so a search
running meanwhile sees the old folder or the new one, never half of either.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hachi.config import Settings
from hachi.errors import BadRequest, HachiError
from hachi.ml.clip.config import TASK, TEXTUAL_INT8_FILE, VISUAL_INT8_FILE, load_config
from hachi.ml.clip.encoders import TEXT_INT8_MIN_COSINE
from hachi.ml.clip.export import CHECK_TEXTS, INT8_CHECK_TEXTS, check_images
from hachi.ml.clip.preprocess import preprocess_batch
from hachi.ml.clip.quantize import add_image_int8, add_text_int8
from hachi.ml.store import (
    model_dir,
    model_lock,
    new_staging_dir,
    publish_staged,
    read_model_json,
    write_model_json,
)


@dataclass(frozen=True)
class QuantizeReport:
    name: str
    text_min_cosine: float
    image_mean_cosine: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text_int8_min_cosine": self.text_min_cosine,
            "image_int8_mean_cosine": self.image_mean_cosine,
        }


def quantize_installed(settings: Settings, name: str, image: bool = False) -> QuantizeReport:
    """Add (or redo) the int8 text tower, and the image one when asked, of model ``name``."""
    folder = model_dir(settings, name)
    meta = read_model_json(folder)
    if meta.get("task") != TASK:
        raise BadRequest(f"{name} is not a CLIP model", {"model": name})
    with model_lock(settings, name):
        staging = new_staging_dir(settings, name)
        try:
            report = _quantize_into(staging, folder, meta, image)
            publish_staged(settings, staging, name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return report


def quantize_after_pull(settings: Settings, name: str) -> str:
    """Give a freshly pulled CLIP model its int8 text tower; a sentence saying how it went.

    Never fatal: the model works without it (queries then run the float32 tower), so a
    failure is reported, not raised.
    """
    try:
        report = quantize_installed(settings, name)
    except Exception as exc:  # noqa: BLE001 - onnx and the quantiser raise many types
        message = exc.message if isinstance(exc, HachiError) else f"{type(exc).__name__}: {exc}"
        return f"queries stay on the float32 text tower (no int8 copy: {message})"
    if report.text_min_cosine < TEXT_INT8_MIN_COSINE:
        return (
            f"int8 text tower made but not used: least cosine to float32 "
            f"{report.text_min_cosine:.4f} < {TEXT_INT8_MIN_COSINE}"
        )
    return f"queries use an int8 text tower (least cosine to float32 {report.text_min_cosine:.4f})"


def _quantize_into(
    staging: Path, folder: Path, meta: dict[str, Any], image: bool
) -> QuantizeReport:
    added = [TEXTUAL_INT8_FILE, *([VISUAL_INT8_FILE] if image else [])]
    files = [f for f in meta["files"] if f not in added]
    for rel in files:
        _link_or_copy(folder / rel, staging / rel)
    write_model_json(staging, {**meta, "files": files})
    text = add_text_int8(staging, CHECK_TEXTS + INT8_CHECK_TEXTS)
    image_cosine = None
    if image:
        batch = preprocess_batch(check_images(), load_config(staging).preprocess)
        image_cosine = add_image_int8(staging, batch)
    return QuantizeReport(str(meta["name"]), text, image_cosine)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link costs no space (the int8 files are new, the rest is never written);
    a copy where the file system has no links."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
