"""decode_image on real files: the shared corpus plus images encoded here by real encoders."""

from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageCms

from hachi.errors import NotAPhoto, UnreadableFile
from hachi.media.decode import (
    MAX_BITMAP_PIXELS,
    MAX_PIXELS,
    DecodedImage,
    decode_image,
    exif_orientation,
)
from hachi.media.formats import RAW_MIME_BY_EXTENSION, is_photo_path
from tests.photo_factory import needs_corpus as corpus_mark

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
needs_corpus = corpus_mark(CORPUS)

RED, GREEN, BLUE, YELLOW = (220, 30, 30), (30, 200, 40), (30, 40, 210), (230, 220, 30)
COLOUR_TOLERANCE = 40


# ---------------------------------------------------------------- image factories


def quadrants(width: int, height: int) -> NDArray[np.uint8]:
    """Four coloured quadrants: every flip and rotation of it looks different."""
    pixels = np.empty((height, width, 3), np.uint8)
    half_w, half_h = width // 2, height // 2
    pixels[:half_h, :half_w] = RED
    pixels[:half_h, half_w:] = GREEN
    pixels[half_h:, :half_w] = BLUE
    pixels[half_h:, half_w:] = YELLOW
    return pixels


def stored_for_orientation(upright: NDArray[np.uint8], orientation: int) -> NDArray[np.uint8]:
    """The pixels a camera stores for each EXIF orientation, from the EXIF 2.3 definitions
    of where the stored row 0 and column 0 lie in the upright picture."""
    stored = {
        1: lambda u: u,
        2: np.fliplr,  # row 0 top, column 0 right
        3: lambda u: np.rot90(u, 2),  # row 0 bottom, column 0 right
        4: np.flipud,  # row 0 bottom, column 0 left
        5: lambda u: np.transpose(u, (1, 0, 2)),  # row 0 left, column 0 top
        6: lambda u: np.rot90(u, 1),  # row 0 right, column 0 top
        7: lambda u: np.rot90(np.flipud(u), 1),  # row 0 right, column 0 bottom
        8: lambda u: np.rot90(u, -1),  # row 0 left, column 0 bottom
    }[orientation](upright)
    return np.ascontiguousarray(stored)


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    if fmt == "HEIC":
        pillow_heif.from_pillow(image).save(buffer, **{"quality": 90, **params})
    else:
        image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients plus noise, so codecs do real work and truncation bites."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    noisy = base + rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def png_chunk(tag: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(tag + payload)
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)


def raw_png(width: int, height: int, depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written byte by byte, for depths and sizes Pillow will not write."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def tiff_header(width: int, height: int) -> bytes:
    """An uncompressed 8-bit grey TIFF whose header claims ``width`` x ``height``."""
    data_offset = 8 + 2 + 8 * 12 + 4
    entries = [(256, width), (257, height), (258, 8), (259, 1), (262, 1)]
    entries += [(273, data_offset), (278, height), (279, width * height)]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(256)


def mean_colour(image: Image.Image, box: tuple[float, float, float, float]) -> NDArray[np.float64]:
    """Mean RGB of a box given in fractions of the image, away from edges."""
    width, height = image.size
    left, top, right, bottom = box
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    region = pixels[
        int(top * height) : int(bottom * height), int(left * width) : int(right * width)
    ]
    return region.reshape(-1, 3).mean(axis=0)


def assert_upright_quadrants(image: Image.Image) -> None:
    expected = {
        (0.05, 0.05, 0.4, 0.4): RED,
        (0.6, 0.05, 0.95, 0.4): GREEN,
        (0.05, 0.6, 0.4, 0.95): BLUE,
        (0.6, 0.6, 0.95, 0.95): YELLOW,
    }
    for box, colour in expected.items():
        assert np.abs(mean_colour(image, box) - colour).max() < COLOUR_TOLERANCE, box


def decode_quietly(data: bytes, min_side: int = 320, name: str = "") -> DecodedImage:
    """Decode and fail if any warning was raised, even one swallowed as an error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = decode_image(data, min_side, name)
    assert not caught, [str(w.message) for w in caught]
    return decoded


def assert_reasonable(decoded: DecodedImage) -> None:
    assert decoded.image.mode == "RGB"
    assert decoded.width > 0 and decoded.height > 0
    assert decoded.image.width > 0 and decoded.image.height > 0


# ---------------------------------------------------------------- corpus


def corpus_photos() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.rglob("*") if path.is_file() and is_photo_path(path))


@needs_corpus
@pytest.mark.parametrize("path", corpus_photos(), ids=lambda path: path.name)
def test_every_corpus_photo_decodes_or_is_refused_cleanly(path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            decoded = decode_image(path.read_bytes(), 320, path.name)
        except UnreadableFile as error:
            assert error.message and len(error.message) < 200
        else:
            assert_reasonable(decoded)
    assert not caught, [str(w.message) for w in caught]


KNOWN_GOOD = {
    # name: (mime, full width, full height)
    "Canon.jpg": ("image/jpeg", 8, 8),
    "Nikon.jpg": ("image/jpeg", 8, 8),
    "GPS.jpg": ("image/jpeg", 120, 80),
    "NikonD70.jpg": ("image/jpeg", 71, 47),
    "ExifTool.jpg": ("image/jpeg", 8, 8),
    "PNG.png": ("image/png", 16, 16),
    "RIFF.webp": ("image/webp", 1, 1),
    "GIF.gif": ("image/gif", 8, 8),
    "BMP.bmp": ("image/bmp", 8, 8),
    "ExifTool.tif": ("image/tiff", 160, 120),
    "GeoTiff.tif": ("image/tiff", 25, 24),
    "DNG.dng": ("image/x-adobe-dng", 3474, 2314),
    "FujiFilm.raf": ("image/x-fuji-raf", 3552, 3551),
    "Panasonic.rw2": ("image/x-panasonic-rw2", 3664, 2754),
    "SigmaDP2.x3f": ("image/x-sigma-x3f", 2651, 1767),
}

# ExifTool's sample RAWs carry metadata only: the sensor data and previews are stripped.
KNOWN_EMPTY = ["CanonRaw.cr2", "CanonRaw.cr3", "Nikon.nef", "Minolta.mrw", "Sigma.x3f"]


@needs_corpus
@pytest.mark.parametrize("name", sorted(KNOWN_GOOD))
def test_known_good_corpus_files_decode(name: str) -> None:
    mime, width, height = KNOWN_GOOD[name]
    decoded = decode_quietly((CORPUS / "exif" / name).read_bytes(), 320, name)
    assert_reasonable(decoded)
    assert (decoded.mime, decoded.width, decoded.height) == (mime, width, height)


@needs_corpus
def test_dng_without_preview_is_demosaiced_at_reduced_size() -> None:
    decoded = decode_quietly((CORPUS / "exif" / "DNG.dng").read_bytes(), 320, "DNG.dng")
    assert 320 <= min(decoded.image.size) < 640
    assert decoded.image.width > decoded.image.height


@needs_corpus
@pytest.mark.parametrize("name", KNOWN_EMPTY)
def test_stripped_corpus_raws_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(UnreadableFile, match=r"RAW \("):
        decode_quietly((CORPUS / "exif" / name).read_bytes(), 320, name)


@needs_corpus
def test_corpus_heic_without_image_data_is_refused_as_corrupt() -> None:
    """ExifTool's sample keeps its boxes whole but holds 18 bytes of 'image': not cut short."""
    with pytest.raises(UnreadableFile, match="^corrupt HEIC"):
        decode_quietly((CORPUS / "exif" / "QuickTime.heic").read_bytes(), 320, "QuickTime.heic")


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_cut_heic_is_refused_as_truncated(keep: float) -> None:
    """Told from the file's own box and item sizes, whatever libheif's words for it."""
    data = encode(Image.new("RGB", (256, 192), (200, 30, 30)), "HEIC")
    with pytest.raises(UnreadableFile, match="^truncated HEIC$"):
        decode_quietly(data[: int(len(data) * keep)], 100, "cut.heic")


@needs_corpus
@pytest.mark.parametrize(
    "path", sorted((CORPUS / "faces").glob("*.[jp][pn]g")), ids=lambda path: path.name
)
def test_every_face_photo_decodes_reduced(path: Path) -> None:
    decoded = decode_quietly(path.read_bytes(), 320, path.name)
    assert_reasonable(decoded)
    with Image.open(path) as original:
        assert (decoded.width, decoded.height) == original.size
    assert min(decoded.image.size) >= min(320, decoded.width, decoded.height)


@needs_corpus
def test_rgba_png_from_corpus_is_flattened_on_white() -> None:
    path = CORPUS / "faces" / "rgba_32bit.png"
    with Image.open(path) as original:
        assert original.mode == "RGBA"
        alpha = np.asarray(original.getchannel("A"))
    decoded = decode_quietly(path.read_bytes(), 10_000, path.name)
    transparent = alpha == 0
    if transparent.any():
        assert np.asarray(decoded.image)[transparent].min() == 255


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_yields_upright_pixels(orientation: int) -> None:
    stored = Image.fromarray(stored_for_orientation(quadrants(64, 48), orientation))
    data = encode(stored, "JPEG", quality=95, exif=exif_bytes(orientation))
    decoded = decode_quietly(data, 320)
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.image.size == (64, 48)
    assert_upright_quadrants(decoded.image)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_after_dct_scaling(orientation: int) -> None:
    stored = Image.fromarray(stored_for_orientation(quadrants(800, 600), orientation))
    data = encode(stored, "JPEG", quality=90, exif=exif_bytes(orientation))
    decoded = decode_quietly(data, 100)
    assert (decoded.width, decoded.height) == (800, 600)
    assert decoded.image.width > decoded.image.height
    assert 100 <= decoded.image.height < 200
    assert_upright_quadrants(decoded.image)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),
        ("WEBP", {"quality": 95}),
        ("AVIF", {"quality": 95}),
        ("HEIC", {}),
    ],
)
@pytest.mark.parametrize("orientation", [3, 6, 7, 8])
def test_orientation_in_other_formats(
    fmt: str, params: dict[str, object], orientation: int
) -> None:
    stored = Image.fromarray(stored_for_orientation(quadrants(64, 48), orientation))
    data = encode(stored, fmt, exif=exif_bytes(orientation), **params)
    decoded = decode_quietly(data, 320)
    assert (decoded.width, decoded.height) == (64, 48)
    assert_upright_quadrants(decoded.image)


@pytest.mark.parametrize("orientation", [2, 6, 8])
def test_tiff_orientation_tag(orientation: int) -> None:
    stored = Image.fromarray(stored_for_orientation(quadrants(64, 48), orientation))
    decoded = decode_quietly(encode(stored, "TIFF", tiffinfo={0x0112: orientation}), 320)
    assert (decoded.width, decoded.height) == (64, 48)
    assert_upright_quadrants(decoded.image)


def test_exif_orientation_parser_tolerates_garbage() -> None:
    bare = exif_bytes(8).removeprefix(b"Exif\x00\x00")
    assert exif_orientation(bare) == 8
    assert exif_orientation(b"Exif\x00\x00" + bare) == 8
    assert exif_orientation(exif_bytes(6)) == 6
    little_endian = b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x05\x00"
    assert exif_orientation(little_endian + bytes(6)) == 5
    assert exif_orientation(exif_bytes(6)[:12]) == 1
    assert exif_orientation(exif_bytes(9)) == 1
    assert exif_orientation(b"") == 1
    assert exif_orientation(b"II*\x00\xff\xff\xff\xff") == 1


# ---------------------------------------------------------------- reduced size


@pytest.mark.parametrize(
    ("fmt", "size", "min_side"),
    [
        ("JPEG", (4000, 3000), 320),
        ("JPEG", (3000, 4000), 224),
        ("JPEG", (1000, 700), 320),
        ("JPEG", (300, 200), 320),
        ("PNG", (1000, 700), 320),
        ("WEBP", (1600, 900), 224),
        ("TIFF", (900, 1200), 320),
        ("HEIC", (960, 640), 224),
        ("AVIF", (960, 640), 224),
        ("GIF", (700, 700), 320),
        ("BMP", (700, 500), 100),
    ],
)
def test_reduced_size_keeps_short_side_above_min_side(
    fmt: str, size: tuple[int, int], min_side: int
) -> None:
    image = Image.new("RGB", size, (120, 90, 60))
    decoded = decode_quietly(encode(image, fmt), min_side)
    assert (decoded.width, decoded.height) == size
    floor = min(min_side, *size)
    assert floor <= min(decoded.image.size) < max(2 * floor, floor + 1)
    original_ratio = size[0] / size[1]
    assert decoded.image.width / decoded.image.height == pytest.approx(original_ratio, rel=0.02)


def test_large_jpeg_is_dct_scaled_not_refused() -> None:
    big = Image.new("L", (12000, 12000), 128)
    assert 12000 * 12000 > MAX_BITMAP_PIXELS
    decoded = decode_quietly(encode(big, "JPEG", quality=50), 320)
    assert (decoded.width, decoded.height) == (12000, 12000)
    assert 320 <= decoded.image.width < 640


@pytest.mark.parametrize(
    ("size", "min_side", "expected"),
    [
        ((4000, 3000), 240, (500, 375)),  # a 12 MP camera photo: 1/8, the smallest there is
        ((4000, 3000), 376, (1000, 750)),  # 1/8 would leave 375: 1/4
        ((1913, 1913), 240, (240, 240)),  # 1/8 rounds up to exactly min_side
        ((1912, 1912), 240, (478, 478)),  # 1/8 gives 239: 1/4
        ((2550, 1913), 240, (319, 240)),  # Pillow's rule on a rounded-up request took 1/4
        ((2007, 1920), 240, (251, 240)),
        ((640, 481), 240, (320, 241)),
    ],
)
def test_jpeg_dct_scale_is_the_smallest_that_keeps_min_side(
    size: tuple[int, int], min_side: int, expected: tuple[int, int]
) -> None:
    decoded = decode_quietly(encode(Image.new("L", size, 90), "JPEG", quality=50), min_side)
    assert (decoded.width, decoded.height) == size
    assert decoded.image.size == expected


@pytest.mark.parametrize(
    "params",
    [{"quality": 90}, {"quality": 90, "progressive": True}, {"quality": 75, "subsampling": 0}],
)
@pytest.mark.parametrize("min_side", [100, 160, 10_000])
def test_jpeg_pixels_match_pillows_own_chunked_decode(
    params: dict[str, object], min_side: int
) -> None:
    """The stream goes to libjpeg in one piece; the pixels must be what Pillow's default
    64 KiB feeding gives, at every DCT scale and at full size."""
    data = encode(photo_like(1280, 960, seed=5), "JPEG", **params)
    decoded = decode_quietly(data, min_side)
    with Image.open(io.BytesIO(data)) as reference:
        reference.draft("RGB", decoded.image.size)
        assert reference.size == decoded.image.size
        assert np.array_equal(np.asarray(decoded.image), np.asarray(reference.convert("RGB")))


PEAK_MEMORY_SCRIPT = """
import io, re, sys
from pathlib import Path
from PIL import Image
from hachi.media.decode import decode_image

def peak_kib():  # VmHWM starts afresh with exec, unlike ru_maxrss, which a child inherits
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

data = Path(sys.argv[1]).read_bytes()
before = peak_kib()
if sys.argv[2] == "hachi":
    decode_image(data, 320)
else:
    Image.open(io.BytesIO(data)).load()
print((peak_kib() - before) // 1024)
"""


def peak_growth_mb(path: Path, how: str) -> int:
    repo = Path(__file__).parents[1]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(path), how],
        capture_output=True, text=True, check=True, cwd=repo, timeout=60,
    )  # fmt: skip
    return int(result.stdout.strip())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_jpeg_is_never_decoded_at_full_size(tmp_path: Path) -> None:
    """A 24 MP JPEG is 72 MB as a bitmap; DCT scaling must keep the peak far below that."""
    path = tmp_path / "big.jpg"
    Image.radial_gradient("L").resize((6000, 4000)).convert("RGB").save(path, quality=85)
    assert peak_growth_mb(path, "pillow") >= 60  # the yardstick: a full decode
    assert peak_growth_mb(path, "hachi") < 20


# ---------------------------------------------------------------- pixel modes


def test_png_rgba_is_composited_on_white() -> None:
    pixels = np.zeros((20, 40, 4), np.uint8)
    pixels[:, 20:] = (200, 0, 0, 255)
    decoded = decode_quietly(encode(Image.fromarray(pixels), "PNG"), 320)
    assert tuple(np.asarray(decoded.image)[10, 5]) == (255, 255, 255)
    assert tuple(np.asarray(decoded.image)[10, 30]) == (200, 0, 0)


def test_png_grey_with_alpha_and_palette_transparency() -> None:
    la = Image.new("LA", (10, 10), (0, 0))
    assert tuple(np.asarray(decode_quietly(encode(la, "PNG")).image)[5, 5]) == (255, 255, 255)
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    data = encode(palette, "PNG", transparency=1)
    assert tuple(np.asarray(decode_quietly(data).image)[5, 5]) == (255, 255, 255)
    opaque = decode_quietly(encode(palette, "PNG")).image
    assert tuple(np.asarray(opaque)[5, 5]) == (10, 200, 10)


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    rows = b"".join(b"\x00" + struct.pack(">8H", *([0x8000] * 8)) for _ in range(8))
    decoded = decode_quietly(raw_png(8, 8, 16, 0, rows))
    assert abs(int(np.asarray(decoded.image)[4, 4, 0]) - 128) <= 1


def test_sixteen_bit_rgb_png() -> None:
    pixel = struct.pack(">3H", 0x4000, 0x8000, 0xC000)
    rows = b"".join(b"\x00" + pixel * 8 for _ in range(8))
    decoded = decode_quietly(raw_png(8, 8, 16, 2, rows))
    assert np.abs(np.asarray(decoded.image)[4, 4].astype(int) - (64, 128, 192)).max() <= 1


def test_cmyk_and_grey_jpeg_become_rgb() -> None:
    cmyk = decode_quietly(encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG"))
    assert np.abs(mean_colour(cmyk.image, (0, 0, 1, 1)) - (255, 0, 0)).max() < 20
    grey = decode_quietly(encode(Image.new("L", (32, 32), 77), "JPEG"))
    assert grey.image.mode == "RGB"
    assert np.abs(mean_colour(grey.image, (0, 0, 1, 1)) - 77).max() < 3


@needs_corpus
def test_wide_gamut_profile_is_converted_to_srgb() -> None:
    adobe_rgb = (CORPUS / "exif" / "ICC_Profile.icc").read_bytes()
    colour = (100, 150, 200)
    data = encode(Image.new("RGB", (64, 64), colour), "PNG", icc_profile=adobe_rgb)
    reference = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), colour),
        ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb)),
        ImageCms.createProfile("sRGB"),
    )
    assert reference is not None and reference.getpixel((0, 0)) != colour
    decoded = decode_quietly(data)
    assert np.abs(mean_colour(decoded.image, (0, 0, 1, 1)) - reference.getpixel((0, 0))).max() < 2


def test_srgb_and_broken_profiles_leave_pixels_alone() -> None:
    colour = (100, 150, 200)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (srgb, b"not a profile at all"):
        data = encode(Image.new("RGB", (16, 16), colour), "PNG", icc_profile=icc)
        assert tuple(np.asarray(decode_quietly(data).image)[8, 8]) == colour


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_quietly(buffer.getvalue())
    assert np.abs(mean_colour(decoded.image, (0, 0, 1, 1)) - RED).max() < COLOUR_TOLERANCE


def test_heic_with_alpha_is_flattened() -> None:
    pixels = np.zeros((16, 32, 4), np.uint8)
    pixels[:, 16:] = (0, 0, 200, 255)
    decoded = decode_quietly(encode(Image.fromarray(pixels), "HEIC"))
    assert decoded.mime == "image/heic"
    assert mean_colour(decoded.image, (0.05, 0.1, 0.4, 0.9)).min() > 230
    assert mean_colour(decoded.image, (0.6, 0.1, 0.95, 0.9))[2] > 150


@needs_corpus
def test_concurrent_decodes_match_sequential_ones() -> None:
    """The indexer decodes from several threads; shared state (ICC transforms) must hold."""
    adobe_rgb = (CORPUS / "exif" / "ICC_Profile.icc").read_bytes()
    photo = photo_like(400, 300, seed=3)
    files = [
        encode(photo, "JPEG", quality=90, icc_profile=adobe_rgb),
        encode(photo, "PNG"),
        encode(photo, "HEIC"),
        encode(photo, "WEBP"),
        make_dng(6, photo, (800, 600)),
    ] * 3
    expected = [np.asarray(decode_image(data, 100, "x.dng").image) for data in files]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda data: decode_image(data, 100, "x.dng"), files))
    for result, reference in zip(results, expected, strict=True):
        assert np.array_equal(np.asarray(result.image), reference)


# ---------------------------------------------------------------- bad input


def test_zero_byte_file() -> None:
    with pytest.raises(UnreadableFile, match="zero-byte file"):
        decode_image(b"", 320, "empty.jpg")


def test_content_wins_over_extension() -> None:
    decoded = decode_quietly(encode(Image.new("RGB", (20, 10), GREEN), "PNG"), 320, "lies.jpg")
    assert decoded.mime == "image/png"
    assert (decoded.width, decoded.height) == (20, 10)


@needs_corpus
def test_pdf_named_jpg_is_not_a_photo() -> None:
    with pytest.raises(NotAPhoto, match="not an image: looks like PDF"):
        decode_image((CORPUS / "exif" / "PDF.pdf").read_bytes(), 320, "scan.jpg")


def test_unknown_bytes_are_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="unrecognised"):
        decode_image(bytes(range(256)) * 4, 320, "mystery.jpg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIC", "AVIF"])
def test_truncated_files_are_refused(fmt: str) -> None:
    data = encode(photo_like(256, 192), fmt, **({"quality": 90} if fmt != "PNG" else {}))
    with pytest.raises(UnreadableFile, match=r"truncated|corrupt"):
        decode_quietly(data[: len(data) * 3 // 5], 64)


def test_truncated_jpeg_says_so() -> None:
    data = encode(photo_like(640, 480), "JPEG", quality=90)
    with pytest.raises(UnreadableFile, match="truncated JPEG"):
        decode_quietly(data[: len(data) // 2], 320)


def test_png_bomb_is_refused_from_its_header() -> None:
    bomb = raw_png(30000, 30000, 8, 2, b"\x00" * 1000)
    with pytest.raises(UnreadableFile, match="image too large: 30000x30000 exceeds"):
        decode_quietly(bomb, 320)


def test_tiff_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(UnreadableFile, match="image too large: 20000x20000"):
        decode_quietly(tiff_header(20000, 20000), 320)


def test_jpeg_beyond_max_pixels_is_refused() -> None:
    image_bytes = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = image_bytes.index(b"\xff\xc0")
    image_bytes[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    assert 60000 * 60000 > MAX_PIXELS
    with pytest.raises(UnreadableFile, match="image too large: 60000x60000"):
        decode_quietly(bytes(image_bytes), 320)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP", "HEIC", "AVIF"])
def test_damaged_files_never_escape_as_other_errors(fmt: str) -> None:
    """Cut and bit-flip real files: every outcome is an image or an UnreadableFile."""
    data = encode(photo_like(96, 64, seed=1), fmt)
    rng = random.Random(fmt)
    variants = [data[:cut] for cut in (1, 8, 20, 40, len(data) // 3, len(data) - 1)]
    for _ in range(25):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        variants.append(bytes(damaged))
    for variant in variants:
        try:
            decoded = decode_quietly(variant, 32)
        except UnreadableFile:
            continue
        assert_reasonable(decoded)


# ---------------------------------------------------------------- RAW (hand-built DNGs)

TIFF_TYPES = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 10: "ii"}
Entry = tuple[int, int, object]  # tag, TIFF type, values (or ("blob"|"ifd", index))


def pack_values(kind: int, values: object) -> bytes:
    if isinstance(values, str):
        return values.encode() + b"\x00"
    assert isinstance(values, list)
    parts = [v if isinstance(v, tuple) else (v,) for v in values]
    return b"".join(struct.pack("<" + TIFF_TYPES[kind], *part) for part in parts)


def tiff_file(ifds: list[list[Entry]], blobs: list[bytes]) -> bytes:
    """Lay out little-endian IFDs, out-of-line values and data blobs into one TIFF."""
    ifd_offsets = [8 + sum(2 + 12 * len(e) + 4 for e in ifds[:i]) for i in range(len(ifds))]
    payloads = [
        [(tag, kind, values, None if isinstance(values, tuple) else pack_values(kind, values))
         for tag, kind, values in sorted(entries, key=lambda entry: entry[0])]
        for entries in ifds
    ]  # fmt: skip
    values_at = ifd_offsets[-1] + 2 + 12 * len(ifds[-1]) + 4
    extra = [p for entries in payloads for *_, p in entries if p is not None and len(p) > 4]
    blobs_at = values_at + sum(len(p) for p in extra)
    blob_offsets = [blobs_at + sum(map(len, blobs[:i])) for i in range(len(blobs))]
    out, values_area = bytearray(b"II*\x00" + struct.pack("<I", 8)), bytearray()
    for entries in payloads:
        out += struct.pack("<H", len(entries))
        for tag, kind, values, payload in entries:
            if payload is None:
                ref, index = values  # type: ignore[misc]
                target = (blob_offsets if ref == "blob" else ifd_offsets)[index]
                out += struct.pack("<HHII", tag, 4, 1, target)
                continue
            count = len(payload) // struct.calcsize("<" + TIFF_TYPES[kind])
            if len(payload) <= 4:
                out += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\x00")
            else:
                out += struct.pack("<HHII", tag, kind, count, values_at + len(values_area))
                values_area += payload
        out += struct.pack("<I", 0)
    return bytes(out + values_area + b"".join(blobs))


def make_dng(orientation: int, preview: Image.Image | None, size: tuple[int, int]) -> bytes:
    """A real DNG LibRaw accepts: 16-bit RGGB sensor data whose top-left quadrant is red,
    the camera's Orientation tag, and optionally a JPEG preview in IFD0 (as cameras do)."""
    width, height = size
    sensor = np.full((height, width), 2000, np.uint16)
    sensor[: height // 2 : 2, : width // 2 : 2] = 60000  # red photosites of the top-left
    identity = [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]
    raw_ifd: list[Entry] = [
        (254, 4, [0]), (256, 4, [width]), (257, 4, [height]), (258, 3, [16]), (259, 3, [1]),
        (262, 3, [32803]), (273, 4, ("blob", 0)), (277, 3, [1]), (278, 4, [height]),
        (279, 4, [sensor.nbytes]), (33421, 3, [2, 2]), (33422, 1, [0, 1, 1, 2]),
        (50717, 4, [65535]),
    ]  # fmt: skip
    camera: list[Entry] = [
        (271, 2, "Hachi"), (272, 2, "TestCam"), (274, 3, [orientation]),
        (50706, 1, [1, 4, 0, 0]), (50708, 2, "Hachi TestCam"), (50721, 10, identity),
        (50728, 5, [(1, 1)] * 3), (50778, 3, [21]),
    ]  # fmt: skip
    if preview is None:
        return tiff_file([camera + raw_ifd], [sensor.tobytes()])
    jpeg = encode(preview, "JPEG", quality=92)
    preview_ifd: list[Entry] = [
        (254, 4, [1]), (256, 4, [preview.width]), (257, 4, [preview.height]),
        (258, 3, [8, 8, 8]), (259, 3, [7]), (262, 3, [6]), (273, 4, ("blob", 1)),
        (277, 3, [3]), (278, 4, [preview.height]), (279, 4, [len(jpeg)]), (330, 4, ("ifd", 1)),
    ]  # fmt: skip
    return tiff_file([camera + preview_ifd, raw_ifd], [sensor.tobytes(), jpeg])


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_raw_preview_gets_the_raw_orientation(orientation: int) -> None:
    stored = Image.fromarray(stored_for_orientation(quadrants(480, 360), orientation))
    data = make_dng(orientation, stored, (stored.width * 2, stored.height * 2))
    decoded = decode_quietly(data, 320, "IMG_0001.DNG")
    assert decoded.mime == "image/x-adobe-dng"
    assert (decoded.width, decoded.height) == (960, 720)
    assert decoded.image.size == (480, 360)
    assert_upright_quadrants(decoded.image)


@pytest.mark.parametrize(
    ("orientation", "red_corner"),
    [(1, (0.0, 0.0, 0.5, 0.5)), (6, (0.5, 0.0, 1.0, 0.5)), (8, (0.0, 0.5, 0.5, 1.0))],
)
def test_raw_without_preview_is_demosaiced_upright(
    orientation: int, red_corner: tuple[float, float, float, float]
) -> None:
    decoded = decode_quietly(make_dng(orientation, None, (256, 192)), 64, "IMG_0002.dng")
    expected_size = (256, 192) if orientation == 1 else (192, 256)
    assert (decoded.width, decoded.height) == expected_size
    assert decoded.image.width / decoded.image.height == pytest.approx(
        expected_size[0] / expected_size[1], rel=0.05
    )
    assert min(decoded.image.size) >= 64
    red_share = mean_colour(decoded.image, red_corner)
    others = mean_colour(decoded.image, (0.0, 0.0, 1.0, 1.0))
    assert red_share[0] - red_share[1] > others[0] - others[1] + 20


def test_raw_with_too_small_preview_falls_back_to_demosaic() -> None:
    tiny_preview = Image.new("RGB", (160, 120), GREEN)
    decoded = decode_quietly(make_dng(1, tiny_preview, (512, 384)), 150, "IMG_0003.dng")
    assert min(decoded.image.size) >= 150
    assert decoded.image.size != (160, 120)


def test_raw_preview_is_used_when_big_enough() -> None:
    preview = Image.new("RGB", (480, 360), GREEN)
    decoded = decode_quietly(make_dng(1, preview, (512, 384)), 150, "IMG_0004.dng")
    assert np.abs(mean_colour(decoded.image, (0, 0, 1, 1)) - GREEN).max() < COLOUR_TOLERANCE
    assert min(decoded.image.size) >= 150


@pytest.mark.parametrize(
    "ext", [".nef", ".nrw", ".arw", ".srf", ".sr2", ".pef", ".srw", ".3fr", ".erf", ".kdc", ".iiq"]
)
def test_tiff_based_raw_names_route_to_libraw(ext: str) -> None:
    """These formats share TIFF's magic; the name must send them to LibRaw, which then
    reports the sensor size (Pillow's TIFF reader would report the preview's)."""
    preview = Image.new("RGB", (480, 360), GREEN)
    decoded = decode_quietly(make_dng(1, preview, (960, 720)), 320, f"DSC_0001{ext.upper()}")
    assert decoded.mime == RAW_MIME_BY_EXTENSION[ext]
    assert (decoded.width, decoded.height) == (960, 720)
    assert decoded.image.size == (480, 360)
