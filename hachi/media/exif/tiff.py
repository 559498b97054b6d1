"""The few TIFF-structure reads that exifread skips when told to be fast.

exifread (with ``details=False``) reads IFD0, the EXIF and GPS IFDs, but not the SubIFDs where
DNG and NEF keep the full-size image, nor the XMP tag (700) that DNG writers fill, and it names
the tags of Panasonic's RW2 IFD0 after unrelated standard tags. These helpers read just those
entries straight from the TIFF bytes, and re-wrap a lone EXIF or GPS IFD (Canon CR3 stores
them as separate TIFF blocks) so exifread names its tags correctly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TAG_IMAGE_WIDTH = 0x0100
TAG_IMAGE_LENGTH = 0x0101
TAG_SUBIFDS = 0x014A
TAG_XMP = 0x02BC
TAG_EXIF_IFD = 0x8769
TAG_GPS_IFD = 0x8825
TAG_MAKERNOTE = 0x927C
TAG_RW2_JPEG = 0x002E  # Panasonic RW2 'JpgFromRaw': a JPEG whose EXIF holds ISO, lens, ...
CANON_LENS_MODEL = 0x0095
RW2_BORDERS = (0x0004, 0x0005, 0x0006, 0x0007)  # top, left, bottom, right
MAX_SUBIFDS = 8  # real files have at most a handful; more is a corrupt count
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


@dataclass(frozen=True)
class Entry:
    type: int
    count: int
    data_offset: int  # where the value bytes start within the TIFF block


class TiffBlock:
    """Random access to the IFD entries of one TIFF structure held in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.endian = "<" if data[:2] == b"II" else ">"

    def first_ifd(self) -> int:
        return self._unpack("I", 4) or 0

    def entries(self, ifd: int) -> dict[int, Entry]:
        count = self._unpack("H", ifd)
        if count is None:
            return {}
        found: dict[int, Entry] = {}
        for index in range(count):
            raw = self.data[ifd + 2 + 12 * index : ifd + 14 + 12 * index]
            if len(raw) < 12:
                break
            tag, kind, n = struct.unpack(self.endian + "HHI", raw[:8])
            size = _TYPE_SIZES.get(kind, 0) * n
            where = ifd + 10 + 12 * index
            offset = where if size <= 4 else self._unpack("I", where) or 0
            found.setdefault(tag, Entry(kind, n, offset))
        return found

    def integers(self, entry: Entry | None, limit: int = MAX_SUBIFDS) -> list[int]:
        """SHORT or LONG values of an entry (the types dimensions and offsets use)."""
        if entry is None or entry.type not in (3, 4, 13):
            return []
        code, size = ("H", 2) if entry.type == 3 else ("I", 4)
        values = (self._unpack(code, entry.data_offset + size * i) for i in range(entry.count))
        return [v for v in list(values)[:limit] if v is not None]

    def raw(self, entry: Entry | None) -> bytes:
        if entry is None:
            return b""
        size = _TYPE_SIZES.get(entry.type, 0) * entry.count
        return self.data[entry.data_offset : entry.data_offset + size]

    def _unpack(self, code: str, offset: int) -> int | None:
        size = struct.calcsize(code)
        if offset < 0 or offset + size > len(self.data):
            return None
        return int(struct.unpack_from(self.endian + code, self.data, offset)[0])


def largest_image(block: TiffBlock) -> tuple[int, int] | None:
    """Dimensions of the biggest image among IFD0 and its SubIFDs.

    Raw formats put a thumbnail or preview in IFD0 and the sensor image in a SubIFD (DNG,
    NEF); the largest one is the photograph, the others are renditions of it.
    """
    ifd0 = block.entries(block.first_ifd())
    tables = [ifd0] + [block.entries(o) for o in block.integers(ifd0.get(TAG_SUBIFDS))]
    sizes = [_dimensions(block, t, TAG_IMAGE_WIDTH, TAG_IMAGE_LENGTH) for t in tables]
    if block.data[2:4] in (b"U\x00", b"\x00U"):  # Panasonic RW2
        sizes.append(_rw2_dimensions(block, ifd0))
    found = [size for size in sizes if size is not None]
    return max(found, key=lambda size: size[0] * size[1]) if found else None


def _dimensions(
    block: TiffBlock, entries: dict[int, Entry], width_tag: int, height_tag: int
) -> tuple[int, int] | None:
    width = block.integers(entries.get(width_tag), 1)
    height = block.integers(entries.get(height_tag), 1)
    if width and height and width[0] > 0 and height[0] > 0:
        return width[0], height[0]
    return None


def _rw2_dimensions(block: TiffBlock, ifd0: dict[int, Entry]) -> tuple[int, int] | None:
    """RW2 states its image as sensor borders rather than as a width and a length."""
    top, left, bottom, right = (block.integers(ifd0.get(tag), 1) for tag in RW2_BORDERS)
    if not (top and left and bottom and right):
        return None
    width, height = right[0] - left[0], bottom[0] - top[0]
    return (width, height) if width > 0 and height > 0 else None


def xmp_of(block: TiffBlock) -> bytes:
    """The XMP packet a TIFF or raw file keeps in IFD0 tag 700, if any."""
    return block.raw(block.entries(block.first_ifd()).get(TAG_XMP))


def wrap_ifd(tiff: bytes, pointer_tag: int) -> bytes:
    """Make a TIFF whose IFD0 only points (via ``pointer_tag``) at the given TIFF's first IFD.

    A CR3 'CMT2' box is a TIFF whose first IFD *is* the EXIF IFD, and 'CMT4' one whose first
    IFD is the GPS IFD; wrapped like this, exifread reads them as it would in a JPEG. Offsets
    inside the original stay valid because the new IFD is appended after it.
    """
    block = TiffBlock(tiff)
    target = block.first_ifd()
    at = len(tiff) + (len(tiff) & 1)
    head = tiff[:4] + struct.pack(block.endian + "I", at)
    ifd = struct.pack(block.endian + "HHHII", 1, pointer_tag, 4, 1, target) + bytes(4)
    return head + tiff[8:] + bytes(at - len(tiff)) + ifd


def rw2_preview(block: TiffBlock) -> bytes:
    """The embedded JPEG of a Panasonic RW2 (its IFD0 has no ISO or lens tags of its own)."""
    if block.data[2:4] not in (b"U\x00", b"\x00U"):
        return b""
    return block.raw(block.entries(block.first_ifd()).get(TAG_RW2_JPEG))


def canon_lens_model(tiff: bytes) -> str | None:
    """Canon's maker note tag 0x95 names the lens on bodies older than EXIF 2.3 (~2010).

    exifread's fast mode skips maker notes entirely; this reads that one entry. Canon maker
    notes are a plain IFD whose offsets count from the TIFF header, like EXIF's own.
    """
    block = TiffBlock(tiff)
    ifd0 = block.entries(block.first_ifd())
    exif_ifd = block.integers(ifd0.get(TAG_EXIF_IFD), 1)
    if not exif_ifd:
        return None
    note = block.entries(exif_ifd[0]).get(TAG_MAKERNOTE)
    if note is None:
        return None
    entry = block.entries(note.data_offset).get(CANON_LENS_MODEL)
    if entry is None or entry.type != 2:
        return None
    return block.raw(entry).split(b"\x00", 1)[0].decode("latin-1").strip() or None
