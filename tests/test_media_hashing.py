"""Content hashes: stable, streaming-equivalent, BLAKE2b-128 as documented."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hachi.media.hashing import CHUNK_SIZE, content_hash, hash_file


def test_content_hash_is_hex_blake2b_128() -> None:
    data = b"a photo, or anything"
    digest = content_hash(data)
    assert len(digest) == 32 and int(digest, 16) >= 0
    assert digest == hashlib.blake2b(data, digest_size=16).hexdigest()


def test_content_hash_tells_contents_apart() -> None:
    assert content_hash(b"one") != content_hash(b"two")
    assert content_hash(b"one") == content_hash(b"o" + b"ne")
    assert content_hash(b"") != content_hash(b"\x00")


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 12345]
)
def test_hash_file_streams_to_the_same_value(tmp_path: Path, size: int) -> None:
    path = tmp_path / "photo.bin"
    path.write_bytes(os.urandom(size))
    assert hash_file(path) == content_hash(path.read_bytes())


def test_moved_file_keeps_its_hash(tmp_path: Path) -> None:
    original = tmp_path / "a" / "IMG_0001.JPG"
    original.parent.mkdir()
    original.write_bytes(os.urandom(5000))
    before = hash_file(original)
    moved = tmp_path / "b" / "renamed.jpg"
    moved.parent.mkdir()
    original.rename(moved)
    assert hash_file(moved) == before


def test_hash_file_of_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hash_file(tmp_path / "gone.jpg")
