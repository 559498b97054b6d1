"""The dot-product kernel behind vector search: float16 rows times a float32 query.

Why ONNX Runtime (already Hachi's inference engine) rather than numpy: numpy converts
float16 to float32 with a scalar loop, about five times slower than the SIMD conversion inside
ONNX Runtime's Cast kernel. A tiny Scan graph (Cast + MatMul per cache-sized chunk) keeps each
converted chunk in L2 and costs one Python call per search.

Both graphs are built with ``onnx.helper`` and opened through ``hachi.ml.sessions``, on the
CPU: the matrix lives in host memory, and copying it to an accelerator per query would cost
more than the product.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from hachi.ml.sessions import create_session, int8_products_saturate
from hachi.vectors.q8 import OFFSET

if TYPE_CHECKING:
    from onnx import GraphProto

KERNEL_CHUNK_ROWS = 512
"""Rows converted to float32 at a time inside the kernel: 1 MB at D=512, resident in L2."""
PARALLEL_MIN_ROWS = 65_536
"""Below this many rows a second thread costs more than it saves."""
MAX_SEARCH_THREADS = 2
CPU_ONLY = ("CPUExecutionProvider",)


class DotKernel:
    """float16 matrix times float32 vector, float32 accumulate, in ONNX Runtime.

    The graph is a Scan over ``[chunks, KERNEL_CHUNK_ROWS, D]`` whose body casts one chunk to
    float32 and multiplies it by the query; the few leftover rows go through the same graph
    as one short chunk. Large matrices are split between two threads (ORT releases the GIL).
    """

    def __init__(self) -> None:
        self._session = create_session(_scan_dot_model(), threads=1, providers=CPU_ONLY)
        self._threads = max(1, min(MAX_SEARCH_THREADS, os.cpu_count() or 1))

    def scores(
        self, matrix: NDArray[np.float16], query: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        out = np.empty(len(matrix), np.float32)
        if len(matrix) < PARALLEL_MIN_ROWS or self._threads == 1:
            self._score_into(matrix, query, out)
            return out
        bounds = _split_rows(len(matrix), self._threads)
        with ThreadPoolExecutor(self._threads) as pool:
            jobs = [
                pool.submit(self._score_into, matrix[lo:hi], query, out[lo:hi]) for lo, hi in bounds
            ]
            for job in jobs:
                job.result()
        return out

    def _score_into(
        self, matrix: NDArray[np.float16], query: NDArray[np.float32], out: NDArray[np.float32]
    ) -> None:
        full = len(matrix) // KERNEL_CHUNK_ROWS * KERNEL_CHUNK_ROWS
        q = query.reshape(-1, 1)
        if full:
            chunks = matrix[:full].reshape(-1, KERNEL_CHUNK_ROWS, matrix.shape[1])
            out[:full] = self._run(chunks, q)
        if full < len(matrix):
            out[full:] = self._run(matrix[None, full:], q)

    def _run(self, chunks: NDArray[np.float16], q: NDArray[np.float32]) -> NDArray[np.float32]:
        inputs = {"X": np.ascontiguousarray(chunks), "Q": q}
        result = self._session.run(None, inputs)[0]
        return np.asarray(result, dtype=np.float32).reshape(-1)


class Int8DotKernel:
    """Approximate cosines from an int8 search copy (see ``hachi.vectors.q8``).

    One MatMulInteger over the whole uint8 matrix in ONNX Runtime, which splits it between
    its threads and runs its integer kernels (AVX512-VNNI where the CPU has it). The offset
    correction and the two scales are three in-place numpy passes over the result (timings
    against the float16 kernel: ``bench/RESULTS.md``).

    On x86 CPUs with AVX2 but no VNNI (most AMD Zen 1-3 and pre-2019 Intel servers), ONNX
    Runtime's uint8 x int8 kernel adds pairs of products in 16 bits and saturates: rows
    stored about 128 times query components up to 127 came out up to 0.02 off, where the
    search allows 0.003. So where ``hachi.ml.sessions.int8_products_saturate`` finds
    that, the kernel runs a uint8 x uint8 graph with both zero points in
    the graph (the query moved by 128 too): exact on every CPU, the same precision, about
    a third slower than the fast kernel on the CPU that needs it.
    """

    def __init__(self, threads: int | None = None, widened: bool | None = None) -> None:
        """``widened``: the uint8 x uint8 graph (True) or the fast one (False) whatever
        the CPU does; by default the fast one unless it saturates here."""
        count = threads or max(1, min(MAX_SEARCH_THREADS, os.cpu_count() or 1))
        self.saturates = int8_products_saturate()  # the fast graph, on this CPU
        self.widened = self.saturates if widened is None else widened
        graph = _uint8_dot_model() if self.widened else _int8_dot_model()
        self._session = create_session(graph, threads=count, providers=CPU_ONLY)

    def scores(
        self,
        matrix: NDArray[np.uint8],
        row_scales: NDArray[np.float32],
        query: NDArray[np.int8],
        query_scale: float,
        offset: float,
    ) -> NDArray[np.float32]:
        """``(matrix - 128) @ query * row_scales * query_scale`` in float32, one per row."""
        if len(matrix) == 0:
            return np.zeros(0, np.float32)
        if self.widened:  # the graph takes both 128s off itself: no offset to correct
            column = (query.astype(np.int16) + OFFSET).astype(np.uint8)
            (dots,) = self._session.run(None, {"A": matrix, "B": column})
            offset = 0.0
        else:
            (dots,) = self._session.run(None, {"A": matrix, "B": query})
        out = np.asarray(dots, dtype=np.int32).reshape(-1).astype(np.float32)
        out -= np.float32(offset)
        out *= row_scales
        out *= np.float32(query_scale)
        return out


def _split_rows(rows: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous ranges on chunk boundaries, so each thread runs whole chunks."""
    chunks = -(-rows // KERNEL_CHUNK_ROWS)
    edges = [min(rows, round(chunks * i / parts) * KERNEL_CHUNK_ROWS) for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in pairwise(edges) if hi > lo]


# -- the kernels' ONNX graphs --------------------------------------------------------------

_OPSET = 17
_IR_VERSION = 8  # the oldest ONNX Runtime Hachi supports (1.17) reads IR 8 / opset 17


def _scan_dot_model() -> bytes:
    """Y[k, c, 1] = float32(X[k, c, d]) @ Q[d, 1], one Scan step per chunk of c rows."""
    from onnx import TensorProto, helper  # 17 MB and 0.8 s to import: only when searched

    body = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["xf", "Q"], ["y"]),
        ],
        "chunk",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["c", "d"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["c", "one"])],
    )
    scan = helper.make_node("Scan", ["X"], ["Y"], num_scan_inputs=1, body=body)
    graph = helper.make_graph(
        [scan],
        "scan_dot",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT16, ["k", "c", "d"]),
            helper.make_tensor_value_info("Q", TensorProto.FLOAT, ["d", "one"]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["k", "c", "one"])],
    )
    return _model(graph)


def _int8_dot_model() -> bytes:
    """Y[n, 1] = A[n, d] @ B[d, 1] in int32, A uint8 and B int8."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
        "int8_dot",
        [
            helper.make_tensor_value_info("A", TensorProto.UINT8, ["n", "d"]),
            helper.make_tensor_value_info("B", TensorProto.INT8, ["d", "one"]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["n", "one"])],
    )
    return _model(graph)


def _uint8_dot_model() -> bytes:
    """Y[n, 1] = (A[n, d] - 128) @ (B[d, 1] - 128) in int32, A and B uint8."""
    from onnx import TensorProto, helper

    zero_points = [
        helper.make_tensor(name, TensorProto.UINT8, [], [OFFSET]) for name in ("a0", "b0")
    ]
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B", "a0", "b0"], ["Y"])],
        "uint8_dot",
        [
            helper.make_tensor_value_info("A", TensorProto.UINT8, ["n", "d"]),
            helper.make_tensor_value_info("B", TensorProto.UINT8, ["d", "one"]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["n", "one"])],
        initializer=zero_points,
    )
    return _model(graph)


def _model(graph: GraphProto) -> bytes:
    from onnx import helper

    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION
    )
    return bytes(model.SerializeToString())
