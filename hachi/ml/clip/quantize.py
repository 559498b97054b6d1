"""Optional int8 towers: dynamic quantisation of their matrix products.

Weights become int8 (a quarter of the size) and activations are quantised on the fly, so
no calibration photos or texts are needed. It needs the ``onnx`` package, which comes with
the ``export`` extra; running a quantised graph needs only ONNX Runtime. Whether a graph is
worth using is a measurement, not a guess: each is compared with its float32 original.

The text tower quantises only its MatMuls. Its token table (a Gather) stays float32: int8
there would halve the file again but measurably hurt agreement, and a query reads only a
few of its rows, so it costs no speed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hachi.errors import ModelUnavailable
from hachi.ml.clip.config import (
    TEXTUAL_FILE,
    TEXTUAL_INT8_FILE,
    VISUAL_FILE,
    VISUAL_INT8_FILE,
    ClipConfig,
    write_config,
)
from hachi.ml.clip.encoders import ClipImageEncoder, ClipTextEncoder, l2_normalize
from hachi.ml.sessions import create_session

QUANTIZED_OPS = ("MatMul", "Gemm")
TEXT_QUANTIZED_OPS = ("MatMul",)


def _quantize(source: Path, target: Path, ops: Sequence[str]) -> Path:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # onnx missing: it is part of the export extra
        raise ModelUnavailable("int8 quantisation needs the 'onnx' package") from exc
    logging.disable(logging.WARNING)  # its advice to pre-process is for static quantisation
    try:
        quantize_dynamic(
            source, target, weight_type=QuantType.QInt8, op_types_to_quantize=list(ops)
        )
    finally:
        logging.disable(logging.NOTSET)
    return target


def quantize_image_tower(model_dir: Path) -> Path:
    """Write ``visual.int8.onnx`` next to ``visual.onnx`` and return its path."""
    return _quantize(model_dir / VISUAL_FILE, model_dir / VISUAL_INT8_FILE, QUANTIZED_OPS)


def quantize_text_tower(model_dir: Path) -> Path:
    """Write ``textual.int8.onnx`` next to ``textual.onnx`` and return its path."""
    return _quantize(model_dir / TEXTUAL_FILE, model_dir / TEXTUAL_INT8_FILE, TEXT_QUANTIZED_OPS)


def embed_with(path: Path, batch: NDArray[np.float32]) -> NDArray[np.float32]:
    session = create_session(path)
    (output,) = session.run(None, {session.get_inputs()[0].name: batch})
    return l2_normalize(output)


def int8_agreement(model_dir: Path, batch: NDArray[np.float32]) -> float:
    """Mean cosine between int8 and float32 embeddings of the same preprocessed photos."""
    reference = embed_with(model_dir / VISUAL_FILE, batch)
    quantized = embed_with(model_dir / VISUAL_INT8_FILE, batch)
    return float(np.mean(np.sum(reference * quantized, axis=1)))


def text_int8_agreement(model_dir: Path, texts: Sequence[str]) -> float:
    """Least cosine between int8 and float32 embeddings of each text encoded alone.

    Alone, as a search query is, so each runs at its own trimmed length; the least rather
    than the mean, because one badly encoded query is what a user would notice.
    """
    reference = ClipTextEncoder(model_dir, int8=False)
    quantized = ClipTextEncoder(model_dir, int8=True, check_agreement=False)
    cosines = [float(np.sum(reference.predict([t]) * quantized.predict([t]))) for t in texts]
    return min(cosines)


def add_image_int8(
    model_dir: Path, config: ClipConfig, batch: NDArray[np.float32]
) -> tuple[ClipConfig, float]:
    """Quantise the image tower of a checked folder; list it in model.json; measure it."""
    quantize_image_tower(model_dir)
    config = _with_file(model_dir, config, VISUAL_INT8_FILE)
    ClipImageEncoder(model_dir, int8=True).ensure_loaded()  # the graph must open in ORT
    return config, int8_agreement(model_dir, batch)


def add_text_int8(
    model_dir: Path, config: ClipConfig, texts: Sequence[str]
) -> tuple[ClipConfig, float]:
    """Quantise the text tower of a checked folder; list it in model.json; measure it."""
    quantize_text_tower(model_dir)
    config = _with_file(model_dir, config, TEXTUAL_INT8_FILE)
    agreement = text_int8_agreement(model_dir, texts)
    # recorded: the runtime uses the int8 graph only when this clears its floor
    config = dataclasses.replace(config, text_int8_min_cosine=round(agreement, 6))
    write_config(config, model_dir)
    return config, agreement


def _with_file(model_dir: Path, config: ClipConfig, name: str) -> ClipConfig:
    """The config listing one more file, written: the store checks every listed file."""
    config = dataclasses.replace(config, files=(*config.files, name))
    write_config(config, model_dir)
    return config
