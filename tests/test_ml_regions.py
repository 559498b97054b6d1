"""The candidate maps that gate the text and face passes: pure functions on arrays."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hachi.ml import regions
from tests.photo_factory import pixels

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def luma_and_contrast(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    luma = regions.grey(np.asarray(image.convert("RGB"))).astype(np.uint8)
    return luma, regions.local_contrast(luma.astype(np.int16)).astype(np.uint8)


def text_areas(image: Image.Image) -> list[regions.Rect]:
    luma, contrast = luma_and_contrast(image)
    quarter = image.reduce(4)
    small, small_contrast = luma_and_contrast(quarter)
    return regions.text_areas(luma, contrast, small, small_contrast)


def test_tile_shares_count_partial_edge_tiles_by_their_own_area() -> None:
    mask = np.zeros((10, 10), dtype=bool)
    mask[8:, 8:] = True
    shares = regions.tile_shares(mask, 8)
    assert shares.shape == (2, 2)
    assert shares[1, 1] == 1.0 and shares[0, 0] == 0.0


def test_local_contrast_is_the_3x3_range() -> None:
    luma = np.zeros((5, 5), dtype=np.int16)
    luma[2, 2] = 90
    contrast = regions.local_contrast(luma)
    assert contrast[1:4, 1:4].min() == 90
    assert contrast[0, 0] == 0 and contrast[4, 4] == 0


def test_groups_become_margined_rectangles_and_overlaps_merge() -> None:
    tiles = np.zeros((10, 10), dtype=bool)
    tiles[1, 1] = tiles[1, 2] = True  # one group
    tiles[8, 8] = True  # another, far away
    found = regions.regions(tiles, 10, (5, 5), (100, 100))
    assert sorted(found) == [(5, 5, 35, 25), (75, 75, 95, 95)]
    near = regions.regions(tiles, 10, (40, 40), (100, 100))
    assert near == [(0, 0, 100, 100)]  # grown into each other, then most of the image


def test_keep_drops_groups_without_a_kept_tile() -> None:
    tiles = np.zeros((4, 4), dtype=bool)
    tiles[0, 0] = tiles[3, 3] = True
    keep = np.zeros((4, 4), dtype=bool)
    keep[3, 3] = True
    assert regions.regions(tiles, 10, (0, 0), (40, 40), keep=keep) == [(30, 30, 40, 40)]


def test_scaled_up_reaches_the_edges_the_copy_reached() -> None:
    assert regions.scaled_up([(2, 3, 25, 10)], 4, (25, 20), (101, 83)) == [(8, 12, 101, 40)]


def test_blank_and_smooth_photos_have_no_text_areas() -> None:
    assert text_areas(Image.new("RGB", (1280, 960), (90, 140, 200))) == []
    assert text_areas(pixels((1280, 960), 3)) == []


def test_a_horizon_is_not_text_but_a_small_word_is() -> None:
    image = Image.new("RGB", (1280, 960), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    ridge = [
        (x, 500 + int(60 * np.sin(x / 37.0) + 25 * np.sin(x / 11.0))) for x in range(0, 1281, 4)
    ]
    draw.polygon([*ridge, (1280, 960), (0, 960)], fill=(50, 90, 45))
    assert text_areas(image) == []
    draw.rectangle((300, 690, 430, 712), fill="white")
    draw.text((305, 693), "KING STREET", font=ImageFont.truetype(FONT, 14), fill="black")
    (area,) = text_areas(image)
    assert regions.contains(area, (300, 690, 430, 712))


def test_colourless_photos_are_candidates_everywhere() -> None:
    grey = np.asarray(pixels((320, 240), 1).convert("L").convert("RGB"))
    assert regions.skin_tiles(grey, 16).all()


def test_skin_coloured_patches_are_marked_and_leaves_are_not() -> None:
    image = Image.new("RGB", (320, 240), (60, 120, 50))
    ImageDraw.Draw(image).ellipse((100, 60, 160, 140), fill=(224, 172, 140))
    tiles = regions.skin_tiles(np.asarray(image), 16)
    assert tiles[5, 7] and tiles.sum() < tiles.size / 8
    assert not tiles[0, 0]
