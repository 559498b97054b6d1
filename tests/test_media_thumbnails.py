"""WebP thumbnails: sizes, content-addressed paths and atomic writes, on real files."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hachi.media.thumbnails import (
    GRID,
    PREVIEW,
    encode_webp,
    thumbnail_path,
    write_bytes_atomic,
    write_thumbnail,
)

HASH = "0123456789abcdef0123456789abcdef"


def gradient(width: int, height: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1)
    return Image.fromarray(pixels.astype(np.uint8))


def webp_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.size


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((1000, 750), 320, (320, 240)),
        ((750, 1000), 320, (240, 320)),
        ((500, 500), 320, (320, 320)),
        ((200, 100), 320, (200, 100)),  # never enlarged
        ((4000, 1000), 1440, (1440, 360)),
    ],
)
def test_encode_webp_fits_within_max_side(
    size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    assert webp_size(encode_webp(gradient(*size), max_side)) == expected


def test_encode_webp_leaves_the_source_untouched() -> None:
    image = gradient(640, 480)
    encode_webp(image, 100)
    assert image.size == (640, 480)


def test_encode_webp_is_faithful_and_quality_matters() -> None:
    image = gradient(400, 300)
    fine, coarse = encode_webp(image, 400, quality=95), encode_webp(image, 400, quality=20)
    assert len(coarse) < len(fine)
    with Image.open(io.BytesIO(fine)) as decoded:
        error = np.abs(np.asarray(decoded.convert("RGB"), int) - np.asarray(image, int)).mean()
    assert error < 4


def test_encode_webp_accepts_other_modes() -> None:
    assert webp_size(encode_webp(Image.new("L", (50, 40), 90), 320)) == (50, 40)
    assert webp_size(encode_webp(Image.new("P", (50, 40)), 320)) == (50, 40)
    with Image.open(io.BytesIO(encode_webp(Image.new("RGBA", (50, 40), (9, 9, 9, 0)), 32))) as im:
        assert im.mode == "RGBA"


def test_encode_webp_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError):
        encode_webp(gradient(10, 10), 0)


def test_thumbnail_path_is_content_addressed_and_sharded(tmp_path: Path) -> None:
    grid = thumbnail_path(tmp_path, HASH, GRID)
    assert grid == tmp_path / "01" / f"{HASH}.grid.webp"
    assert thumbnail_path(tmp_path, HASH, PREVIEW) == tmp_path / "01" / f"{HASH}.preview.webp"
    assert thumbnail_path(tmp_path, "ff" + HASH[2:], GRID).parent.name == "ff"


@pytest.mark.parametrize("bad_hash", ["", "ab", "../etc/passwd", "ab/cd", "a b c d"])
def test_thumbnail_path_refuses_what_is_not_a_hash(tmp_path: Path, bad_hash: str) -> None:
    with pytest.raises(ValueError):
        thumbnail_path(tmp_path, bad_hash, GRID)


def test_thumbnail_path_refuses_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        thumbnail_path(tmp_path, HASH, "huge")


def test_write_thumbnail_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    path = thumbnail_path(tmp_path / "thumbs", HASH, GRID)
    write_thumbnail(gradient(800, 600), path, 320)
    assert webp_size(path.read_bytes()) == (320, 240)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_write_thumbnail_replaces_an_existing_file(tmp_path: Path) -> None:
    path = thumbnail_path(tmp_path, HASH, PREVIEW)
    write_thumbnail(gradient(800, 600), path, 400)
    write_thumbnail(gradient(800, 600), path, 200)
    assert webp_size(path.read_bytes()) == (200, 150)


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    blocker = tmp_path / "01"
    blocker.mkdir()
    target = blocker / f"{HASH}.grid.webp"
    target.mkdir()  # a directory where the file should go: os.replace must fail
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"data")
    assert sorted(p.name for p in blocker.iterdir()) == [target.name]


def test_concurrent_writers_of_one_thumbnail_leave_one_valid_file(tmp_path: Path) -> None:
    path = thumbnail_path(tmp_path, HASH, GRID)
    images = [gradient(200 + 10 * i, 200) for i in range(6)]
    threads = [threading.Thread(target=write_thumbnail, args=(im, path, 320)) for im in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert webp_size(path.read_bytes())[1] == 200
    assert [p.name for p in path.parent.iterdir()] == [path.name]
