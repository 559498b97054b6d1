"""The text tower on fewer tokens: which open_clip towers allow it, and their export.

CLIP's text transformer is causal and pooled at the end-of-text token, so nothing after
that token changes the embedding: a query can run only up to it (8 tokens instead of 77
for a short query, which makes the float32 tower ~3x and its int8 copy ~15x faster). The
TorchScript exporter bakes the sequence length into the attention reshapes, so this graph
comes from the dynamo exporter, with a dynamic token axis. Like ``export``, this module
touches torch and open_clip only inside its functions (the optional ``export`` extra).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hachi.ml.clip.config import ClipConfig
from hachi.ml.clip.encoders import MIN_TEXT_TOKENS, trim_tokens

DYNAMO_OPSET = 18  # the dynamo exporter's own opset; older ones go through a converter
EXAMPLE_TOKENS = 16  # token axis of the example batch the trimmed text tower is traced with


@dataclass(frozen=True)
class TextParts:
    """Where a text tower's layers live and how it pools: enough to run it on fewer tokens."""

    holder: Any  # the module with token_embedding, positional_embedding, transformer, ...
    pool_type: str
    eos_id: int | None


def trimmable_text(model: Any, end_id: int) -> TextParts | None:
    """The text tower's parts when no token after the end token can change its embedding.

    That needs a causal attention mask (no padding mask, no CoCa class token appended at
    the end) and pooling at the end token: ``argmax`` (the end token has the largest id)
    or ``eos`` with the tokenizer's end id. Anything else keeps the fixed-length graph.
    """
    from open_clip.transformer import TextTransformer

    text = getattr(model, "text", None)
    if isinstance(text, TextTransformer):
        if text.cls_emb is not None or text.use_pad_mask:
            return None
        parts = TextParts(text, text.pool_type, text.eos_id)
    elif hasattr(model, "token_embedding") and hasattr(model, "text_pool_type"):
        parts = TextParts(model, model.text_pool_type, getattr(model, "text_eos_id", None))
    else:
        return None
    at_end = parts.pool_type == "argmax" or (parts.pool_type == "eos" and parts.eos_id == end_id)
    return parts if at_end and _is_causal(getattr(parts.holder, "attn_mask", None)) else None


def _is_causal(mask: Any) -> bool:
    import torch

    if not isinstance(mask, torch.Tensor) or mask.ndim != 2:
        return False
    above = torch.ones(mask.shape, dtype=torch.bool).triu(1)
    return bool(torch.equal(torch.isneginf(mask), above)) and bool((mask[~above] == 0).all())


def _trimmed_text_module(parts: TextParts) -> Any:
    """open_clip's text forward, with the position table and mask cut to the input's length."""
    import torch
    from open_clip.transformer import text_global_pool

    class TrimmedText(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.holder = parts.holder

        def forward(self, text: torch.Tensor) -> torch.Tensor:
            tower, length = self.holder, text.shape[1]
            x = tower.token_embedding(text) + tower.positional_embedding[:length]
            mask = tower.attn_mask
            x = tower.transformer(x, attn_mask=None if mask is None else mask[:length, :length])
            x = text_global_pool(tower.ln_final(x), text, parts.pool_type, parts.eos_id)
            projection = tower.text_projection
            if projection is None:
                return x
            return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection

    return TrimmedText().eval()


def export_trimmed_text(parts: TextParts, config: ClipConfig, path: Path, opset: int) -> bool:
    """Export with a dynamic token axis; False when the dynamo exporter cannot trace it."""
    import torch

    length = max(MIN_TEXT_TOKENS + 1, min(EXAMPLE_TOKENS, config.context_length))
    text = torch.zeros(2, length, dtype=torch.long)
    text[:, 0], text[:, 1] = config.vocab_size - 2, config.vocab_size - 1
    tokens = torch.export.Dim("tokens", min=MIN_TEXT_TOKENS, max=config.context_length)
    try:
        with exporting():
            torch.onnx.export(
                _trimmed_text_module(parts),
                (text,),
                str(path),
                input_names=["text"],
                output_names=["text_embedding"],  # "embedding" clashes with a node name
                dynamic_shapes=({0: torch.export.Dim("batch"), 1: tokens},),
                opset_version=max(opset, DYNAMO_OPSET),
                dynamo=True,
                external_data=False,
            )
    except Exception:  # the tracer fails in many types; the fixed-length fallback is safe
        path.unlink(missing_ok=True)
        return False
    return True


@contextlib.contextmanager
def exporting() -> Iterator[None]:
    """Quiet, gradient-free tracing of the plain attention path.

    The fused attention kernel used at inference has no ONNX form; the exporters warn at
    length and the dynamo one prints its progress, which must stay out of the CLI's JSON.
    """
    import torch

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def trimmed_text_agreement(model: Any, tokenizer: Any, path: Path, texts: Sequence[str]) -> float:
    """Least cosine between torch's full-length text embeddings and the graph's trimmed ones."""
    import torch

    tokens = tokenizer(list(texts))
    with torch.no_grad():
        reference = model.encode_text(tokens).numpy()
    try:
        runs = text_runs(path, tokens.numpy(), tokenizer.eot_token_id, trim=True)
    except Exception:  # ORT refuses a fixed-length graph's shapes in many ways
        return -1.0
    return min(min_cosine(run, reference) for run in runs)


def text_runs(
    path: Path, tokens: NDArray[np.int64], end_id: int, trim: bool
) -> list[NDArray[np.float32]]:
    """The graph's outputs for every shape of batch the runtime can feed it.

    Full width always; when trimmed, also the batch cut at its longest row and every row
    cut alone (a single search query), each compared with torch's full-width result.
    """
    from hachi.ml.sessions import create_session

    session = create_session(path)
    name = session.get_inputs()[0].name

    def run(batch: NDArray[np.integer]) -> NDArray[np.float32]:
        return np.asarray(session.run(None, {name: batch})[0], dtype=np.float32)

    runs = [run(tokens)]
    if trim:
        runs.append(run(trim_tokens(tokens, end_id)))
        runs.append(np.concatenate([run(trim_tokens(row[None], end_id)) for row in tokens]))
    return runs


def min_cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(a * b, axis=1)))
