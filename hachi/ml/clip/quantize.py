"""Optional int8 towers: dynamic quantisation of their matrix products.

Weights become int8 (a quarter of the size) and activations are quantised on the fly, so
no calibration photos or texts are needed. Making a graph needs the ``onnx`` package (a
dependency, used only here); running one needs only ONNX Runtime. Whether a graph is
worth using is a measurement, not a guess: each is compared with its float32 original.

The text tower quantises only its MatMuls. Its token table (a Gather) stays float32: int8
there would halve the file again but measurably hurt agreement, and a query reads only a
few of its rows, so it costs no speed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hachi.errors import ModelUnavailable
from hachi.ml.clip.config import TEXTUAL_FILE, TEXTUAL_INT8_FILE, VISUAL_FILE, VISUAL_INT8_FILE
from hachi.ml.clip.encoders import ClipImageEncoder, ClipTextEncoder, l2_normalize
from hachi.ml.sessions import create_session, int8_products_saturate
from hachi.ml.store import read_model_json, write_model_json

QUANTIZED_OPS = ("MatMul", "Gemm")
TEXT_QUANTIZED_OPS = ("MatMul",)


def _quantize(source: Path, target: Path, ops: Sequence[str], reduce_range: bool = False) -> Path:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # onnx missing from this environment
        raise ModelUnavailable("int8 quantisation needs the 'onnx' package") from exc
    logging.disable(logging.WARNING)  # its advice to pre-process is for static quantisation
    try:
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(ops),
            reduce_range=reduce_range,
        )
    finally:
        logging.disable(logging.NOTSET)
    return target


def quantize_image_tower(model_dir: Path) -> Path:
    """Write ``visual.int8.onnx`` next to ``visual.onnx`` and return its path.

    Its weights are quantised to 7 bits (``reduce_range``). On x86 CPUs with AVX2 but no
    VNNI, ONNX Runtime's uint8 x int8 kernels add pairs of products in 16 bits, and with
    8-bit weights a batch of photos saturates them: ViT-B-32's embeddings then agreed with
    float32 at a mean cosine of 0.989 (0.983 at worst), under the 0.995 the library's check
    asks, so such a CPU indexed with the float32 tower. With 7 bits no pair can saturate,
    and the same CPU measured 0.9996 (the tower ~6 % slower, still ~1.8x cheaper than
    float32). The same graph then gives the same vectors on every CPU, which matters for
    vectors a library keeps (and may carry to another machine)."""
    return _quantize(
        model_dir / VISUAL_FILE, model_dir / VISUAL_INT8_FILE, QUANTIZED_OPS, reduce_range=True
    )


def quantize_text_tower(model_dir: Path) -> Path:
    """Write ``textual.int8.onnx`` next to ``textual.onnx`` and return its path.

    8-bit weights where this CPU's integer kernels do not saturate, else 7-bit (see
    :func:`quantize_image_tower`). Unlike the image tower's, the text tower's vectors are
    never stored: a query is encoded on the machine that quantised it, and its agreement is
    measured there. On the AVX2 machine that found this, ViT-B-32's least cosine over the
    check texts was 0.9988 with 8 bits against 0.9962 with 7, but a tiny model's query
    outside them fell to 0.9951 with 8 (saturation hits some texts and not others)."""
    return _quantize(
        model_dir / TEXTUAL_FILE,
        model_dir / TEXTUAL_INT8_FILE,
        TEXT_QUANTIZED_OPS,
        reduce_range=int8_products_saturate(),
    )


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


def add_image_int8(model_dir: Path, batch: NDArray[np.float32]) -> float:
    """Quantise the image tower of a model folder, list it in model.json; its agreement."""
    quantize_image_tower(model_dir)
    ClipImageEncoder(model_dir, int8=True).ensure_loaded()  # the graph must open in ORT
    agreement = int8_agreement(model_dir, batch)
    _record(model_dir, VISUAL_INT8_FILE)
    return agreement


def add_text_int8(model_dir: Path, texts: Sequence[str]) -> float:
    """Quantise the text tower of a model folder, list it in model.json with its measured
    agreement (the runtime uses the int8 graph only when that clears its floor)."""
    quantize_text_tower(model_dir)
    agreement = text_int8_agreement(model_dir, texts)
    _record(model_dir, TEXTUAL_INT8_FILE, text_int8_min_cosine=round(agreement, 6))
    return agreement


def _record(model_dir: Path, name: str, **values: Any) -> None:
    """List one more file (the store checks every listed file) and set ``values``, keeping
    every other key of model.json: a pulled folder's source and key aliases stay."""
    meta = read_model_json(model_dir)
    files = [f for f in meta["files"] if f != name] + [name]
    write_model_json(model_dir, {**meta, **values, "files": files})
