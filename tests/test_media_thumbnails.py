"""WebP thumbnails: sizes, content-addressed paths and atomic writes, on real files."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hachi.media.decode import decode_image
from hachi.media.thumbnails import (
    GRID,
    PREVIEW,
    encode_webp,
    thumbnail_path,
    write_bytes_atomic,
    write_thumbnail,
)
from tests.photo_factory import needs_corpus as corpus_mark

HASH = "0123456789abcdef0123456789abcdef"
FACES = Path(__file__).parents[1].parent / "shared" / "corpus" / "faces"
needs_photos = corpus_mark(FACES)


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


def psnr(shown: Image.Image, reference: Image.Image) -> float:
    error = np.asarray(shown.convert("RGB"), float) - np.asarray(reference, float)
    return float(10 * np.log10(255**2 / np.mean(error**2)))


def slowest_sharpest_webp(image: Image.Image, max_side: int) -> bytes:
    """The yardstick: Lanczos and libwebp's highest effort."""
    tile = image.copy()
    tile.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    tile.save(buffer, "WEBP", quality=80, method=6)
    return buffer.getvalue()


@needs_photos
def test_grid_tiles_of_real_photos_lose_little_to_the_slowest_settings() -> None:
    """Tiles made as the indexer makes them (reduced decode, fast filter and effort) stay
    within 0.6 dB of Lanczos + method 6, both scored against a Lanczos resize of the
    full-resolution decode. Bilinear falls 1.5 dB short, a box filter 2 dB."""
    ours, best = [], []
    for path in sorted(FACES.glob("*.jpg"))[:10]:
        data = path.read_bytes()
        full, reduced = decode_image(data, 1 << 20).image, decode_image(data, 240).image
        for scores, encoded in (
            (ours, encode_webp(reduced, 320)),
            (best, slowest_sharpest_webp(reduced, 320)),
        ):
            with Image.open(io.BytesIO(encoded)) as tile:
                scores.append(psnr(tile, full.resize(tile.size, Image.Resampling.LANCZOS)))
    assert np.mean(ours) > np.mean(best) - 0.6
    assert np.mean(ours) > 30


@needs_photos
def test_previews_are_encoded_harder_than_grid_tiles() -> None:
    """Previews are made one at a time on first view, so they spend effort on bytes."""
    photo = decode_image((FACES / "group_obama_biden.jpg").read_bytes(), 1200).image
    preview = encode_webp(photo, 1600)
    fitted = photo.copy()
    fitted.thumbnail((1600, 1600), Image.Resampling.BICUBIC, reducing_gap=2.0)
    fast = io.BytesIO()
    fitted.save(fast, "WEBP", quality=80, method=0)
    assert webp_size(preview) == fitted.size
    assert len(preview) < 0.95 * len(fast.getvalue())
