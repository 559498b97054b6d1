"""The streamed zip: readable by zipfile, pieces of bounded size, zip64 when asked for by
size (forced with a small threshold) and past 65,535 entries, unique names."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import pytest

from hachi.server.zipstream import CHUNK, MISSING_NOTE, Member, stream_zip, unique_names

ZIP64_END_RECORD = b"PK\x06\x06"
ZIP64_EXTRA = 0x0001


def zip64_extra(data: bytes, info: zipfile.ZipInfo) -> bool:
    """Whether an entry's local header holds a zip64 extra field (sizes that may pass
    4 GiB, written before the size is known)."""
    at = info.header_offset
    assert data[at : at + 4] == b"PK\x03\x04"
    name_length, extra_length = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + name_length
    extra, found = data[start : start + extra_length], False
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        found |= kind == ZIP64_EXTRA
        extra = extra[4 + size :]
    return found


def test_unique_names_ignore_case_and_keep_extensions() -> None:
    names = ["IMG_1.jpg", "img_1.JPG", "IMG_1.jpg", "IMG_1 (2).jpg", "a/b.png", "", "x.heic"]
    assert unique_names(names) == [
        "IMG_1.jpg", "img_1 (2).JPG", "IMG_1 (3).jpg", "IMG_1 (2) (2).jpg", "b.png", "photo",
        "x.heic",
    ]  # fmt: skip


def test_pieces_are_bounded_and_the_zip_reads_back(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(3 * CHUNK + 123))
    small = tmp_path / "small.jpg"
    small.write_bytes(b"tiny")
    pieces = list(stream_zip([Member(1, "big.jpg", big), Member(2, "small.jpg", small)]))
    assert len(pieces) > 4
    assert max(len(p) for p in pieces) <= CHUNK + 1024
    data = b"".join(pieces)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert archive.read("big.jpg") == big.read_bytes()
    assert archive.read("small.jpg") == b"tiny"
    assert not any(zip64_extra(data, i) for i in archive.infolist())


def test_zip64_records_from_a_forced_small_threshold(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"p{i}.jpg"
        path.write_bytes(os.urandom(1000 + i))
        files.append(Member(i + 1, path.name, path))
    data = b"".join(stream_zip(files, zip64_from=0))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert all(zip64_extra(data, i) for i in archive.infolist())
    assert [archive.read(m.name) for m in files] == [m.path.read_bytes() for m in files if m.path]


@pytest.mark.slow  # ~7 s: 65,600 entries
def test_zip64_end_records_past_65535_entries(tmp_path: Path) -> None:
    one = tmp_path / "same.jpg"
    one.write_bytes(b"\xff\xd8 a photo")
    count = 65_600
    data = b"".join(stream_zip(Member(i, "same.jpg", one) for i in range(count)))
    assert ZIP64_END_RECORD in data[-200:]
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    assert len(names) == len(set(names)) == count
    assert names[-1] == f"same ({count}).jpg"
    assert archive.read(names[-1]) == one.read_bytes()


def test_unreadable_members_are_listed_not_fatal(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(b"ok")
    members = [Member(7, "gone.jpg", tmp_path / "gone.jpg"), Member(8, "refused.jpg", None)]
    data = b"".join(stream_zip([*members, Member(9, "good.jpg", good)]))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["good.jpg", MISSING_NOTE]
    note = archive.read(MISSING_NOTE).decode()
    assert "7\tgone.jpg" in note and "8\trefused.jpg" in note
