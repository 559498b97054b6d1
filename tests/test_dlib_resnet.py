"""dlib's face ResNet rebuilt as an ONNX graph from dlib's own weights file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from hachi.ml.faces.dlib_backend import DESCRIPTOR_FILE, _resnet_session, locate_weights
from hachi.ml.faces.dlib_resnet import (
    Affine,
    Conv,
    Dense,
    Means,
    Pool,
    build_model,
    read_layers,
    resnet_graph,
)
from hachi.ml.sessions import create_session


def _weights() -> bytes:
    return (locate_weights() / DESCRIPTOR_FILE).read_bytes()


def test_the_weights_file_reads_as_dlibs_published_network() -> None:
    layers = read_layers(_weights())
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds.count("Conv") == 29 and kinds.count("Affine") == 29
    assert isinstance(layers[0], Means)
    assert np.allclose(layers[0].rgb, (122.782, 117.001, 104.298), atol=1e-3)
    stem = layers[1]
    assert isinstance(stem, Conv) and stem.weights.shape == (32, 3, 7, 7) and stem.stride == (2, 2)
    pools = [layer for layer in layers if isinstance(layer, Pool)]
    assert [p.kind for p in pools] == ["max", "avg", "avg", "avg", "avg", "avg"]
    assert pools[-1].size == (0, 0)  # the average over the whole plane before the last layer
    assert isinstance(layers[-1], Dense) and layers[-1].weights.shape == (256, 128)


def test_descriptors_match_dlibs_own_on_random_chips() -> None:
    """Every layer's numbers and every connection matter here: chips of noise light up
    all of the network, and dlib's kernels must agree."""
    import dlib

    session = create_session(resnet_graph(locate_weights() / DESCRIPTOR_FILE), threads=1)
    chips = np.random.default_rng(7).integers(0, 256, (5, 150, 150, 3), dtype=np.uint8)
    ours = session.run(None, {"chips": chips})[0]
    net = dlib.face_recognition_model_v1(str(locate_weights() / DESCRIPTOR_FILE))
    theirs = np.asarray(net.compute_face_descriptor(list(chips), 0))
    assert ours.shape == (5, 128)
    assert float(np.abs(ours - theirs).max()) < 1e-5


def test_a_truncated_file_is_refused() -> None:
    data = _weights()
    with pytest.raises(ValueError, match="runs past the end|ends early"):
        read_layers(data[: len(data) // 2])


def test_a_file_of_another_network_is_refused() -> None:
    layers = read_layers(_weights())
    no_stem_pool = [layer for i, layer in enumerate(layers) if i != 3]
    with pytest.raises(ValueError, match="not the network dlib publishes"):
        build_model(no_stem_pool)
    without_last = layers[:-1]
    with pytest.raises(ValueError, match="not the network dlib publishes"):
        build_model(without_last)
    with pytest.raises(ValueError, match="not the network dlib publishes"):
        build_model(read_layers(b"\x00" * 1000))
    assert isinstance(layers[-2], Pool) and layers[-2].size == (0, 0)
    windows_at_the_end = [*layers[:-2], Pool("avg", (1, 1), (1, 1), (0, 0)), layers[-1]]
    with pytest.raises(ValueError, match="not the network dlib publishes"):
        build_model(windows_at_the_end)  # the last layer must see one value a channel


def test_layers_that_do_not_connect_are_refused() -> None:
    rng = np.random.default_rng(0)
    wrong = Conv(rng.random((8, 4, 3, 3), np.float32), np.zeros(8, np.float32), (1, 1), (1, 1))
    layers = [
        Means((0.0, 0.0, 0.0)),
        wrong,  # takes 4 channels where the chip has 3
        Affine(np.ones(8, np.float32), np.zeros(8, np.float32)),
        Pool("max", (3, 3), (2, 2), (0, 0)),
        Pool("avg", (0, 0), (1, 1), (0, 0)),
        Dense(np.zeros((8, 4), np.float32)),
    ]
    with pytest.raises(ValueError, match="do not connect"):
        build_model(layers)


def test_a_backend_whose_file_will_not_convert_falls_back_to_dlib(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / DESCRIPTOR_FILE
    broken.write_bytes(_weights()[:100_000])
    with caplog.at_level(logging.WARNING, logger="hachi.ml.faces.dlib_backend"):
        assert _resnet_session(broken) is None
    assert "describing faces with dlib's own ResNet" in caplog.text
