"""Find EXIF, XMP and the image size inside ISO base media files (HEIC/HEIF, AVIF, Canon CR3).

exifread can find the EXIF item of a HEIC but not its XMP or its dimensions, and does not
know CR3 at all, so this module walks the boxes itself. Only box headers and the few small
boxes named below are read; the image data is never touched.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from hachi.media.exif.tiff import TAG_EXIF_IFD, TAG_GPS_IFD, wrap_ifd

MAX_BOXES = 4096  # a HEIC has tens of boxes at each level; more means a corrupt file
MAX_DEPTH = 4
CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
CONTAINERS = {b"meta", b"iprp", b"moov", b"iinf"}
XMP_MIME = b"application/rdf+xml"


@dataclass
class BmffFindings:
    """What the walk found; items are resolved to bytes only at the end."""

    tiffs: list[bytes] = field(default_factory=list)
    xmps: list[bytes] = field(default_factory=list)
    primary: int | None = None
    kinds: dict[int, bytes] = field(default_factory=dict)  # item id -> 'Exif' / 'mime'-xmp
    locations: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    idat: int | None = None  # file offset of the idat payload, for construction method 1
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # property index -> ispe
    crops: dict[int, tuple[int, int]] = field(default_factory=dict)  # property index -> clap
    links: dict[int, list[int]] = field(default_factory=dict)  # item id -> property indexes


def boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload start, payload end) for each box between start and end."""
    position, seen = start, 0
    while position + 8 <= end and seen < MAX_BOXES:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1 and position + 16 <= end:
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            return
        yield kind, position + header, position + size
        position += size
        seen += 1


def read_bmff(data: bytes) -> BmffFindings:
    found = BmffFindings()
    _walk(data, 0, len(data), found, 0)
    for item, kind in found.kinds.items():
        payload = _item_bytes(data, found, item)
        if kind == b"Exif" and len(payload) >= 4:
            skip = struct.unpack_from(">I", payload)[0]
            found.tiffs.append(payload[4 + skip :])
        elif kind == b"mime":
            found.xmps.append(payload)
    return found


def claimed_length(data: bytes) -> int:
    """How long the file says it is: the end of its last top-level box or item extent.

    A file cut short claims more than it holds, whatever words a decoder would use for the
    failure, so this is how Hachi tells "truncated" from "corrupt" on its own.
    """
    claimed, position = 0, 0
    while position + 8 <= len(data):
        size, header = struct.unpack_from(">I", data, position)[0], 8
        if size == 1 and position + 16 <= len(data):
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = len(data) - position
        if size < header:
            break
        claimed = position + size
        position += size
    if claimed > len(data):
        return claimed
    extents = (
        start + length for spans in read_bmff(data).locations.values() for start, length in spans
    )
    return max([claimed, *extents])


def primary_size(found: BmffFindings) -> tuple[int, int] | None:
    """The size of the primary item before any rotation box: its 'ispe' size, or the 'clap'
    clean aperture when the encoder padded the picture to whole coding blocks."""
    if found.primary is None:
        return None
    links = found.links.get(found.primary, [])
    crops = [found.crops[i] for i in links if i in found.crops]
    sizes = [found.sizes[i] for i in links if i in found.sizes]
    found_sizes = crops or sizes
    return found_sizes[0] if found_sizes else None


def _walk(data: bytes, start: int, end: int, found: BmffFindings, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    for kind, begin, finish in boxes(data, start, end):
        if kind in CONTAINERS:
            skip = 4 if kind in (b"meta", b"iinf") else 0
            if kind == b"iinf":
                skip += 2 if data[begin] == 0 else 4
            _walk(data, begin + skip, finish, found, depth + 1)
        elif kind == b"ipco":
            _read_ipco(data, begin, finish, found)
        elif kind == b"uuid":
            _read_uuid(data, begin, finish, found)
        else:
            _read_leaf(kind, data, begin, finish, found)


def _read_leaf(kind: bytes, data: bytes, begin: int, end: int, found: BmffFindings) -> None:
    if kind == b"pitm":
        found.primary = _id(data, begin + 4, data[begin])
    elif kind == b"infe":
        _read_infe(data, begin, end, found)
    elif kind == b"iloc":
        _read_iloc(data, begin, end, found)
    elif kind == b"idat":
        found.idat = begin
    elif kind == b"ipma":
        _read_ipma(data, begin, found)


def _read_ipco(data: bytes, begin: int, end: int, found: BmffFindings) -> None:
    """Item properties are numbered from 1 in order; 'ipma' links items to those numbers."""
    for index, (kind, start, finish) in enumerate(boxes(data, begin, end), start=1):
        if kind == b"ispe" and finish - start >= 12:
            found.sizes[index] = struct.unpack_from(">II", data, start + 4)
        elif kind == b"clap" and finish - start >= 16:
            wn, wd, hn, hd = struct.unpack_from(">IIII", data, start)
            if wd and hd and wn and hn:
                found.crops[index] = (round(wn / wd), round(hn / hd))


def _id(data: bytes, at: int, version: int) -> int:
    return struct.unpack_from(">H" if version == 0 else ">I", data, at)[0]


def _read_infe(data: bytes, begin: int, end: int, found: BmffFindings) -> None:
    version = data[begin]
    if version < 2:
        return
    item = _id(data, begin + 4, 0 if version == 2 else 1)
    at = begin + (8 if version == 2 else 10)
    kind = data[at : at + 4]
    if kind == b"Exif":
        found.kinds[item] = kind
    elif kind == b"mime":
        name_end = data.find(b"\x00", at + 4, end)
        if name_end >= 0 and data[name_end + 1 : end].startswith(XMP_MIME):
            found.kinds[item] = kind


def _read_iloc(data: bytes, begin: int, end: int, found: BmffFindings) -> None:
    version = data[begin]
    offset_size, length_size = data[begin + 4] >> 4, data[begin + 4] & 15
    base_size, index_size = data[begin + 5] >> 4, (data[begin + 5] & 15 if version else 0)
    count_size = 2 if version < 2 else 4
    at = begin + 6
    count = _uint(data, at, count_size)
    at += count_size
    for _ in range(count):
        if at >= end:
            return
        item = _uint(data, at, count_size)
        at += count_size
        method = _uint(data, at, 2) & 15 if version else 0
        at += (2 if version else 0) + 2
        base = _uint(data, at, base_size)
        at += base_size
        extents = _uint(data, at, 2)
        at += 2
        spans = []
        for _ in range(extents):
            at += index_size
            offset = _uint(data, at, offset_size)
            length = _uint(data, at + offset_size, length_size)
            at += offset_size + length_size
            spans.append((base + offset, length, method))
        found.locations[item] = [(o if m == 0 else -1 - o, n) for o, n, m in spans]


def _uint(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "big") if size else 0


def _read_ipma(data: bytes, begin: int, found: BmffFindings) -> None:
    version, flags = data[begin], data[begin + 3]
    count = _uint(data, begin + 4, 4)
    at = begin + 8
    for _ in range(min(count, MAX_BOXES)):
        item = _uint(data, at, 2 if version == 0 else 4)
        at += 2 if version == 0 else 4
        n = data[at] if at < len(data) else 0
        at += 1
        width = 2 if flags & 1 else 1
        mask = 0x7FFF if width == 2 else 0x7F
        found.links[item] = [_uint(data, at + width * i, width) & mask for i in range(n)]
        at += width * n


def _item_bytes(data: bytes, found: BmffFindings, item: int) -> bytes:
    parts = []
    for offset, length in found.locations.get(item, []):
        if offset < 0:  # stored in idat (construction method 1)
            if found.idat is None:
                return b""
            offset = found.idat + (-1 - offset)
        parts.append(data[offset : offset + length])
    return b"".join(parts)


def _read_uuid(data: bytes, begin: int, end: int, found: BmffFindings) -> None:
    kind = data[begin : begin + 16]
    if kind == XMP_UUID:
        found.xmps.append(data[begin + 16 : end])
    elif kind == CANON_UUID:
        for name, start, finish in boxes(data, begin + 16, end):
            block = data[start:finish]
            if name == b"CMT1":
                found.tiffs.append(block)
            elif name == b"CMT2":
                found.tiffs.append(wrap_ifd(block, TAG_EXIF_IFD))
            elif name == b"CMT4":
                found.tiffs.append(wrap_ifd(block, TAG_GPS_IFD))
