"""int8 towers for a CLIP model that is already installed (``hachi models quantize``, and
right after ``hachi models pull``).

Folders pulled from the manifest hold ONNX graphs made by others, in float32 only, so their
queries run the whole float32 text tower (~55 ms for ViT-B-32 on two cores). Quantising
that tower here gives the int8 copy ``hachi models export`` writes (about 3x faster at a
fixed 77 tokens), measured against float32 and recorded in model.json, where the runtime
reads whether it may use it. The image tower too (about 4x cheaper to index with): after a
pull whenever it can be made, on request for `hachi models quantize --image`; indexing
uses it only once it agreed with float32 on the library's own first photos.

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
    image_error: str | None = None  # why the image tower could not be made (optional one)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text_int8_min_cosine": self.text_min_cosine,
            "image_int8_mean_cosine": self.image_mean_cosine,
            "image_int8_error": self.image_error,
        }


def quantize_installed(
    settings: Settings, name: str, image: bool = False, image_optional: bool = False
) -> QuantizeReport:
    """Add (or redo) the int8 text tower, and the image one when asked, of model ``name``.
    ``image_optional``: a graph the quantiser cannot handle leaves the model without an
    int8 image tower (said in the report) instead of failing the text one too."""
    folder = model_dir(settings, name)
    meta = read_model_json(folder)
    if meta.get("task") != TASK:
        raise BadRequest(f"{name} is not a CLIP model", {"model": name})
    with model_lock(settings, name):
        staging = new_staging_dir(settings, name)
        try:
            report = _quantize_into(staging, folder, meta, image, image_optional)
            publish_staged(settings, staging, name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return report


def quantize_after_pull(settings: Settings, name: str) -> str:
    """Give a freshly pulled CLIP model its int8 towers; a sentence saying how it went.

    Never fatal: the model works without them (queries and indexing then run float32),
    so a failure is reported, not raised.
    """
    try:
        report = quantize_installed(settings, name, image=True, image_optional=True)
    except Exception as exc:  # noqa: BLE001 - onnx and the quantiser raise many types
        return f"queries and indexing stay on the float32 towers (no int8 copy: {_why(exc)})"
    if report.text_min_cosine < TEXT_INT8_MIN_COSINE:
        text = (
            f"int8 text tower made but not used: least cosine to float32 "
            f"{report.text_min_cosine:.4f} < {TEXT_INT8_MIN_COSINE}"
        )
    else:
        text = (
            f"queries use an int8 text tower (least cosine to float32 {report.text_min_cosine:.4f})"
        )
    if report.image_error is not None:
        return f"{text}; no int8 image tower ({report.image_error})"
    return (
        f"{text}; int8 image tower made: indexing uses it once it agrees with float32 on "
        f"the library's first photos"
    )


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, HachiError) else f"{type(exc).__name__}: {exc}"


def _quantize_into(
    staging: Path, folder: Path, meta: dict[str, Any], image: bool, image_optional: bool
) -> QuantizeReport:
    added = [TEXTUAL_INT8_FILE, *([VISUAL_INT8_FILE] if image else [])]
    files = [f for f in meta["files"] if f not in added]
    for rel in files:
        _link_or_copy(folder / rel, staging / rel)
    write_model_json(staging, {**meta, "files": files})
    text = add_text_int8(staging, CHECK_TEXTS + INT8_CHECK_TEXTS)
    image_cosine, image_error = None, None
    if image:
        try:
            batch = preprocess_batch(check_images(), load_config(staging).preprocess)
            image_cosine = add_image_int8(staging, batch)
        except Exception as exc:
            if not image_optional:
                raise
            (staging / VISUAL_INT8_FILE).unlink(missing_ok=True)  # never listed: not kept
            image_error = _why(exc)
    return QuantizeReport(str(meta["name"]), text, image_cosine, image_error)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link costs no space (the int8 files are new, the rest is never written);
    a copy where the file system has no links."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
