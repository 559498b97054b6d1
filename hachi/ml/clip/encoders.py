"""CLIP image and text towers on ONNX Runtime, behind the common Model interface.

The two towers are separate models because they live different lives: the text tower
answers every search and stays loaded, while the image tower is only needed while
indexing and can be dropped when idle to give its memory back.

A search query is short, so the text tower is tuned for one short input: when the model
folder says its graph allows it (``text_trim``), the token batch is cut after its last
end-of-text token instead of running all ``context_length`` positions, and the int8 text
graph (a quarter of the weights to stream through memory) can answer instead of float32.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from PIL import Image

from hachi.errors import BadRequest, ModelUnavailable
from hachi.ml.base import Model
from hachi.ml.clip.config import (
    TEXTUAL_FILE,
    TEXTUAL_INT8_FILE,
    VISUAL_FILE,
    VISUAL_INT8_FILE,
    ClipConfig,
    load_config,
)
from hachi.ml.clip.preprocess import preprocess_batch
from hachi.ml.clip.tokenizer import ClipTokenizer
from hachi.ml.sessions import create_session

NORM_EPSILON = 1e-12
TEXT_INT8_MIN_COSINE = 0.995
"""Least agreement (cosine to float32 over the export's check texts) for queries to use the
int8 text tower; ViT-B-32 with random weights measured 0.9988. Below it, float32 is used."""
MAX_QUERY_CHARS = 2_000
MIN_TEXT_TOKENS = 2  # the shortest token axis trimmed graphs are exported for
# Threads of the text session, as measured in bench/RESULTS.md.
INT8_QUERY_THREADS = 1
FLOAT_QUERY_THREADS = 2


def l2_normalize(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """Unit rows, so a dot product is a cosine; a zero row stays zero instead of NaN."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, NORM_EPSILON)).astype(np.float32, copy=False)


def trim_tokens(tokens: NDArray[np.integer], end_id: int) -> NDArray[np.integer]:
    """Cut a token batch just after the last end-of-text token of any of its rows.

    Only valid for causal text towers pooled at the end token: no position after it can
    change the embedding, so the cut saves work and changes nothing. The end is found by
    its id, not by the first zero, because 0 is padding and also the real token "!". A
    batch with a row that has no end token (not made by our tokenizer) keeps its width.
    """
    is_end = tokens == end_id
    if tokens.shape[0] == 0 or not bool(is_end.any(axis=1).all()):
        return tokens
    length = max(int(is_end.argmax(axis=1).max()) + 1, MIN_TEXT_TOKENS)
    return np.ascontiguousarray(tokens[:, :length])


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file (read once per size and time stamp: ~0.2 s for ViT-B-32's graph)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:32]


def _query_threads(graph: str) -> int:
    wanted = INT8_QUERY_THREADS if graph == TEXTUAL_INT8_FILE else FLOAT_QUERY_THREADS
    return min(wanted, os.cpu_count() or 1)


def _open(
    model_dir: Path, filename: str, threads: int | None, prepack: bool = True
) -> ort.InferenceSession:
    return create_session(model_dir / filename, threads=threads, prepack=prepack)


class ClipImageEncoder(Model):
    """(N, 3, H, W) float32 preprocessed photos -> (N, D) unit embeddings."""

    def __init__(self, model_dir: Path, threads: int | None = None, int8: bool = False) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.threads = threads
        self.want_int8 = int8
        self.config: ClipConfig | None = None
        self.quantized = False
        self._session: ort.InferenceSession | None = None
        self._input = "image"

    def load(self) -> None:
        self.config = load_config(self.model_dir)
        self.quantized = self.want_int8 and (self.model_dir / VISUAL_INT8_FILE).is_file()
        name = VISUAL_INT8_FILE if self.quantized else VISUAL_FILE
        # the float32 tower's prepacked weights would be the indexer's memory peak
        self._session = _open(self.model_dir, name, self.threads, prepack=self.quantized)
        self._input = self._session.get_inputs()[0].name

    def release(self) -> None:
        self._session = None

    def predict(self, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        self.ensure_loaded()
        assert self._session is not None and self.config is not None
        batch = np.ascontiguousarray(inputs, dtype=np.float32)
        expected = (3, *self.config.preprocess.image_size)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise BadRequest(f"image batch must be (N, {expected}), got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.config.embed_dim), dtype=np.float32)
        (output,) = self._session.run(None, {self._input: batch})
        return l2_normalize(output)


class ClipTextEncoder(Model):
    """Texts -> (N, D) unit embeddings; owns the tokenizer that matches its vocabulary.

    ``int8`` picks ``textual.int8.onnx`` when the folder has it. Unless ``threads`` says
    otherwise, the int8 graph runs on one thread (a short query is a chain of small int8
    products where waking a second thread costs more than it saves) and float32 on two.
    Weights are prepacked: it halves the time of a query and, measured, costs no resident
    memory once loading's buffers are trimmed.
    """

    def __init__(
        self,
        model_dir: Path,
        threads: int | None = None,
        int8: bool = False,
        *,
        check_agreement: bool = True,
    ) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.threads = threads
        self.want_int8 = int8
        self.check_agreement = check_agreement  # off only to measure that agreement
        self.config: ClipConfig | None = None
        self.tokenizer: ClipTokenizer | None = None
        self._session: ort.InferenceSession | None = None
        self._graph: str | None = None
        self._input = "text"
        self._dtype: type[np.integer] = np.int64

    @property
    def quantized(self) -> bool:
        """Whether queries run (or, before loading, will run) on the int8 graph."""
        return (self._graph or self._choose_graph()) == TEXTUAL_INT8_FILE

    def _choose_graph(self) -> str:
        """The int8 graph only when asked for, present, and measured close to float32 at
        export: trained towers with outlier activations may quantise worse than random ones,
        and a folder that does not say how well is not trusted."""
        if not self.want_int8 or not (self.model_dir / TEXTUAL_INT8_FILE).is_file():
            return TEXTUAL_FILE
        if not self.check_agreement:
            return TEXTUAL_INT8_FILE
        agreement = load_config(self.model_dir).text_int8_min_cosine
        good = agreement is not None and agreement >= TEXT_INT8_MIN_COSINE
        return TEXTUAL_INT8_FILE if good else TEXTUAL_FILE

    def load(self) -> None:
        config = load_config(self.model_dir)
        tokenizer = ClipTokenizer(
            self.model_dir / config.tokenizer.vocab_file,
            context_length=config.context_length,
            clean=config.tokenizer.clean,
        )
        if tokenizer.vocab_size > config.vocab_size:
            raise ModelUnavailable(
                f"vocab file has {tokenizer.vocab_size} tokens, model only {config.vocab_size}",
                {"path": str(self.model_dir)},
            )
        graph = self._choose_graph()
        self._session = _open(self.model_dir, graph, self.threads or _query_threads(graph))
        text_input = self._session.get_inputs()[0]
        self._input = text_input.name
        self._dtype = np.int32 if text_input.type == "tensor(int32)" else np.int64
        self.config, self.tokenizer, self._graph = config, tokenizer, graph

    def release(self) -> None:
        self._session = None
        self.tokenizer = None
        self._graph = None

    def tokens(self, texts: Sequence[str]) -> NDArray[np.integer]:
        """The token batch the graph is fed: trimmed when the model folder allows it."""
        self.ensure_loaded()
        assert self.tokenizer is not None and self.config is not None
        tokens = self.tokenizer(texts).astype(self._dtype, copy=False)
        return trim_tokens(tokens, self.tokenizer.end_id) if self.config.text_trim else tokens

    def predict(self, inputs: Sequence[str]) -> NDArray[np.float32]:
        self.ensure_loaded()
        assert self._session is not None and self.config is not None
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        if len(texts) == 0:
            return np.zeros((0, self.config.embed_dim), dtype=np.float32)
        if any(len(t) > MAX_QUERY_CHARS for t in texts):
            raise BadRequest(f"text longer than {MAX_QUERY_CHARS} characters")
        (output,) = self._session.run(None, {self._input: self.tokens(texts)})
        return l2_normalize(output)


class ClipModel:
    """One CLIP model folder: preprocessing, both towers, and idle unloading of the image one.

    Photos and texts land in the same unit-sphere space, so ``encode_texts(q) @
    encode_images(p).T`` ranks photos for a query. ``int8`` and ``text_int8`` choose the
    quantised image and text graphs where the folder has them (float32 otherwise);
    ``threads`` sizes the image tower's pool, the text tower keeps its query setting.
    """

    def __init__(
        self,
        model_dir: Path,
        threads: int | None = None,
        int8: bool = False,
        text_int8: bool = False,
    ) -> None:
        self.model_dir = model_dir
        self.config = load_config(model_dir)
        self.image_encoder = ClipImageEncoder(model_dir, threads=threads, int8=int8)
        self.text_encoder = ClipTextEncoder(model_dir, int8=text_int8)
        self._image_used_at = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def text_quantized(self) -> bool:
        """True when queries are encoded by the int8 text graph (for status and benchmarks)."""
        return self.text_encoder.quantized

    @property
    def has_image_int8(self) -> bool:
        return (self.model_dir / VISUAL_INT8_FILE).is_file()

    @property
    def image_int8(self) -> bool:
        """Whether photos are (or, once loaded, will be) encoded by the int8 image tower."""
        return self.image_encoder.want_int8 and self.has_image_int8

    def use_image_tower(self, int8: bool) -> None:
        """Encode photos with the int8 tower (where the folder has it) or float32 from the
        next batch on; the other tower's session is dropped first, so the two are never
        loaded together."""
        if self.image_encoder.want_int8 != int8:
            self.image_encoder.unload()
            self.image_encoder.want_int8 = int8

    def image_int8_fingerprint(self) -> str | None:
        """Identifies the int8 image graph's contents (None: the folder has none), so a
        re-export or another model is checked again."""
        path = self.model_dir / VISUAL_INT8_FILE
        try:
            info = path.stat()
        except OSError:
            return None
        return _file_digest(str(path), info.st_size, info.st_mtime_ns)

    def preprocess_batch(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """Pure and thread-safe: the indexer calls it on reader threads."""
        return preprocess_batch(images, self.config.preprocess)

    def encode_image_batch(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        self._image_used_at = time.monotonic()
        return self.image_encoder.predict(batch)

    def encode_images(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        return self.encode_image_batch(self.preprocess_batch(images))

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.text_encoder.predict(texts)

    def unload_images_if_idle(self, idle_seconds: float) -> bool:
        """Drop the image tower when unused for ``idle_seconds``; True when it was dropped."""
        idle = time.monotonic() - self._image_used_at
        if self.image_encoder.loaded and idle >= idle_seconds:
            self.image_encoder.unload()
            return True
        return False

    def unload(self) -> None:
        self.image_encoder.unload()
        self.text_encoder.unload()
