"""Photo detection by extension and by magic bytes, on real files written by real encoders."""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from hachi.media.formats import (
    IMAGE_MIME_BY_EXTENSION,
    PHOTO_EXTENSIONS,
    RAW_EXTENSIONS,
    RAW_MIME_BY_EXTENSION,
    RAW_MIMES,
    SNIFF_BYTES,
    describe_non_image,
    is_photo_path,
    sniff_mime,
)
from tests.photo_factory import needs_corpus as corpus_mark

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
EXIF_DIR = CORPUS / "exif"
needs_corpus = corpus_mark(CORPUS)

REQUIRED_IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp",
    ".heic", ".heif", ".hif", ".avif",
}  # fmt: skip


def encode(fmt: str) -> bytes:
    """A real file of ``fmt`` from the encoder a camera or phone would use."""
    image = Image.new("RGB", (32, 24), (200, 40, 90))
    buffer = io.BytesIO()
    if fmt == "HEIC":
        pillow_heif.from_pillow(image).save(buffer, quality=80)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def test_photo_extensions_cover_the_common_formats() -> None:
    assert REQUIRED_IMAGE_EXTENSIONS <= PHOTO_EXTENSIONS
    assert RAW_EXTENSIONS <= PHOTO_EXTENSIONS
    assert {".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2"} <= RAW_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in PHOTO_EXTENSIONS)


@pytest.mark.parametrize("ext", sorted(PHOTO_EXTENSIONS))
def test_is_photo_path_ignores_case(ext: str) -> None:
    assert is_photo_path(Path(f"/photos/IMG_0001{ext}"))
    assert is_photo_path(Path(f"/photos/IMG_0001{ext.upper()}"))


@pytest.mark.parametrize(
    "name", ["notes.txt", "clip.mov", "IMG_0001.xmp", "IMG_0001.jpg.bak", "README", ".jpg", "x.pdf"]
)
def test_is_photo_path_passes_over_other_files(name: str) -> None:
    assert not is_photo_path(Path("/photos") / name)


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("TIFF", "image/tiff"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("AVIF", "image/avif"),
        ("HEIC", "image/heic"),
    ],
)
def test_sniff_mime_recognises_encoder_output(fmt: str, mime: str) -> None:
    assert sniff_mime(encode(fmt)[:SNIFF_BYTES]) == mime


@pytest.mark.parametrize(("ext", "mime"), sorted(IMAGE_MIME_BY_EXTENSION.items()))
def test_every_image_extension_has_content_that_sniffs_to_its_mime(ext: str, mime: str) -> None:
    fmt = {"image/heif": "HEIC"}.get(mime, mime.split("/")[1].upper())
    sniffed = sniff_mime(encode(fmt)[:SNIFF_BYTES], f"photo{ext}")
    # HEIF is the container family; files named .heif/.hif are HEVC-coded HEIC in practice.
    assert sniffed == mime or (mime == "image/heif" and sniffed == "image/heic")


def test_sniff_mime_ignores_a_lying_extension() -> None:
    assert sniff_mime(encode("PNG"), "holiday.jpg") == "image/png"
    assert sniff_mime(encode("JPEG"), "holiday.png") == "image/jpeg"


def test_tiff_based_raws_are_told_apart_by_name_hint() -> None:
    head = encode("TIFF")[:SNIFF_BYTES]
    assert sniff_mime(head) == "image/tiff"
    assert sniff_mime(head, "photo.tif") == "image/tiff"
    assert sniff_mime(head, "DSC_0001.NEF") == "image/x-nikon-nef"
    assert sniff_mime(head, "IMG_0001.dng") == "image/x-adobe-dng"
    assert sniff_mime(head, "DSC01234.ARW") == "image/x-sony-arw"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"IIRO\x08\x00\x00\x00" + bytes(24), "image/x-olympus-orf"),
        (b"MMOR\x00\x00\x00\x08" + bytes(24), "image/x-olympus-orf"),
        (b"IIU\x00\x18\x00\x00\x00" + bytes(24), "image/x-panasonic-rw2"),
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(20), "image/x-canon-cr2"),
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", "image/x-canon-cr3"),
        (b"FUJIFILMCCD-RAW 0201FF383501", "image/x-fuji-raf"),
        (b"\x00MRM\x00\x00\x0a\x0c" + bytes(24), "image/x-minolta-mrw"),
        (b"FOVb\x02\x00\x02\x00" + bytes(24), "image/x-sigma-x3f"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "image/heic"),
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", "image/heif"),
    ],
)
def test_sniff_mime_raw_and_heif_magic(head: bytes, mime: str) -> None:
    assert sniff_mime(head) == mime


def test_leica_rwl_shares_panasonic_magic_but_keeps_its_name() -> None:
    head = b"IIU\x00\x18\x00\x00\x00" + bytes(24)
    assert sniff_mime(head, "L1000123.RWL") == "image/x-leica-rwl"


def test_every_raw_extension_maps_to_a_raw_mime() -> None:
    assert set(RAW_MIME_BY_EXTENSION) == RAW_EXTENSIONS
    assert set(RAW_MIME_BY_EXTENSION.values()) == RAW_MIMES
    head = b"II*\x00\x08\x00\x00\x00" + bytes(24)
    for ext in RAW_EXTENSIONS - {".cr2", ".cr3", ".raf", ".mrw", ".x3f", ".orf", ".rw2", ".rwl"}:
        assert sniff_mime(head, f"raw{ext}") == RAW_MIME_BY_EXTENSION[ext]


@needs_corpus
@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("CanonRaw.cr2", "image/x-canon-cr2"),
        ("CanonRaw.cr3", "image/x-canon-cr3"),
        ("Nikon.nef", "image/x-nikon-nef"),
        ("DNG.dng", "image/x-adobe-dng"),
        ("FujiFilm.raf", "image/x-fuji-raf"),
        ("Panasonic.rw2", "image/x-panasonic-rw2"),
        ("Minolta.mrw", "image/x-minolta-mrw"),
        ("Sigma.x3f", "image/x-sigma-x3f"),
        ("PhaseOne.iiq", "image/x-phaseone-iiq"),
        ("QuickTime.heic", "image/heic"),
        ("RIFF.webp", "image/webp"),
        ("BMP.bmp", "image/bmp"),
        ("GIF.gif", "image/gif"),
        ("PNG.png", "image/png"),
        ("ExifTool.tif", "image/tiff"),
        ("BigTIFF.btf", "image/tiff"),
        ("Canon.jpg", "image/jpeg"),
    ],
)
def test_sniff_mime_on_corpus_files(name: str, mime: str) -> None:
    path = EXIF_DIR / name
    assert sniff_mime(path.read_bytes()[:SNIFF_BYTES], path.name) == mime


@needs_corpus
@pytest.mark.parametrize(
    "name",
    ["PDF.pdf", "ZIP.zip", "MP3.mp3", "Matroska.mkv", "QuickTime.mov", "QuickTime.m4a",
     "RIFF.wav", "RIFF.avi", "Text1.txt", "XMP.svg", "Photoshop.psd", "EXE.exe", "FLAC.flac"],
)  # fmt: skip
def test_non_photos_do_not_sniff_as_photos(name: str) -> None:
    path = EXIF_DIR / name
    assert sniff_mime(path.read_bytes()[:SNIFF_BYTES], "disguised.jpg") is None


@pytest.mark.parametrize(
    ("head", "label"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "PDF"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
        (b"ID3\x04\x00\x00\x00\x00", "MP3"),
        (b"\x00\x00\x00\x20ftypqt  \x00\x00\x02\x00qt  ", "video"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "WAVE"),
        (b"hello, this is a plain text file\n", "text"),
        (b"<?xml version='1.0'?><svg>", "XML"),
    ],
)
def test_describe_non_image_names_what_a_file_looks_like(head: bytes, label: str) -> None:
    description = describe_non_image(head)
    assert description is not None and label in description


def test_describe_non_image_admits_ignorance_on_random_bytes() -> None:
    assert describe_non_image(bytes(range(0, 256, 7))) is None
    assert describe_non_image(b"") is None


def test_short_and_empty_heads_do_not_crash() -> None:
    for size in range(0, 20):
        sniff_mime(encode("JPEG")[:size])
        sniff_mime(b"\x00\x00\x00\x18ftypheic"[:size])
    assert sniff_mime(b"") is None
