"""A zip of many photos, made while it is sent: no temporary file, no whole selection in
memory.

The standard library's ``zipfile`` writes into a sink that only collects bytes; after
each piece of each file the collected bytes are handed to the HTTP server, so what is
held at any time is one read buffer plus the entries' central-directory records (about
a hundred bytes a photo). A stream cannot seek back, so every entry carries a data
descriptor (its CRC and sizes after the data) and, above ``zip64_from`` bytes, zip64
fields; ``zipfile`` adds the zip64 end records itself past 65,535 entries or 4 GiB.

Photos are stored, not deflated: JPEG, HEIC, PNG and WebP are compressed already, and
deflating them would cost CPU for a percent or two. Names are each file's own name, made
unique (``IMG_0001 (2).jpg``) when two photos share one regardless of case, as a
Windows or macOS disk would see them.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

CHUNK = 1024 * 1024
MISSING_NOTE = "hachi-missing.txt"


@dataclass(frozen=True)
class Member:
    photo_id: int
    name: str  # the name the file had when indexed
    path: Path | None  # the real file to read; None when it may not be served


class _Sink(io.RawIOBase):
    """An unseekable file that keeps what is written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks where each entry starts
        return self._offset

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class UniqueNames:
    """Gives each name, suffixed `` (2)``, `` (3)``... where an earlier one is the same
    when case is ignored; a count per name keeps 20,000 ``IMG_0001.jpg`` linear."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.counts: dict[str, int] = {}

    def __call__(self, raw: str) -> str:
        name = PurePath(raw.replace("\\", "/")).name or "photo"
        stem, suffix = os.path.splitext(name)
        key = name.casefold()
        candidate, n = name, self.counts.get(key, 1)
        while candidate.casefold() in self.taken:
            n += 1
            candidate = f"{stem} ({n}){suffix}"
        self.counts[key] = n
        self.taken.add(candidate.casefold())
        return candidate


def unique_names(names: Iterable[str]) -> list[str]:
    unique = UniqueNames()
    return [unique(name) for name in names]


def _entry(name: str, stat: os.stat_result) -> zipfile.ZipInfo:
    when = time.localtime(max(stat.st_mtime, 315532800 + 86400))  # zip dates start in 1980
    info = zipfile.ZipInfo(name, date_time=when[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = stat.st_size
    info.external_attr = 0o644 << 16
    return info


def stream_zip(members: Iterable[Member], zip64_from: int = zipfile.ZIP64_LIMIT) -> Iterator[bytes]:
    """The zip's bytes, piece by piece, taking ``members`` one at a time (a generator
    keeps only the current one). A file that cannot be read when its turn comes
    is left out and named in ``hachi-missing.txt`` at the end (the answer has started,
    so it can no longer become an error)."""
    sink, unique = _Sink(), UniqueNames()
    missing: list[str] = []
    with zipfile.ZipFile(sink, mode="w", allowZip64=True) as archive:
        for member in members:
            name = unique(member.name)
            try:
                yield from _write_member(archive, sink, member, name, zip64_from)
            except OSError as error:
                missing.append(f"{member.photo_id}\t{member.name}\t{error.strerror or error}")
            yield sink.take()
        if missing:
            note = "photo id\tname\twhy it is not here\n" + "\n".join(missing) + "\n"
            archive.writestr(MISSING_NOTE, note)
    yield sink.take()


def _write_member(
    archive: zipfile.ZipFile, sink: _Sink, member: Member, name: str, zip64_from: int
) -> Iterator[bytes]:
    if member.path is None:
        raise FileNotFoundError(2, "not on disk or not in an indexed folder")
    with open(member.path, "rb") as source:
        info = _entry(name, os.fstat(source.fileno()))
        with archive.open(info, mode="w", force_zip64=info.file_size >= zip64_from) as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
                yield sink.take()
