"""Albums in the catalog: smart ones keep a query, plain ones keep chosen photo ids.

Albums refer to photos by id, and a photo keeps its id when its file is moved, rescanned
or re-embedded, so membership survives all three. A photo that leaves the index leaves
its albums with it (``ON DELETE CASCADE``). Names are unique regardless of case
(``name_key``); checking that a name is acceptable at all is the service's job.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hachi.catalog.clock import utc_now
from hachi.errors import Conflict, NotFound

SMART, PLAIN = "smart", "plain"


@dataclass(frozen=True)
class Album:
    id: int
    name: str
    kind: str  # SMART | PLAIN
    query: str | None  # the saved query of a smart album
    photos: int | None  # chosen photos of a plain album; None for a smart one (it is live)
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def name_key(name: str) -> str:
    """What two names must differ in to be two albums: case and runs of spaces never
    count (the query parser collapses spaces in quoted values too)."""
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()


_SELECT = """
    SELECT a.id, a.name, a.query, a.created_at, a.updated_at,
           (SELECT COUNT(*) FROM album_photos ap WHERE ap.album_id = a.id) AS photos
    FROM albums a
"""


def _album(row: sqlite3.Row | tuple[Any, ...]) -> Album:
    album_id, name, query, created, updated, photos = tuple(row)
    smart = query is not None
    return Album(
        int(album_id), name, SMART if smart else PLAIN, query,
        None if smart else int(photos), created, updated,
    )  # fmt: skip


def list_albums(conn: sqlite3.Connection) -> list[Album]:
    rows = conn.execute(f"{_SELECT} ORDER BY a.name_key, a.id")
    return [_album(r) for r in rows]


def get_album(conn: sqlite3.Connection, album_id: int) -> Album:
    row = conn.execute(f"{_SELECT} WHERE a.id = ?", (album_id,)).fetchone()
    if row is None:
        raise NotFound(f"no album with id {album_id}", {"album_id": album_id})
    return _album(row)


def album_named(conn: sqlite3.Connection, name: str) -> Album | None:
    row = conn.execute(f"{_SELECT} WHERE a.name_key = ?", (name_key(name),)).fetchone()
    return None if row is None else _album(row)


def create_album(conn: sqlite3.Connection, name: str, query: str | None) -> Album:
    now = utc_now()
    try:
        cur = conn.execute(
            "INSERT INTO albums (name, name_key, query, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, name_key(name), query, now, now),
        )
    except sqlite3.IntegrityError:
        raise _taken(conn, name) from None
    return get_album(conn, int(cur.lastrowid or 0))


def rename_album(conn: sqlite3.Connection, album_id: int, name: str) -> None:
    try:
        conn.execute(
            "UPDATE albums SET name = ?, name_key = ?, updated_at = ? WHERE id = ?",
            (name, name_key(name), utc_now(), album_id),
        )
    except sqlite3.IntegrityError:
        raise _taken(conn, name) from None


def set_album_query(conn: sqlite3.Connection, album_id: int, query: str) -> None:
    conn.execute(
        "UPDATE albums SET query = ?, updated_at = ? WHERE id = ?", (query, utc_now(), album_id)
    )


def _taken(conn: sqlite3.Connection, name: str) -> Conflict:
    other = album_named(conn, name)
    return Conflict(
        f"an album named {other.name if other else name!r} already exists",
        {"field": "name", "album_id": other.id if other else None},
    )


def delete_album(conn: sqlite3.Connection, album_id: int) -> None:
    conn.execute("DELETE FROM albums WHERE id = ?", (album_id,))


def missing_photo_ids(conn: sqlite3.Connection, ids: Sequence[int]) -> list[int]:
    """Those of ``ids`` that are no photo in the catalog, in the order given."""
    found = {
        int(r[0])
        for r in conn.execute(
            "SELECT p.id FROM json_each(?) j JOIN photos p ON p.id = j.value",
            (json.dumps(list(ids)),),
        )
    }
    return [i for i in dict.fromkeys(ids) if i not in found]


def add_photos(conn: sqlite3.Connection, album_id: int, ids: Sequence[int]) -> int:
    """Adds the photos (those already in stay as they are); returns how many were new."""
    before = conn.total_changes
    conn.execute(
        "INSERT OR IGNORE INTO album_photos (album_id, photo_id, added_at) "
        "SELECT ?, value, ? FROM json_each(?)",
        (album_id, utc_now(), json.dumps(list(ids))),
    )
    added = conn.total_changes - before
    _touch(conn, album_id)
    return added


def remove_photos(conn: sqlite3.Connection, album_id: int, ids: Sequence[int]) -> int:
    before = conn.total_changes
    conn.execute(
        "DELETE FROM album_photos WHERE album_id = ? AND photo_id IN "
        "(SELECT value FROM json_each(?))",
        (album_id, json.dumps(list(ids))),
    )
    removed = conn.total_changes - before
    _touch(conn, album_id)
    return removed


def _touch(conn: sqlite3.Connection, album_id: int) -> None:
    conn.execute("UPDATE albums SET updated_at = ? WHERE id = ?", (utc_now(), album_id))


def album_photo_ids(conn: sqlite3.Connection, album_id: int) -> list[int]:
    rows = conn.execute(
        "SELECT photo_id FROM album_photos WHERE album_id = ? ORDER BY photo_id", (album_id,)
    )
    return [int(r[0]) for r in rows]
