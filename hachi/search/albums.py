"""Smart albums inside queries: ``album:NAME`` of a smart album means its saved query.

A smart album used on its own (``album:"Beach days" dog``: not negated, one value) is
spliced in: its filters join the query's and its words join the query's words, so the
album ranks by meaning exactly as its saved query does on its own page. Negated, or one
of several albums in a filter, it becomes a group of its saved filters (an SQL group in
``catalog.conditions``); words cannot be negated or OR-ed by meaning, so there a saved
query with words is refused with a message that says how to use it.

Albums may refer to albums; one that reaches itself is refused, never followed forever.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from hachi.catalog import albums as albums_db
from hachi.catalog.conditions import Condition
from hachi.errors import BadRequest, QuerySyntaxError
from hachi.search.filters import FILTERS, FilterKey
from hachi.search.query import Filter, Query, parse_query

PlanSaved = Callable[[Query, tuple[int, ...]], tuple[Condition, ...]]


def splice(conn: sqlite3.Connection, query: Query, inside: tuple[int, ...] = ()) -> Query:
    """``query`` with each lone smart album replaced by its saved query (recursively)."""
    filters: list[Filter] = []
    texts, phrases, sort = [query.text], list(query.phrases), query.sort
    for item in query.filters:
        album = _lone_smart_album(conn, item)
        if album is None:
            filters.append(item)
            continue
        saved = splice(conn, saved_query(album, inside), (*inside, album.id))
        filters += saved.filters
        texts.append(saved.text)
        phrases += saved.phrases
        sort = sort or saved.sort
    return Query(" ".join(t for t in texts if t), tuple(phrases), tuple(filters), sort)


def _lone_smart_album(conn: sqlite3.Connection, item: Filter) -> albums_db.Album | None:
    if item.key is not FilterKey.ALBUM or item.negated or len(item.values) != 1:
        return None
    album = albums_db.album_named(conn, str(item.values[0]))
    return album if album is not None and album.query is not None else None


def saved_query(album: albums_db.Album, inside: tuple[int, ...]) -> Query:
    """The parsed query of a smart album, refusing one that leads back to itself."""
    if album.id in inside:
        raise BadRequest(
            f'album "{album.name}" refers to itself through its query',
            {"album": album.name, "code": "album_cycle"},
        )
    assert album.query is not None
    try:
        return parse_query(album.query)
    except QuerySyntaxError as error:  # saved by an older Hachi with other rules
        raise BadRequest(
            f'the query of album "{album.name}" is not valid: {error.message}',
            {"album": album.name, **(error.detail or {})},
        ) from None


def conditions_of(
    album: albums_db.Album, inside: tuple[int, ...], plan: PlanSaved
) -> tuple[Condition, ...]:
    """A smart album as a group of conditions (negated or among other albums)."""
    saved = saved_query(album, inside)
    ranks = saved.text or any(FILTERS[f.key].match is None for f in saved.filters)
    if ranks:
        raise BadRequest(
            f'album "{album.name}" ranks photos by meaning, which cannot be negated or '
            f'combined with other albums in one filter: use album:"{album.name}" alone',
            {"album": album.name},
        )
    return plan(saved, (*inside, album.id))


def referenced_albums(query: Query) -> list[str]:
    """The album names a query mentions."""
    return [str(v) for f in query.filters_for(FilterKey.ALBUM) for v in f.values]
