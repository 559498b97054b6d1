"""Real videos for tests, encoded with PyAV: shots of the coloured shapes the test CLIP
model knows (tools/train_shapes_clip.py), in any container and codec PyAV can write."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def shapes_tool() -> ModuleType:
    path = ROOT / "tools" / "train_shapes_clip.py"
    spec = importlib.util.spec_from_file_location("train_shapes_clip", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shape_frame(colour: str, shape: str, size: tuple[int, int], seed: int) -> Image.Image:
    """One drawn shape, fitted into a frame of ``size`` (centred on its own background)."""
    tool = shapes_tool()
    picture = tool.draw_shape(colour, shape, np.random.default_rng(seed))
    side = min(size)
    picture = picture.resize((side, side))
    frame = Image.new("RGB", size, picture.getpixel((0, 0)))
    frame.paste(picture, ((size[0] - side) // 2, (size[1] - side) // 2))
    return frame


def write_video(
    path: Path,
    shots: Sequence[tuple[Image.Image, float]],
    fps: int = 10,
    codec: str = "libx264",
    metadata: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
) -> Path:
    """Each (picture, seconds) shot held still for its length; returns ``path``."""
    width, height = shots[0][0].size
    with av.open(str(path), "w", options=options or {}) as container:
        for key, value in (metadata or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmt
        if gop is not None:  # a keyframe every `gop` frames, as phones write them
            stream.codec_context.gop_size = gop
            stream.codec_context.options = {"sc_threshold": "0"}
        for picture, seconds in shots:
            frame = av.VideoFrame.from_image(picture.convert("RGB"))
            for _ in range(round(seconds * fps)):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def shapes_video(
    path: Path,
    shots: Sequence[tuple[str, str, float]],
    size: tuple[int, int] = (192, 144),
    **options: object,
) -> Path:
    """A video of (colour, shape, seconds) shots."""
    pictures = [
        (shape_frame(colour, shape, size, seed=i), seconds)
        for i, (colour, shape, seconds) in enumerate(shots)
    ]
    return write_video(path, pictures, **options)  # type: ignore[arg-type]


def black(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, (0, 0, 0))
