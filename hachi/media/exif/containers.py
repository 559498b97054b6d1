"""Locate the metadata blocks inside an image file held in memory.

Each reader walks only the container's headers (JPEG markers up to the start of scan, PNG and
RIFF chunk headers, ISO boxes) and hands back the raw TIFF/EXIF blocks, XMP packets and IPTC
record found, plus the pixel size the container states. Parsing the blocks is someone else's
job; that split keeps every format's quirks in one place.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass, field

from hachi.media.exif.bmff import primary_size, read_bmff
from hachi.media.exif.tiff import TiffBlock, largest_image, rw2_preview, xmp_of

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
RAW_TIFF_HEADERS = TIFF_HEADERS + (b"IIRO", b"IIRS", b"IIU\x00")  # Olympus ORF, Panasonic RW2
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RAF_SIGNATURE = b"FUJIFILMCCD-RAW "
SCAN_LIMIT = 1 << 20  # unknown containers: look for an embedded JPEG/EXIF in the first MiB
MAX_TEXT_CHUNK = 1 << 20  # cap on inflated PNG text, so a zTXt bomb cannot eat memory


@dataclass
class Located:
    tiffs: list[bytes] = field(default_factory=list)
    xmps: list[bytes] = field(default_factory=list)
    iptc: bytes = b""
    size: tuple[int, int] | None = None


def locate(data: bytes) -> Located:
    """Dispatch on the file's magic bytes, never on its name (extensions lie)."""
    if data[:3] == b"\xff\xd8\xff":
        return read_jpeg(data, 0)
    if data[:4] in RAW_TIFF_HEADERS:
        return read_tiff(data)
    if data[:8] == PNG_SIGNATURE:
        return read_png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return read_webp(data)
    if data[4:8] == b"ftyp":
        found = read_bmff(data)
        return Located(found.tiffs, found.xmps, size=primary_size(found))
    if data[:16] == RAF_SIGNATURE and len(data) >= 92:
        start = struct.unpack_from(">I", data, 84)[0]
        return read_jpeg(data, start)
    return read_embedded(data)


def read_tiff(data: bytes) -> Located:
    block = TiffBlock(data)
    xmp = xmp_of(block)
    found = Located([data], [xmp] if xmp else [], size=largest_image(block))
    preview = rw2_preview(block)
    if preview[:3] == b"\xff\xd8\xff":
        found.tiffs.extend(read_jpeg(preview, 0).tiffs)
    return found


def read_jpeg(data: bytes, start: int) -> Located:
    """Walk the markers from SOI to SOS; the entropy-coded data after it is never read."""
    found = Located()
    position = start + 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        length = struct.unpack_from(">H", data, position + 2)[0]
        body = data[position + 4 : position + 2 + length]
        _read_jpeg_segment(marker, body, found)
        if marker in (0xDA, 0xD9) or length < 2:
            break
        position += 2 + length
    return found


def _read_jpeg_segment(marker: int, body: bytes, found: Located) -> None:
    if marker == 0xE1 and body.startswith(EXIF_HEADER) and not found.tiffs:
        found.tiffs.append(body[len(EXIF_HEADER) :])
    elif marker == 0xE1 and body.startswith(XMP_HEADER):
        found.xmps.append(body[len(XMP_HEADER) :])
    elif marker == 0xED and body.startswith(PHOTOSHOP_HEADER):
        found.iptc = body[len(PHOTOSHOP_HEADER) :]
    elif marker in SOF_MARKERS and len(body) >= 5 and found.size is None:
        height, width = struct.unpack_from(">HH", body, 1)
        if width and height:
            found.size = (width, height)


def read_png(data: bytes) -> Located:
    """Chunks after IDAT are read too: several writers append eXIf/text chunks at the end."""
    found = Located()
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR" and len(body) >= 8:
            width, height = struct.unpack_from(">II", body)
            found.size = (width, height) if width and height else None
        elif kind == b"eXIf":
            found.tiffs.append(body[6:] if body.startswith(EXIF_HEADER) else body)
        elif kind in (b"iTXt", b"tEXt", b"zTXt"):
            _read_png_text(kind, body, found)
        elif kind == b"IEND":
            break
        position += 12 + length
    return found


def _read_png_text(kind: bytes, body: bytes, found: Located) -> None:
    keyword, _, rest = body.partition(b"\x00")
    text = _png_text_payload(kind, rest)
    if text is None:
        return
    if keyword == b"XML:com.adobe.xmp":
        found.xmps.append(text)
    elif keyword in (b"Raw profile type exif", b"Raw profile type APP1"):
        payload = _raw_profile(text)
        if payload.startswith(EXIF_HEADER):
            found.tiffs.append(payload[len(EXIF_HEADER) :])
        elif payload[:4] in TIFF_HEADERS:
            found.tiffs.append(payload)
    elif keyword == b"Raw profile type xmp":
        found.xmps.append(_raw_profile(text))


def _png_text_payload(kind: bytes, rest: bytes) -> bytes | None:
    if kind == b"tEXt":
        return rest
    if kind == b"zTXt":
        return _inflate(rest[1:])
    compressed, _method = rest[:1], rest[1:2]
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return _inflate(text) if compressed == b"\x01" else text


def _inflate(raw: bytes) -> bytes | None:
    try:
        return zlib.decompressobj().decompress(raw, MAX_TEXT_CHUNK)
    except zlib.error:
        return None


def _raw_profile(text: bytes) -> bytes:
    """ImageMagick's text encoding: '\\nexif\\n  <length>\\n<hex digits, wrapped>'."""
    parts = text.split(None, 2)
    if len(parts) < 3:
        return b""
    try:
        return binascii.unhexlify(b"".join(parts[2].split()))
    except (binascii.Error, ValueError):
        return b""


def read_webp(data: bytes) -> Located:
    found = Located()
    position = 12
    while position + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, position)
        body = data[position + 8 : position + 8 + length]
        if kind == b"EXIF":
            found.tiffs.append(body[6:] if body.startswith(EXIF_HEADER) else body)
        elif kind == b"XMP ":
            found.xmps.append(body)
        elif found.size is None:
            found.size = _webp_size(kind, body)
        position += 8 + length + (length & 1)
    return found


def _webp_size(kind: bytes, body: bytes) -> tuple[int, int] | None:
    if kind == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", body, 6)
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def read_embedded(data: bytes) -> Located:
    """Formats we do not parse (X3F, MRW, ...) often embed a JPEG or a bare TIFF block."""
    window = data[:SCAN_LIMIT]
    jpeg = window.find(b"\xff\xd8\xff")
    if jpeg >= 0:
        found = read_jpeg(data, jpeg)
        if found.tiffs:
            return found
    exif = window.find(EXIF_HEADER)
    if exif >= 0 and data[exif + 6 : exif + 10] in TIFF_HEADERS:
        return Located([data[exif + 6 :]])
    for header in TIFF_HEADERS:
        at = window.find(header)
        if at >= 0:
            return read_tiff(data[at:])
    return Located()
