"""Which files are photos, and what their bytes say they are.

The scanner asks by extension (cheap, no I/O) so it can pass over documents and videos
quietly; the decoder asks by content, because extensions lie (a PNG saved as ``.jpg``
must still decode, and a PDF named ``.jpg`` must be refused with a reason a person can
read). Many RAW formats are TIFF containers with no magic of their own, so the file name
is accepted as a hint where the bytes alone cannot tell.
"""

from __future__ import annotations

from pathlib import Path

SNIFF_BYTES = 64
"""How much of a file's head ``sniff_mime`` looks at; callers may pass more."""

RAW_MIME_BY_EXTENSION: dict[str, str] = {
    ".cr2": "image/x-canon-cr2",
    ".cr3": "image/x-canon-cr3",
    ".nef": "image/x-nikon-nef",
    ".nrw": "image/x-nikon-nrw",
    ".arw": "image/x-sony-arw",
    ".srf": "image/x-sony-srf",
    ".sr2": "image/x-sony-sr2",
    ".dng": "image/x-adobe-dng",
    ".raf": "image/x-fuji-raf",
    ".orf": "image/x-olympus-orf",
    ".rw2": "image/x-panasonic-rw2",
    ".pef": "image/x-pentax-pef",
    ".srw": "image/x-samsung-srw",
    ".rwl": "image/x-leica-rwl",
    ".3fr": "image/x-hasselblad-3fr",
    ".erf": "image/x-epson-erf",
    ".kdc": "image/x-kodak-kdc",
    ".mrw": "image/x-minolta-mrw",
    ".x3f": "image/x-sigma-x3f",
    ".iiq": "image/x-phaseone-iiq",
}

IMAGE_MIME_BY_EXTENSION: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".hif": "image/heif",
    ".avif": "image/avif",
}

VIDEO_MIME_BY_EXTENSION: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".3gp": "video/3gpp",
}
"""Videos Hachi indexes (decoded by PyAV); the mime a video gets comes from its container."""

RAW_EXTENSIONS: frozenset[str] = frozenset(RAW_MIME_BY_EXTENSION)
VIDEO_EXTENSIONS: frozenset[str] = frozenset(VIDEO_MIME_BY_EXTENSION)
VIDEO_MIMES: frozenset[str] = frozenset(VIDEO_MIME_BY_EXTENSION.values())
PHOTO_EXTENSIONS: frozenset[str] = frozenset(IMAGE_MIME_BY_EXTENSION) | RAW_EXTENSIONS
RAW_MIMES: frozenset[str] = frozenset(RAW_MIME_BY_EXTENSION.values())

RAW_TYPE = "raw"
"""The file type that names every camera raw format at once (``type:raw``)."""
VIDEO_TYPE = "video"
"""The file type that names every video format at once (``type:video``, ``-type:video``)."""
_TYPE_OF_EXTENSION = {
    "jpg": "jpeg", "jpe": "jpeg", "jfif": "jpeg", "tif": "tiff", "heif": "heic", "hif": "heic",
    "m2ts": "mts",
}  # fmt: skip


def _file_types() -> dict[str, frozenset[str]]:
    """Type name -> the mime types it matches, one entry per extension Hachi indexes."""
    mimes: dict[str, set[str]] = {RAW_TYPE: set(RAW_MIMES), VIDEO_TYPE: set(VIDEO_MIMES)}
    by_extension = {**IMAGE_MIME_BY_EXTENSION, **RAW_MIME_BY_EXTENSION, **VIDEO_MIME_BY_EXTENSION}
    for ext, mime in by_extension.items():
        name = ext.removeprefix(".")
        mimes.setdefault(_TYPE_OF_EXTENSION.get(name, name), set()).add(mime)
    return {name: frozenset(found) for name, found in mimes.items()}


MIMES_BY_TYPE: dict[str, frozenset[str]] = _file_types()
"""What ``type:`` accepts, derived from the extension tables above, so that every format
Hachi indexes can be searched for and nothing else is accepted."""
FILE_TYPE_NAMES: dict[str, str] = {
    **{name: name for name in MIMES_BY_TYPE},
    **{
        ext: _TYPE_OF_EXTENSION.get(ext, ext)
        for ext in (e[1:] for e in PHOTO_EXTENSIONS | VIDEO_EXTENSIONS)
    },
}
"""Each name ``type:`` accepts (a type or an extension) -> its type name."""

# ISO base media (HEIF family) brands; anything else after "ftyp" is a video or audio file.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})

# Magic numbers of files that are not photos, so the error says what the file looks like.
_NON_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP archive (or office document)"),
    (b"Rar!", "RAR archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf", "7-Zip archive"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"OggS", "Ogg media"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM video"),
    (b"FLV", "Flash video"),
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"%!PS", "PostScript"),
    (b"8BPS", "Photoshop document"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document"),
    (b"{\\rtf", "RTF document"),
    (b"SQLite format 3", "SQLite database"),
)


def is_photo_path(path: Path) -> bool:
    """By extension only, so walking a big tree costs no reads."""
    return path.suffix.lower() in PHOTO_EXTENSIONS


def is_video_path(path: Path | str) -> bool:
    """By extension only: a video is opened by PyAV, which finds its container itself."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_media_path(path: Path) -> bool:
    """Whether the scanner indexes this file: a photo or a video, by extension."""
    return is_photo_path(path) or is_video_path(path)


def sniff_mime(head: bytes, name: str = "") -> str | None:
    """Identify a photo from its magic bytes; ``name`` only refines TIFF-based RAWs.

    Returns None for anything that is not a format we decode.
    """
    suffix = Path(name).suffix.lower()
    return (
        _sniff_simple(head)
        or _sniff_iso_bmff(head)
        or _sniff_raw_magic(head, suffix)
        or _sniff_tiff(head, suffix)
    )


def describe_non_image(head: bytes) -> str | None:
    """A short human name for a well-known non-photo file ("PDF"), for error messages."""
    for magic, label in _NON_IMAGE_MAGIC:
        if head.startswith(magic):
            return label
    if head[4:8] == b"ftyp":
        return "video or audio (ISO media)"
    if head[:4] == b"RIFF":
        return f"RIFF {head[8:12].decode('ascii', 'replace').strip()} media"
    stripped = head.lstrip()[:5].lower()
    if stripped.startswith((b"<?xml", b"<svg", b"<html", b"<!doc")):
        return "XML/HTML text"
    return "text" if head and _looks_like_text(head) else None


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(byte >= 0x20 or byte in b"\t\r\n" for byte in head)


def _sniff_simple(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"BM") and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "image/bmp"  # the DIB header size byte rules out text that starts with "BM"
    return None


def _sniff_iso_bmff(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    if major == b"crx ":
        return "image/x-canon-cr3"
    size = int.from_bytes(head[0:4], "big")
    compatible = {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    brands = {major} | compatible
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and brands & _AVIF_BRANDS):
        return "image/avif"
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if major in _HEIF_BRANDS:
        return "image/heif"
    return None


def _sniff_raw_magic(head: bytes, suffix: str) -> str | None:
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "image/x-fuji-raf"
    if head.startswith(b"\x00MRM"):
        return "image/x-minolta-mrw"
    if head.startswith(b"FOVb"):
        return "image/x-sigma-x3f"
    if head.startswith((b"IIRO", b"IIRS", b"MMOR")):
        return "image/x-olympus-orf"
    if head.startswith(b"IIU\x00"):
        # Leica's RWL shares Panasonic's container; only the name tells them apart.
        return "image/x-leica-rwl" if suffix == ".rwl" else "image/x-panasonic-rw2"
    if head.startswith(b"II*\x00") and head[8:11] == b"CR\x02":
        return "image/x-canon-cr2"
    return None


def _sniff_tiff(head: bytes, suffix: str) -> str | None:
    if not head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return None
    return RAW_MIME_BY_EXTENSION.get(suffix, "image/tiff")
