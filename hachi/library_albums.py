"""Albums, as the CLI and the REST API ask for them (``Library.albums``).

Names are user text: trimmed, runs of spaces made one (as the query parser reads a quoted
value, so ``album:"NAME"`` always finds the album), not empty, at most ``MAX_ALBUM_NAME``
characters, no control characters, unique regardless of case. A smart album's query is
checked with the real parser when it is saved (its error points at the offending
characters), and refused when it leads back to the album itself. A plain album's photos
are chosen by id; ids that are no photo are refused all together, each named.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from hachi.catalog import albums as albums_db
from hachi.catalog import queries
from hachi.catalog.db import transaction
from hachi.catalog.handle import CatalogHandle
from hachi.errors import BadRequest, Conflict, NotFound
from hachi.search.albums import referenced_albums
from hachi.search.query import parse_query

MAX_ALBUM_NAME = 200
MAX_PHOTOS_PER_CALL = 100_000  # ids in one add or remove (a 1 MiB JSON body holds ~120,000)
MAX_NAMED_MISSING = 20  # ids named in the error when many are missing


def clean_album_name(name: object) -> str:
    if not isinstance(name, str):
        raise BadRequest("an album name must be text", {"field": "name"})
    clean = unicodedata.normalize("NFC", " ".join(name.split()))
    if not clean:
        raise BadRequest("an album name cannot be empty", {"field": "name"})
    if len(clean) > MAX_ALBUM_NAME:
        raise BadRequest(
            f"an album name is at most {MAX_ALBUM_NAME} characters (this one has {len(clean)})",
            {"field": "name"},
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in clean):
        raise BadRequest("an album name cannot hold control characters", {"field": "name"})
    return clean


class Albums:
    """The albums of one library, over the catalog handle it shares; ``matching_ids``
    runs a query the way search does (the semantic side included) for "all results"."""

    def __init__(self, catalog: CatalogHandle, matching_ids: Callable[[str], list[int]]) -> None:
        self.catalog = catalog
        self.matching_ids = matching_ids

    @property
    def conn(self) -> sqlite3.Connection:
        return self.catalog.conn

    def listed(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in albums_db.list_albums(self.conn)]

    def get(self, album_id: int) -> dict[str, Any]:
        return albums_db.get_album(self.conn, album_id).to_dict()

    def named(self, name: str) -> dict[str, Any]:
        album = albums_db.album_named(self.conn, name.strip())
        if album is None:
            raise NotFound(f"no album is named {name!r}", {"name": name})
        return album.to_dict()

    def create(self, name: object, query: object = None) -> dict[str, Any]:
        clean = clean_album_name(name)
        saved = None if query is None else self._checked_query(clean, query)
        with self.catalog.write_lock, transaction(self.conn):
            return albums_db.create_album(self.conn, clean, saved).to_dict()

    def update(self, album_id: int, name: object = None, query: object = None) -> dict[str, Any]:
        """Rename and/or change a smart album's query (None: unchanged)."""
        album = albums_db.get_album(self.conn, album_id)
        clean = album.name if name is None else clean_album_name(name)
        if query is not None and album.query is None:
            raise Conflict(
                f"album {album.name!r} is a plain album: it holds chosen photos, not a query",
                {"field": "query"},
            )
        saved = album.query if query is None else self._checked_query(clean, query)
        if saved is not None:
            self._check_cycles(clean, saved)
        with self.catalog.write_lock, transaction(self.conn):
            if clean != album.name:
                albums_db.rename_album(self.conn, album_id, clean)
            if saved != album.query and saved is not None:
                albums_db.set_album_query(self.conn, album_id, saved)
        return self.get(album_id)

    def delete(self, album_id: int) -> None:
        albums_db.get_album(self.conn, album_id)
        with self.catalog.write_lock, transaction(self.conn):
            albums_db.delete_album(self.conn, album_id)

    def photo_ids(self, album_id: int) -> list[int]:
        album = albums_db.get_album(self.conn, album_id)
        if album.query is not None:
            return sorted(self.matching_ids(f'album:"{_quoted(album.name)}"'))
        return albums_db.album_photo_ids(self.conn, album_id)

    def add(self, album_id: int, ids: Sequence[int]) -> dict[str, Any]:
        self._plain(album_id)
        self._check_ids(ids)
        with self.catalog.write_lock, transaction(self.conn):
            added = albums_db.add_photos(self.conn, album_id, ids)
        return {**self.get(album_id), "added": added}

    def remove(self, album_id: int, ids: Sequence[int]) -> dict[str, Any]:
        self._plain(album_id)
        self._check_ids(ids)
        with self.catalog.write_lock, transaction(self.conn):
            removed = albums_db.remove_photos(self.conn, album_id, ids)
        return {**self.get(album_id), "removed": removed}

    def selection(
        self, ids: Sequence[int] | None, query: str | None, excluded: Sequence[int] = ()
    ) -> list[int]:
        """Photos to act on: ids chosen one by one (each must exist; those that do not are
        named in one 404), or every photo a query finds ("select all N results") but the
        ``excluded`` ones (unselected since: their number is small, the rest may not be)."""
        if (ids is None) == (query is None):
            raise BadRequest("send either 'ids' or 'query'", {"field": "ids"})
        if excluded and query is None:
            raise BadRequest("'except' goes with 'query' only", {"field": "except"})
        if query is not None:
            left_out = set(excluded)
            return [i for i in self.matching_ids(query) if i not in left_out]
        assert ids is not None
        self._check_ids(ids)
        return list(dict.fromkeys(ids))

    def paths(self, ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, path on disk as indexed) of the photos, in order."""
        files = queries.photo_files(self.conn, list(ids))
        return [(i, files[i][1]) for i in ids if i in files]

    # -- checks --------------------------------------------------------------------------

    def _plain(self, album_id: int) -> albums_db.Album:
        album = albums_db.get_album(self.conn, album_id)
        if album.query is not None:
            raise Conflict(
                f"album {album.name!r} is a smart album: its photos are what its query "
                f"finds ({album.query}), so photos cannot be added or removed by hand",
                {"album_id": album_id},
            )
        return album

    def _check_ids(self, ids: Sequence[int]) -> None:
        if len(ids) > MAX_PHOTOS_PER_CALL:
            raise BadRequest(f"at most {MAX_PHOTOS_PER_CALL} photos at a time", {"field": "ids"})
        missing = albums_db.missing_photo_ids(self.conn, ids)
        if missing:
            shown = ", ".join(map(str, missing[:MAX_NAMED_MISSING]))
            extra = len(missing) - MAX_NAMED_MISSING
            more = f" and {extra} more" if extra > 0 else ""
            raise NotFound(f"no photo with id {shown}{more}", {"missing": missing})

    def _checked_query(self, name: str, query: object) -> str:
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("a smart album's query cannot be empty", {"field": "query"})
        parse_query(query)  # QuerySyntaxError: a 400 pointing at the offending characters
        self._check_cycles(name, query.strip())
        return query.strip()

    def _check_cycles(self, name: str, query: str) -> None:
        """Refuse a query that leads back to the album ``name`` through album: filters."""
        target = albums_db.name_key(name)
        pending, seen = referenced_albums(parse_query(query)), set()
        while pending:
            key = albums_db.name_key(pending.pop().strip())
            if key == target:
                raise BadRequest(
                    f"album {name!r} cannot contain itself: its query leads back to it "
                    "through album:",
                    {"field": "query", "code": "album_cycle"},
                )
            if key in seen:
                continue
            seen.add(key)
            album = albums_db.album_named(self.conn, key)
            if album is not None and album.query is not None:
                try:
                    pending += referenced_albums(parse_query(album.query))
                except BadRequest:
                    continue


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
