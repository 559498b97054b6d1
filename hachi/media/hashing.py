"""Content hashes: a photo's identity independent of its path.

A rescan recognises a moved or renamed photo by its hash (so its faces and names follow
it), and thumbnails are stored under the hash. BLAKE2b with a 16-byte digest is faster
than SHA-256 in CPython's hashlib, and 128 bits leave collisions out of reach for any
photo library.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

DIGEST_SIZE = 16
CHUNK_SIZE = 1 << 20
"""Read size for streaming: large enough that per-call overhead vanishes, small in RAM."""


def content_hash(data: bytes) -> str:
    """Hex BLAKE2b-128 of ``data``; the indexer already holds the bytes, so no re-read."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).hexdigest()


def hash_file(path: Path) -> str:
    """Same value as ``content_hash(path.read_bytes())`` without holding the file in memory."""
    with path.open("rb") as handle:
        return hash_stream(handle)


def hash_stream(handle: BinaryIO) -> str:
    """``hash_file`` of a file already open (read from its start)."""
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    handle.seek(0)
    while chunk := handle.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest()
