"""CLIP preprocessing: sizes, crop offsets, padding, normalisation, batch order.

Expected values are computed from first principles (pixel rows tagged with their index,
flat colours with a known normalised value, Pillow's own resize as the resampling
reference); agreement with open_clip itself is in test_clip_parity.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hachi.ml.clip.config import PreprocessConfig
from hachi.ml.clip.preprocess import (
    center_crop_or_pad,
    fit_to_target,
    normalize,
    preprocess_batch,
    preprocess_image,
    resize_shortest_side,
)

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def config(
    size: int | tuple[int, int] = 32, mode: str = "shortest", **kw: object
) -> PreprocessConfig:
    pair = (size, size) if isinstance(size, int) else size
    return PreprocessConfig(image_size=pair, mean=MEAN, std=STD, resize_mode=mode, **kw)  # type: ignore[arg-type]


def row_tagged(width: int, height: int) -> Image.Image:
    """Red channel = row index, green = column index: crops can be read back exactly."""
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def test_flat_colour_normalises_to_the_formula() -> None:
    image = Image.new("RGB", (50, 40), (255, 0, 128))
    out = preprocess_image(image, config(16))
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    expected = [(1.0 - MEAN[0]) / STD[0], (0.0 - MEAN[1]) / STD[1], (128 / 255 - MEAN[2]) / STD[2]]
    for channel, value in enumerate(expected):
        assert np.allclose(out[channel], value, atol=1e-6)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((640, 480), (42, 32)), ((480, 640), (32, 42)), ((100, 33), (96, 32)), ((32, 32), (32, 32))],
)
def test_shortest_side_becomes_target_and_long_side_truncates(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert (
        resize_shortest_side(Image.new("RGB", size), 32, Image.Resampling.BICUBIC).size == expected
    )


def test_resampling_is_pillows_antialiased_bicubic() -> None:
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), "RGB")
    reference = image.resize((42, 32), Image.Resampling.BICUBIC).crop((5, 0, 37, 32))
    assert np.array_equal(np.asarray(fit_to_target(image, config(32))), np.asarray(reference))


@pytest.mark.parametrize(("height", "top"), [(33, 0), (35, 2), (37, 2), (34, 1)])
def test_centre_crop_offsets_round_half_to_even(height: int, top: int) -> None:
    """(33-32)/2 = 0.5 -> 0, (35-32)/2 = 1.5 -> 2, as torchvision's CenterCrop does."""
    out = np.asarray(fit_to_target(row_tagged(32, height), config(32)))
    assert out.shape == (32, 32, 3)
    assert out[0, 0, 0] == top and out[-1, 0, 0] == top + 31


def test_longest_mode_fits_and_pads_with_fill_colour() -> None:
    image = Image.new("RGB", (100, 50), (200, 10, 10))
    out = np.asarray(fit_to_target(image, config(32, "longest", fill_color=7)))
    assert out.shape == (32, 32, 3)
    assert (out[:8] == 7).all() and (out[24:] == 7).all()
    assert (out[8:24, :, 0] == 200).all()


def test_longest_mode_odd_padding_puts_the_extra_pixel_after() -> None:
    padded = np.asarray(
        center_crop_or_pad(Image.new("RGB", (32, 29), (255, 255, 255)), (32, 32), 0)
    )
    assert (padded[:1] == 0).all() and (padded[1:30] == 255).all() and (padded[30:] == 0).all()


def test_squash_ignores_aspect_ratio() -> None:
    image = row_tagged(100, 20)
    out = fit_to_target(image, config(32, "squash"))
    assert out.size == (32, 32)
    assert np.array_equal(
        np.asarray(out), np.asarray(image.resize((32, 32), Image.Resampling.BICUBIC))
    )


def test_non_square_target_keeps_ratio_then_crops() -> None:
    out = fit_to_target(row_tagged(200, 100), config((24, 32)))
    assert out.size == (32, 24)


def test_greyscale_and_palette_photos_become_rgb() -> None:
    grey = Image.new("L", (40, 40), 90)
    assert np.allclose(
        preprocess_image(grey, config(16)), preprocess_image(grey.convert("RGB"), config(16))
    )
    palette = Image.new("RGB", (40, 40), (10, 200, 30)).convert("P")
    assert preprocess_image(palette, config(16)).shape == (3, 16, 16)


def test_batch_keeps_input_order_and_matches_single_images() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = [Image.new("RGB", (30 + 10 * i, 40), c) for i, c in enumerate(colours)]
    batch = preprocess_batch(images, config(16))
    assert batch.shape == (3, 3, 16, 16)
    for i, image in enumerate(images):
        assert np.array_equal(batch[i], preprocess_image(image, config(16)))
    assert preprocess_batch([], config(16)).shape == (0, 3, 16, 16)


def test_normalize_is_channels_first() -> None:
    out = normalize(row_tagged(4, 3), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert out.shape == (3, 3, 4)
    assert np.allclose(out[0, :, 0] * 255, [0, 1, 2]) and np.allclose(
        out[1, 0, :] * 255, [0, 1, 2, 3]
    )


def arithmetic_normalize(image: Image.Image, mean: tuple, std: tuple) -> np.ndarray:
    """ToTensor + Normalize as float32 arithmetic on every pixel: the definition."""
    pixels = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return pixels.transpose(2, 0, 1)


@pytest.mark.parametrize("size", [(224, 224), (256, 256), (1, 1), (7, 3), (160, 224), (300, 1)])
@pytest.mark.parametrize("stats", [(MEAN, STD), ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
def test_normalize_is_bit_identical_to_the_arithmetic(size: tuple[int, int], stats: tuple) -> None:
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    out = normalize(image, *stats)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.shape == (3, size[1], size[0])
    assert np.array_equal(out, arithmetic_normalize(image, *stats))


def test_every_level_of_every_channel_normalises_exactly() -> None:
    """Each channel holds all 256 levels, in a different order per channel."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    pixels = np.stack([levels, levels.T, levels[::-1]], axis=-1)
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    assert np.array_equal(normalize(image, MEAN, STD), arithmetic_normalize(image, MEAN, STD))


def test_preprocess_of_a_camera_sized_decode_matches_the_arithmetic() -> None:
    """The indexer's case: a 500x375 DCT-scaled photo to a 224 px model input."""
    rng = np.random.default_rng(11)
    image = Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8), "RGB")
    fitted = fit_to_target(image, config(224))
    assert np.array_equal(
        preprocess_image(image, config(224)), arithmetic_normalize(fitted, MEAN, STD)
    )


def test_normalize_refuses_what_is_not_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        normalize(Image.new("L", (4, 4)), MEAN, STD)
