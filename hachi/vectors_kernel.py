"""The dot-product kernel behind vector search: float16 rows times a float32 query.

Why ONNX Runtime (already Hachi's inference engine) rather than numpy: numpy converts
float16 to float32 with a scalar loop, about five times slower than the SIMD conversion inside
ONNX Runtime's Cast kernel. A tiny Scan graph (Cast + MatMul per cache-sized chunk) keeps each
converted chunk in L2 and costs one Python call per search.

The graph is serialised by hand below, so running Hachi needs no ``onnx`` package.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

KERNEL_CHUNK_ROWS = 512
"""Rows converted to float32 at a time inside the kernel: 1 MB at D=512, resident in L2."""
PARALLEL_MIN_ROWS = 65_536
"""Below this many rows a second thread costs more than it saves."""
MAX_SEARCH_THREADS = 2


class DotKernel:
    """float16 matrix times float32 vector, float32 accumulate, in ONNX Runtime.

    The graph is a Scan over ``[chunks, KERNEL_CHUNK_ROWS, D]`` whose body casts one chunk to
    float32 and multiplies it by the query; the few leftover rows go through the same graph
    as one short chunk. Large matrices are split between two threads (ORT releases the GIL).
    """

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            _scan_dot_model(), options, providers=["CPUExecutionProvider"]
        )
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
    """Approximate cosines from an int8 search copy (see ``hachi.vectors_q8``).

    One MatMulInteger over the whole uint8 matrix in ONNX Runtime, which splits it between
    its threads and runs its integer kernels (AVX512-VNNI where the CPU has it). The offset
    correction and the two scales are three in-place numpy passes over the result, measured
    8x cheaper than the same element-wise ops inside the graph. 2.8 ms for 100,000 rows and
    43 ms for a million on two cores, against 12 and 112 ms for the float16 kernel.
    """

    def __init__(self, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        count = threads or max(1, min(MAX_SEARCH_THREADS, os.cpu_count() or 1))
        options.intra_op_num_threads = count
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            _int8_dot_model(), options, providers=["CPUExecutionProvider"]
        )

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


# -- the kernel's ONNX graph, serialised by hand so that running Hachi needs no `onnx` package.
# Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, ...).

_ONNX_FLOAT, _ONNX_UINT8, _ONNX_INT8, _ONNX_INT32, _ONNX_FLOAT16 = 1, 2, 3, 6, 10
_ATTR_INT, _ATTR_GRAPH = 2, 5
_IR_VERSION, _OPSET = 8, 17


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _tensor_info(name: str, elem_type: int, dims: tuple[str, ...]) -> bytes:
    shape = b"".join(_field_bytes(1, _field_bytes(2, d)) for d in dims)
    tensor = _field_int(1, elem_type) + _field_bytes(2, shape)
    return _field_bytes(1, name) + _field_bytes(2, _field_bytes(1, tensor))


def _node(op: str, inputs: tuple[str, ...], outputs: tuple[str, ...], attrs: bytes = b"") -> bytes:
    body = b"".join(_field_bytes(1, i) for i in inputs)
    body += b"".join(_field_bytes(2, o) for o in outputs)
    return body + _field_bytes(4, op) + attrs


def _attr_int(name: str, value: int) -> bytes:
    return _field_bytes(5, _field_bytes(1, name) + _field_int(3, value) + _field_int(20, _ATTR_INT))


def _attr_graph(name: str, graph: bytes) -> bytes:
    payload = _field_bytes(1, name) + _field_bytes(6, graph) + _field_int(20, _ATTR_GRAPH)
    return _field_bytes(5, payload)


def _graph(name: str, nodes: list[bytes], inputs: list[bytes], outputs: list[bytes]) -> bytes:
    body = b"".join(_field_bytes(1, n) for n in nodes) + _field_bytes(2, name)
    body += b"".join(_field_bytes(11, i) for i in inputs)
    return body + b"".join(_field_bytes(12, o) for o in outputs)


def _scan_dot_model() -> bytes:
    """Y[k, c, 1] = float32(X[k, c, d]) @ Q[d, 1], one Scan step per chunk of c rows."""
    body = _graph(
        "chunk",
        [
            _node("Cast", ("x",), ("xf",), _attr_int("to", _ONNX_FLOAT)),
            _node("MatMul", ("xf", "Q"), ("y",)),
        ],
        [_tensor_info("x", _ONNX_FLOAT16, ("c", "d"))],
        [_tensor_info("y", _ONNX_FLOAT, ("c", "one"))],
    )
    scan = _node(
        "Scan", ("X",), ("Y",), _attr_int("num_scan_inputs", 1) + _attr_graph("body", body)
    )
    graph = _graph(
        "scan_dot",
        [scan],
        [
            _tensor_info("X", _ONNX_FLOAT16, ("k", "c", "d")),
            _tensor_info("Q", _ONNX_FLOAT, ("d", "one")),
        ],
        [_tensor_info("Y", _ONNX_FLOAT, ("k", "c", "one"))],
    )
    return _model(graph)


def _int8_dot_model() -> bytes:
    """Y[n, 1] = A[n, d] @ B[d, 1] in int32, A uint8 and B int8."""
    graph = _graph(
        "int8_dot",
        [_node("MatMulInteger", ("A", "B"), ("Y",))],
        [
            _tensor_info("A", _ONNX_UINT8, ("n", "d")),
            _tensor_info("B", _ONNX_INT8, ("d", "one")),
        ],
        [_tensor_info("Y", _ONNX_INT32, ("n", "one"))],
    )
    return _model(graph)


def _model(graph: bytes) -> bytes:
    """A ModelProto around ``graph``, at the IR version and default-domain opset used here."""
    opset = _field_bytes(1, "") + _field_int(2, _OPSET)
    return _field_int(1, _IR_VERSION) + _field_bytes(7, graph) + _field_bytes(8, opset)
