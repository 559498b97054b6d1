"""Optional int8 image tower: dynamic quantisation of its matrix products.

Weights become int8 (a quarter of the size) and activations are quantised on the fly, so
no calibration photos are needed. It needs the ``onnx`` package, which comes with the
``export`` extra; running a quantised graph needs only ONNX Runtime. Whether it is worth
using is a measurement, not a guess: ``int8_agreement`` compares it with float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hachi.errors import ModelUnavailable
from hachi.ml.clip.config import VISUAL_FILE, VISUAL_INT8_FILE
from hachi.ml.clip.encoders import l2_normalize
from hachi.ml.sessions import create_session

QUANTIZED_OPS = ("MatMul", "Gemm")


def quantize_image_tower(model_dir: Path) -> Path:
    """Write ``visual.int8.onnx`` next to ``visual.onnx`` and return its path."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # onnx missing: it is part of the export extra
        raise ModelUnavailable("int8 quantisation needs the 'onnx' package") from exc
    source, target = model_dir / VISUAL_FILE, model_dir / VISUAL_INT8_FILE
    quantize_dynamic(
        source,
        target,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(QUANTIZED_OPS),
    )
    return target


def embed_with(path: Path, batch: NDArray[np.float32]) -> NDArray[np.float32]:
    session = create_session(path)
    (output,) = session.run(None, {session.get_inputs()[0].name: batch})
    return l2_normalize(output)


def int8_agreement(model_dir: Path, batch: NDArray[np.float32]) -> float:
    """Mean cosine between int8 and float32 embeddings of the same preprocessed photos."""
    reference = embed_with(model_dir / VISUAL_FILE, batch)
    quantized = embed_with(model_dir / VISUAL_INT8_FILE, batch)
    return float(np.mean(np.sum(reference * quantized, axis=1)))
