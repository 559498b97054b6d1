"""The IPTC creation date and time from a JPEG's Photoshop (APP13) segment.

News and agency workflows (Photo Mechanic, older Photoshop) often write the capture time only
as IPTC 2:55 DateCreated + 2:60 TimeCreated, with no EXIF at all; without this those photos
would fall back to the file's mtime.
"""

from __future__ import annotations

import struct

from hachi.media.exif.values import Moment, parse_moment

IPTC_RESOURCE = 0x0404
DATE_CREATED = (2, 55)
TIME_CREATED = (2, 60)
MAX_RESOURCES = 1024


def iptc_records(photoshop: bytes) -> dict[tuple[int, int], bytes]:
    """First value of each IPTC dataset found in the IPTC resource of a Photoshop block."""
    iim = _resource(photoshop, IPTC_RESOURCE)
    records: dict[tuple[int, int], bytes] = {}
    position = 0
    while position + 5 <= len(iim) and iim[position] == 0x1C:
        record, dataset, length = struct.unpack_from(">BBH", iim, position + 1)
        if length & 0x8000:  # extended length: rare, and never used for dates
            break
        records.setdefault((record, dataset), iim[position + 5 : position + 5 + length])
        position += 5 + length
    return records


def _resource(photoshop: bytes, wanted: int) -> bytes:
    """Walk the '8BIM' image resource blocks: id, padded Pascal name, size, padded data."""
    position = 0
    for _ in range(MAX_RESOURCES):
        if photoshop[position : position + 4] != b"8BIM" or position + 7 > len(photoshop):
            return b""
        ident = struct.unpack_from(">H", photoshop, position + 4)[0]
        name_length = photoshop[position + 6]
        position += 6 + ((name_length + 2) & ~1)
        if position + 4 > len(photoshop):
            return b""
        size = struct.unpack_from(">I", photoshop, position)[0]
        if ident == wanted:
            return photoshop[position + 4 : position + 4 + size]
        position += 4 + size + (size & 1)
    return b""


def iptc_created(photoshop: bytes) -> Moment | None:
    """DateCreated 'CCYYMMDD' with TimeCreated 'HHMMSS±HHMM' as one moment."""
    if not photoshop:
        return None
    records = iptc_records(photoshop)
    date = records.get(DATE_CREATED, b"").decode("ascii", "replace").strip()
    time = records.get(TIME_CREATED, b"").decode("ascii", "replace").strip()
    if len(date) != 8 or not date.isdigit():
        return None
    text = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    if len(time) >= 6 and time[:6].isdigit():
        text += f"T{time[:2]}:{time[2:4]}:{time[4:6]}{time[6:]}"
    return parse_moment(text)
