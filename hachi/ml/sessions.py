"""The one place where ONNX Runtime sessions are created.

Keeping provider choice and threading here means every model (CLIP, faces, OCR) runs
with the same policy: CUDA or another accelerator when ONNX Runtime offers one, else the
CPU, with a bounded thread pool so indexing never starves the web server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from hachi.errors import ModelUnavailable

PREFERRED_PROVIDERS = (
    "CUDAExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "CPUExecutionProvider",
)


def available_providers() -> list[str]:
    """Providers to use, best first; honours HACHI_PROVIDERS (comma list) to force one."""
    forced = os.environ.get("HACHI_PROVIDERS", "").strip()
    installed = set(ort.get_available_providers())
    wanted = [p.strip() for p in forced.split(",") if p.strip()] or list(PREFERRED_PROVIDERS)
    chosen = [p for p in wanted if p in installed]
    return chosen or ["CPUExecutionProvider"]


def create_session(
    model: Path | bytes,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
    *,
    prepack: bool = True,
    plan_memory: bool = True,
) -> ort.InferenceSession:
    """Open an ONNX graph (a file, or serialised bytes for the graphs Hachi builds itself);
    a missing file is a ModelUnavailable, not a crash. ``providers`` narrows the choice.

    ``prepack=False`` keeps ONNX Runtime from re-laying out the weights for its matrix
    kernels while loading: for the float32 ViT-B-32 image tower that transient copy is the
    indexer's memory peak (630 -> 432 MB loading the tower alone), for ~10 % more CPU per
    batch (``bench/bench_index_memory.py``).

    ``plan_memory=False`` has ONNX Runtime allocate each tensor from its arena as it is
    needed instead of one block planned per input shape: for a graph that sees many
    shapes (text detection on whole photos of any aspect) the arena then stays at the
    largest live set (~120 MB for a 960 x 720 photo) instead of growing with each new
    shape's plan."""
    if isinstance(model, Path) and not model.is_file():
        raise ModelUnavailable(f"model file missing: {model}", {"path": str(model)})
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or max(1, (os.cpu_count() or 2))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Spinning worker threads burn the cycles the reader threads need to decode the next
    # batch (measured: +13% end-to-end indexing throughput with spinning off).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    options.enable_mem_pattern = plan_memory
    chosen = [p for p in available_providers() if providers is None or p in providers]
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(
        source, sess_options=options, providers=chosen or list(providers or ())
    )


SATURATION_PROBE_LENGTH = 64


@functools.cache
def int8_products_saturate() -> bool:
    """Whether ONNX Runtime's uint8 x int8 integer kernels get large products wrong here.

    On x86 CPUs with AVX2 but no VNNI (most AMD Zen 1-3 and pre-2019 Intel servers) they
    add pairs of products in 16 bits, which 255 x 127 + 255 x 127 overflows; with VNNI,
    on ARM, or on an accelerator they do not. Every int8 path in Hachi (the search copy's
    kernel, the quantised CLIP towers) runs on these kernels, so each asks this once: a row
    of 255s times a column of 127s, compared with the exact product."""
    from onnx import TensorProto, helper  # 17 MB and 0.8 s to import: only when asked

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
        "saturation_probe",
        [
            helper.make_tensor_value_info("A", TensorProto.UINT8, [1, SATURATION_PROBE_LENGTH]),
            helper.make_tensor_value_info("B", TensorProto.INT8, [SATURATION_PROBE_LENGTH, 1]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [1, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = create_session(
        model.SerializeToString(), threads=1, providers=("CPUExecutionProvider",)
    )
    rows = np.full((1, SATURATION_PROBE_LENGTH), 255, np.uint8)
    column = np.full((SATURATION_PROBE_LENGTH, 1), 127, np.int8)
    (product,) = session.run(None, {"A": rows, "B": column})
    return int(np.asarray(product).reshape(-1)[0]) != SATURATION_PROBE_LENGTH * 255 * 127


M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
HEAP_ARENAS = 2


def limit_heap_arenas(count: int = HEAP_ARENAS) -> None:
    """Cap glibc's malloc arenas before any thread starts (glibc only; else a no-op).

    glibc gives each new thread that allocates an arena of its own, up to eight per core;
    every waitress, reader and ONNX Runtime thread then keeps freed memory in its own
    arena, where ``trim_heap`` reaches it badly. Measured on a 100,000-photo library after
    20 queries on four threads: 330 MB anonymous with the default, 242 MB with two arenas
    and a trim (``bench/bench_server_memory.py``; indexing peaks in
    ``bench/bench_index_memory.py``).
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, count)


def trim_heap() -> None:
    """Hand freed memory back to the OS after loading a model (glibc only; else a no-op).

    Loading a graph on a server thread leaves ~100 MB of freed buffers in that thread's
    malloc arena, which would otherwise count against the server's memory for good.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, looked up once: ``find_library`` runs ``ldconfig -p`` in a child
    process on every call, and the OCR pass trims after each photo it reads whole (a fork
    of the indexer each time, which also showed up as a second copy of its memory)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
