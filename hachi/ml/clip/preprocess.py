"""Photo -> CLIP input tensor, as pure functions of (image, PreprocessConfig).

The pipeline is open_clip's validation transform, reproduced without torch so that the
image tower sees what it saw in training (tested against open_clip to 1e-5):

1. convert to RGB (open_clip converts after resizing; for RGB and greyscale inputs the
   result is identical, and converting first spares palette images a nearest-neighbour
   resize);
2. resize, with Pillow's antialiased bicubic (or bilinear) filter, as torchvision's
   ``Resize`` does on PIL images:
   - "shortest": the short side becomes the target (long side ``int(target * long /
     short)``), then a centre crop whose offsets are ``round((have - want) / 2)``
     (Python's round, half to even); non-square targets scale by the smaller ratio with
     ``round`` and always use bicubic, like open_clip's ``ResizeKeepRatio``;
   - "longest": scale so the whole photo fits (sides ``round(side / ratio)``), then pad
     with ``fill_color`` to the target, left/top getting the smaller half, and crop;
   - "squash": resize straight to the target, ignoring the aspect ratio;
3. scale to float32 in [0, 1] (``/ 255``), subtract ``mean`` and divide by ``std`` per
   channel, each step rounded to float32 as torchvision's ``ToTensor`` and ``Normalize``
   round it; done as a lookup in a 3 x 256 table of those very results, so the values are
   bit-identical to the arithmetic at a fifth of its cost;
4. reorder to channels-first (3, H, W); batches stack to (N, 3, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.ml.clip.config import PreprocessConfig

RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def preprocess_image(image: Image.Image, config: PreprocessConfig) -> NDArray[np.float32]:
    """One photo -> (3, H, W) float32, normalised."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    fitted = fit_to_target(rgb, config)
    return normalize(fitted, config.mean, config.std)


def preprocess_batch(
    images: Sequence[Image.Image], config: PreprocessConfig
) -> NDArray[np.float32]:
    """Photos -> (N, 3, H, W) float32, in input order."""
    height, width = config.image_size
    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    for i, image in enumerate(images):
        batch[i] = preprocess_image(image, config)
    return batch


def fit_to_target(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    """Resize and crop/pad to exactly ``config.image_size`` following ``resize_mode``."""
    height, width = config.image_size
    resample = RESAMPLING[config.interpolation]
    if config.resize_mode == "squash":
        return image.resize((width, height), resample)
    if config.resize_mode == "longest":
        scaled = resize_keep_ratio(image, (height, width), longest=True, resample=resample)
        return center_crop_or_pad(scaled, (height, width), config.fill_color)
    if height == width:
        scaled = resize_shortest_side(image, height, resample)
    else:
        scaled = resize_keep_ratio(image, (height, width), longest=False)
    return center_crop_or_pad(scaled, (height, width), 0)


def resize_shortest_side(image: Image.Image, size: int, resample: int) -> Image.Image:
    """torchvision's ``Resize(int)``: short side to ``size``, long side truncated."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    if new_size == image.size:
        return image
    return image.resize(new_size, resample)


def resize_keep_ratio(
    image: Image.Image,
    target: tuple[int, int],
    longest: bool,
    resample: int = Image.Resampling.BICUBIC,
) -> Image.Image:
    """Scale by the larger (``longest``) or smaller side ratio, sides rounded to nearest."""
    width, height = image.size
    ratio_h, ratio_w = height / target[0], width / target[1]
    ratio = max(ratio_h, ratio_w) if longest else min(ratio_h, ratio_w)
    new_size = (round(width / ratio), round(height / ratio))
    if new_size == image.size:
        return image
    return image.resize(new_size, resample)


def center_crop_or_pad(image: Image.Image, target: tuple[int, int], fill: int) -> Image.Image:
    """Pad (left/top get the floor half) when too small, then crop the centre."""
    want_h, want_w = target
    width, height = image.size
    if want_w > width or want_h > height:
        padded = Image.new(image.mode, (max(width, want_w), max(height, want_h)), (fill,) * 3)
        padded.paste(image, (max(0, (want_w - width) // 2), max(0, (want_h - height) // 2)))
        image = padded
        width, height = image.size
    top = int(round((height - want_h) / 2.0))
    left = int(round((width - want_w) / 2.0))
    if (top, left, want_w, want_h) == (0, 0, width, height):
        return image
    return image.crop((left, top, left + want_w, top + want_h))


def normalize(
    image: Image.Image, mean: Sequence[float], std: Sequence[float]
) -> NDArray[np.float32]:
    """RGB image -> (3, H, W) float32: ``(pixel / 255 - mean) / std``, via ``level_table``.

    OpenCV's table lookup writes each channel plane straight into the output, so the only
    other pass over the pixels is the split into planes.
    """
    import cv2  # only where photos are embedded: a server answering text queries never needs it

    if image.mode != "RGB":
        raise ValueError(f"normalize needs an RGB image, got mode {image.mode}")
    table = level_table(mean, std)
    planes = cv2.split(np.asarray(image))
    out = np.empty((3, image.height, image.width), dtype=np.float32)
    for channel, plane in enumerate(planes):
        cv2.LUT(plane, table[channel], dst=out[channel])
    return out


def level_table(mean: Sequence[float], std: Sequence[float]) -> NDArray[np.float32]:
    """(3, 256): what ``(level / 255 - mean) / std`` gives for every 8-bit level, in float32.

    The same float32 operations in the same order as on whole images, so a lookup in this
    table equals the arithmetic bit for bit (256 values per channel instead of H x W).
    """
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    shifted = levels[None, :] - np.asarray(mean, dtype=np.float32)[:, None]
    return shifted / np.asarray(std, dtype=np.float32)[:, None]
