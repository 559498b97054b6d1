"""Writing photos into the catalog: the verbs the single indexing writer calls.

Every verb here expects to run inside the writer's transaction (``db.transaction``), so a
batch of photos, their dimension rows and their full-text rows land together or not at
all. Dimension tables (cameras, lenses, places, dirs) keep filters fast: a query resolves
``camera:canon`` against a few hundred cameras, then uses an index on photos.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hachi.catalog.clock import utc_now
from hachi.textnorm import fold, terms_blob


@dataclass(frozen=True)
class PlaceRecord:
    name: str | None
    city: str | None
    region: str | None
    country: str | None
    country_code: str | None
    label: str


@dataclass(frozen=True)
class PhotoRecord:
    """Everything the pipeline learned about one file, flat, ready to store."""

    path: str
    folder_id: int
    dir_path: str
    dir_label: str
    size: int
    mtime_ns: int
    content_hash: str
    mime: str
    width: int | None
    height: int | None
    taken_at: str | None
    tz_offset: int | None
    taken_source: str | None
    camera_make: str | None
    camera_model: str | None
    camera_label: str | None
    lens: str | None
    focal_length: float | None
    aperture: float | None
    exposure_time: float | None
    iso: int | None
    latitude: float | None
    longitude: float | None
    altitude: float | None
    orientation: int | None
    place: PlaceRecord | None
    kind: str = "photo"  # MediaKind: "photo" or "video"
    duration_s: float | None = None  # videos only, as are the two below
    frame_rate: float | None = None
    codec: str | None = None
    phash: int | None = None  # media.perceptual, of the upright image
    chroma: bytes | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def ext(self) -> str:
        name = self.name
        return name.rsplit(".", 1)[-1].lower() if "." in name else ""


@dataclass(frozen=True)
class KnownFile:
    """What the catalog remembers of a path, to tell new, changed and unchanged apart."""

    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    failed: bool
    job_id: int | None


_KNOWN = (
    "SELECT id, path, size, mtime_ns, content_hash, 0, job_id FROM photos WHERE {where}"
    " UNION ALL SELECT id, path, size, mtime_ns, NULL, 1, job_id FROM failed_files"
    " WHERE {where}"
)
# The unary + keeps SQLite on the path index (a folder's index would read all of it).
_AT_OR_BELOW = "(path = ? OR (path >= ? AND path < ?)) AND +folder_id = ?"


def _known(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> dict[str, KnownFile]:
    rows = conn.execute(_KNOWN.format(where=where), params + params)
    return {r[1]: KnownFile(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows}


def known_files(conn: sqlite3.Connection, folder_id: int) -> dict[str, KnownFile]:
    return _known(conn, "folder_id = ?", (folder_id,))


def known_files_under(
    conn: sqlite3.Connection, folder_id: int, paths: Iterable[str]
) -> dict[str, KnownFile]:
    """What the catalog holds at or below each path: the other side of a scoped scan."""
    known: dict[str, KnownFile] = {}
    for path in paths:
        # '0' follows '/' in code points, so [path/, path0) is everything below path.
        known.update(_known(conn, _AT_OR_BELOW, (path, path + "/", path + "0", folder_id)))
    return known


def _dimension_id(
    conn: sqlite3.Connection, table: str, keys: dict[str, str], extra: dict[str, str]
) -> int:
    where = " AND ".join(f"{k} = ?" for k in keys)
    row = conn.execute(f"SELECT id FROM {table} WHERE {where}", tuple(keys.values())).fetchone()
    if row is not None:
        return int(row[0])
    cols = {**keys, **extra}
    marks = ", ".join("?" for _ in cols)
    cur = conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", tuple(cols.values())
    )
    return int(cur.lastrowid or 0)


def _camera_id(conn: sqlite3.Connection, rec: PhotoRecord) -> int | None:
    if not (rec.camera_make or rec.camera_model):
        return None
    make, model = rec.camera_make or "", rec.camera_model or ""
    label = rec.camera_label or f"{make} {model}".strip()
    return _dimension_id(
        conn,
        "cameras",
        {"make": make, "model": model},
        {"label": label, "terms": terms_blob(make, model, label)},
    )


def _lens_id(conn: sqlite3.Connection, lens: str | None) -> int | None:
    if not lens:
        return None
    return _dimension_id(conn, "lenses", {"name": lens}, {"terms": terms_blob(lens)})


def _place_id(conn: sqlite3.Connection, place: PlaceRecord | None) -> int | None:
    if place is None:
        return None
    keys = {
        "name": place.name or "",
        "city": place.city or "",
        "region": place.region or "",
        "country_code": place.country_code or "",
    }
    extra = {
        "country": place.country or "",
        "label": place.label,
        "terms": terms_blob(
            place.name, place.city, place.region, place.country, place.country_code
        ),
    }
    return _dimension_id(conn, "places", keys, extra)


def _dir_id(conn: sqlite3.Connection, rec: PhotoRecord) -> int:
    return _dimension_id(
        conn,
        "dirs",
        {"path": rec.dir_path},
        {
            "folder_id": str(rec.folder_id),
            "label": rec.dir_label,
            "terms": terms_blob(rec.dir_label),
        },
    )


DERIVED_TABLES = ("analyses", "photo_vectors", "video_moments", "ocr_text", "faces")
"""Rows computed from a photo's pixels; later migrations add their tables here."""

_PHOTO_COLUMNS = (
    "folder_id",
    "dir_id",
    "path",
    "name",
    "ext",
    "size",
    "mtime_ns",
    "content_hash",
    "mime",
    "width",
    "height",
    "taken_at",
    "tz_offset",
    "taken_source",
    "camera_id",
    "lens_id",
    "focal_length",
    "aperture",
    "exposure_time",
    "iso",
    "latitude",
    "longitude",
    "altitude",
    "orientation",
    "place_id",
    "job_id",
    "indexed_at",
    "kind",
    "duration_s",
    "frame_rate",
    "codec",
    "phash",
    "chroma",
)


def upsert_photo(conn: sqlite3.Connection, rec: PhotoRecord, job_id: int | None) -> int:
    """Insert a new photo or refresh a changed one, keeping its id (faces hang off it).

    When the content changed, what the models derived from the old pixels is dropped so
    every model pass picks the photo up again.
    """
    old = conn.execute("SELECT id, content_hash FROM photos WHERE path = ?", (rec.path,)).fetchone()
    if old is not None and old[1] != rec.content_hash:
        forget_derived(conn, int(old[0]))
    values = (
        rec.folder_id,
        _dir_id(conn, rec),
        rec.path,
        rec.name,
        rec.ext,
        rec.size,
        rec.mtime_ns,
        rec.content_hash,
        rec.mime,
        rec.width,
        rec.height,
        rec.taken_at,
        rec.tz_offset,
        rec.taken_source,
        _camera_id(conn, rec),
        _lens_id(conn, rec.lens),
        rec.focal_length,
        rec.aperture,
        rec.exposure_time,
        rec.iso,
        rec.latitude,
        rec.longitude,
        rec.altitude,
        rec.orientation,
        _place_id(conn, rec.place),
        job_id,
        utc_now(),
        rec.kind,
        rec.duration_s,
        rec.frame_rate,
        rec.codec,
        rec.phash,
        rec.chroma,
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in _PHOTO_COLUMNS if c != "path")
    row = conn.execute(
        f"INSERT INTO photos ({', '.join(_PHOTO_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _PHOTO_COLUMNS)}) "
        f"ON CONFLICT(path) DO UPDATE SET {updates} RETURNING id",
        values,
    ).fetchone()
    photo_id = int(row[0])
    conn.execute("DELETE FROM failed_files WHERE path = ?", (rec.path,))
    refresh_fts(conn, photo_id)
    return photo_id


def refresh_fts(conn: sqlite3.Connection, photo_id: int, ocr: str | None = None) -> None:
    """Rebuild one photo's full-text row from the catalog (names, folder, place, people)."""
    row = conn.execute(
        "SELECT p.name, d.label, pl.terms FROM photos p JOIN dirs d ON d.id = p.dir_id "
        "LEFT JOIN places pl ON pl.id = p.place_id WHERE p.id = ?",
        (photo_id,),
    ).fetchone()
    if row is None:
        return
    old = conn.execute("SELECT people, ocr FROM photos_fts WHERE rowid = ?", (photo_id,)).fetchone()
    people = old[0] if old else ""
    ocr_text = ocr if ocr is not None else (old[1] if old else "")
    conn.execute("DELETE FROM photos_fts WHERE rowid = ?", (photo_id,))
    conn.execute(
        "INSERT INTO photos_fts (rowid, name, folder, place, people, ocr) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (photo_id, fold(row[0]), fold(row[1]), (row[2] or "").replace("|", " "), people, ocr_text),
    )


def forget_derived(conn: sqlite3.Connection, photo_id: int) -> None:
    for table in DERIVED_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE photo_id = ?", (photo_id,))


def record_failure(
    conn: sqlite3.Connection,
    folder_id: int,
    path: str,
    size: int,
    mtime_ns: int,
    error: str,
    job_id: int | None,
) -> None:
    """Remember a file that could not be indexed, with why; a changed file is retried."""
    delete_photos(
        conn, [r[0] for r in conn.execute("SELECT id FROM photos WHERE path = ?", (path,))]
    )
    conn.execute(
        "INSERT INTO failed_files (folder_id, path, size, mtime_ns, error, job_id, failed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
        "mtime_ns = excluded.mtime_ns, error = excluded.error, job_id = excluded.job_id, "
        "failed_at = excluded.failed_at",
        (folder_id, path, size, mtime_ns, error, job_id, utc_now()),
    )


def move_photo(
    conn: sqlite3.Connection, photo_id: int, rec: PhotoRecord, job_id: int | None
) -> bool:
    """A file that moved keeps its id, so its faces and people survive the move.

    False, and nothing written, when the photo is gone (its folder was removed meanwhile).
    """
    if conn.execute("SELECT 1 FROM photos WHERE id = ?", (photo_id,)).fetchone() is None:
        return False
    conn.execute("DELETE FROM photos WHERE path = ? AND id != ?", (rec.path, photo_id))
    conn.execute(
        "UPDATE photos SET path = ?, name = ?, ext = ?, folder_id = ?, dir_id = ?, size = ?, "
        "mtime_ns = ?, job_id = ?, indexed_at = ? WHERE id = ?",
        (
            rec.path,
            rec.name,
            rec.ext,
            rec.folder_id,
            _dir_id(conn, rec),
            rec.size,
            rec.mtime_ns,
            job_id,
            utc_now(),
            photo_id,
        ),
    )
    conn.execute("DELETE FROM failed_files WHERE path = ?", (rec.path,))
    refresh_fts(conn, photo_id)
    return True


def delete_photos(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> int:
    ids = list(photo_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        conn.execute(f"DELETE FROM photos_fts WHERE rowid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)
    if ids:  # a near-duplicate group left with one photo is no group
        conn.execute(
            "DELETE FROM duplicates WHERE group_id IN "
            "(SELECT group_id FROM duplicates GROUP BY group_id HAVING COUNT(*) < 2)"
        )
    return len(ids)


def present_photo_ids(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> set[int]:
    """Those of ``photo_ids`` still in the catalog (a folder may be removed mid-pass)."""
    ids = list(photo_ids)
    present: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        rows = conn.execute(f"SELECT id FROM photos WHERE id IN ({marks})", chunk)
        present.update(int(r[0]) for r in rows)
    return present


def forget_failures(conn: sqlite3.Connection, paths: Iterable[str]) -> None:
    conn.executemany("DELETE FROM failed_files WHERE path = ?", ((p,) for p in paths))


def remove_folder(conn: sqlite3.Connection, folder_id: int) -> int:
    """Forget a root and everything indexed under it (originals are never touched)."""
    ids = [r[0] for r in conn.execute("SELECT id FROM photos WHERE folder_id = ?", (folder_id,))]
    delete_photos(conn, ids)
    conn.execute("DELETE FROM failed_files WHERE folder_id = ?", (folder_id,))
    conn.execute("DELETE FROM dirs WHERE folder_id = ?", (folder_id,))
    conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
    return len(ids)


def photos_with_hash(conn: sqlite3.Connection, content_hash: str) -> list[tuple[int, str]]:
    rows = conn.execute("SELECT id, path FROM photos WHERE content_hash = ?", (content_hash,))
    return [(int(r[0]), str(r[1])) for r in rows]
