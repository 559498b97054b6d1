"""The bad-input corpus: every photo file ends up indexed or failed with a reason, and
nothing else in the folder is reported. Plus a real decompression bomb."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.media.formats import is_media_path
from tests.test_indexer_pipeline import index


@pytest.mark.slow
def test_every_corpus_photo_is_indexed_or_failed_with_a_reason(
    settings: Settings, corpus: Path
) -> None:
    exif = (corpus / "exif").resolve()
    job = index(settings, exif)
    assert job["state"] == "done"
    photo_files = {str(p) for p in exif.iterdir() if p.is_file() and is_media_path(p)}
    conn = connect(settings.catalog_path)
    try:
        indexed = {r[0] for r in conn.execute("SELECT path FROM photos")}
        failed = {r[0]: r[1] for r in conn.execute("SELECT path, error FROM failed_files")}
    finally:
        conn.close()
    assert indexed | set(failed) == photo_files
    assert not indexed & set(failed)
    assert all(reason.strip() for reason in failed.values())
    assert len(indexed) >= 0.8 * len(photo_files), "most of the corpus is readable"
    assert job["found"] == len(photo_files)
    assert job["done"] + job["failed"] == len(photo_files)


def _png_bomb(path: Path, side: int) -> None:
    """A real, valid PNG of side x side grey pixels that compresses to about a megabyte."""
    row = b"\x00" + b"\x00" * side
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row) for _ in range(side)]
    body = b"".join(chunks) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_from_its_header(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _png_bomb(folder / "bomb.png", 30000)
    assert (folder / "bomb.png").stat().st_size < 2_000_000
    job = index(settings, folder)
    assert (job["state"], job["failed"]) == ("done", 1)
    conn = connect(settings.catalog_path)
    try:
        (error,) = conn.execute("SELECT error FROM failed_files").fetchone()
    finally:
        conn.close()
    assert "30000x30000" in error and "too large" in error
