"""The semantic path of a search: CLIP scores blended with lexical matches, cut, filtered.

Order of work for one query over N photos: the int8 pass scores all N, or the share of
them the IVF index points to (the one step that grows with the library), the lexical side
(vocabulary counts, then full text only for words the library has) runs on a second
thread meanwhile, the cutoff is fitted on exact scores of its fixed sample, the photos
that can reach it are re-scored exactly, and only then are filters checked, on the few
thousand photos the cutoff kept.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hachi.catalog import queries
from hachi.catalog.queries import Criteria
from hachi.search import ranking
from hachi.search.query import Query, SortOrder
from hachi.search.ranking import MAX_MORE
from hachi.search.semantic import SemanticIndex, Snapshot, refine_margin, sort_ids
from hachi.textnorm import fold

LEXICAL_LIMIT = 2_000  # lexical matches considered per query in semantic ranking
STOPWORDS = frozenset(
    "a an and at by for from in into is of on or the to with photo photos picture pictures "
    "image images".split()
)
OVERLAP_MIN_PHOTOS = 250_000
"""From this size the SQL side of a query runs beside the scoring (measured at 1,000,000
photos: 82.7 vs 90.6 ms p50; at 100,000: 0.9 ms slower, so not there)."""


def rank_semantic(
    conn: sqlite3.Connection,
    semantic: SemanticIndex,
    query: Query,
    criteria: Criteria,
    vector: NDArray[np.float32],
    exclude: set[int],
    more: int,
) -> tuple[list[int], list[float], dict[str, Any]]:
    snap = semantic.snapshot(conn)
    ids, rows = snap.photo_ids, snap.rows
    sorted_ids: tuple[NDArray[np.int64], NDArray[np.int64]] | None = snap.sorted_ids()
    filter_first = bool(criteria.conditions) and more >= MAX_MORE
    mask = _candidates(conn, ids, exclude, criteria if filter_first else None)
    if mask is not None:
        ids, rows, sorted_ids = ids[mask], rows[mask], None
    filter_after = bool(criteria.conditions) and not filter_first
    # The IVF index may miss photos far from the query's lists. Without filters those are
    # photos the cutoff drops anyway; a filter could keep only such photos, and "show
    # everything" must be complete, so those queries read every row.
    probe = not criteria.conditions and more < MAX_MORE

    def sql_side() -> tuple[NDArray[np.float32], NDArray[np.bool_], int]:
        lexical, must_keep = lexical_scores(conn, query.text, ids, sorted_ids)
        matching = queries.count_matching(conn, criteria) if filter_after else 0
        return lexical, must_keep, matching

    # The SQL side needs no score: on a big library, or with a filter to count, it runs on
    # its own thread (with this request's connection, which nothing else uses meanwhile)
    # while ONNX Runtime scores. On a small one the thread costs more than it hides.
    if filter_after or len(ids) >= OVERLAP_MIN_PHOTOS:
        with ThreadPoolExecutor(1, thread_name_prefix="hachi-sql") as pool:
            sql_job = pool.submit(sql_side)
            clip, best_rows, starts = semantic.moment_scores(snap, vector, probe)
            lexical, must_keep, matching = sql_job.result()
    else:
        lexical, must_keep, matching = sql_side()
        clip, best_rows, starts = semantic.moment_scores(snap, vector, probe)
    rows = best_rows if mask is None else best_rows[mask]
    if mask is not None:
        clip = clip[mask]
        starts = None if starts is None else starts[mask]
    threshold = _exact_cutoff(semantic, snap, vector, rows, clip, must_keep, more)
    ranked = ranking.rank_above(clip, lexical, must_keep, threshold)
    order_ids = [int(ids[i]) for i in ranked.order]
    moments = _moment_starts(ids, starts, ranked.order)
    scores = [float(s) for s in ranked.scores]
    hidden = ranked.hidden
    if filter_after:
        order_ids, scores = _allowed(conn, criteria, order_ids, scores)
        hidden = max(0, matching - len(order_ids))
    if query.sort in (SortOrder.DATE_DESC, SortOrder.DATE_ASC):
        order_ids, scores = _by_date(conn, order_ids, scores, query.sort == SortOrder.DATE_ASC)
    extra = {
        "semantic": True,
        "model": semantic.model,
        "query_encoder": "int8" if semantic.clip.text_quantized else "float32",
        "cutoff": ranked.cutoff,
        "hidden": hidden,
        "more": more,
        "moments": moments,
        "first_pass": "index" if probe and snap.ann is not None else "all",
    }
    return order_ids, scores, extra


def _moment_starts(
    ids: NDArray[np.int64], starts: NDArray[np.float32] | None, order: NDArray[np.int64]
) -> dict[int, float]:
    """Photo id -> start of the best moment, for the ranked videos."""
    if starts is None:
        return {}
    videos = order[~np.isnan(starts[order])]
    return dict(zip(ids[videos].tolist(), starts[videos].tolist(), strict=True))


def _allowed(
    conn: sqlite3.Connection, criteria: Criteria, ids: list[int], scores: list[float]
) -> tuple[list[int], list[float]]:
    """The ranked photos the filters allow, in order. Relevance does not depend on the
    filters, so the cutoff is taken over the whole library and only the photos it keeps are
    checked: a few thousand ids instead of every match of `camera:canon` in a million."""
    allowed = queries.ids_among(conn, criteria, ids)
    kept = [(pid, score) for pid, score in zip(ids, scores, strict=True) if pid in allowed]
    return [pid for pid, _ in kept], [score for _, score in kept]


def _candidates(
    conn: sqlite3.Connection,
    ids: NDArray[np.int64],
    exclude: set[int],
    filters: Criteria | None,
) -> NDArray[np.bool_] | None:
    """Which snapshot photos can be answers (None: all): not the example photos of
    ``similar:``, and, when everything is ranked, only the photos the filters allow."""
    mask: NDArray[np.bool_] | None = None
    if exclude:
        mask = ~np.isin(ids, np.asarray(sorted(exclude), dtype=np.int64))
    if filters is not None:
        allowed = np.asarray(queries.all_ids_matching(conn, filters), dtype=np.int64)
        allowed_mask = np.isin(ids, allowed)
        mask = allowed_mask if mask is None else mask & allowed_mask
    return mask


def _exact_cutoff(
    semantic: SemanticIndex,
    snap: Snapshot,
    vector: NDArray[np.float32],
    rows: NDArray[np.int64],
    clip: NDArray[np.float32],
    must_keep: NDArray[np.bool_],
    more: int,
) -> float | None:
    """The cutoff, with ``clip`` made exact (in place) wherever the answer depends on it.

    Int8 scores only choose candidates: the cutoff is fitted on exact scores of its fixed
    sample (the same numbers with or without the int8 copy), then every photo that could
    reach it (or is kept anyway) is re-scored, so shown photos and their order are exact.
    """
    sampled = ranking.sample_positions(len(clip))
    if sampled is None or more >= MAX_MORE:  # a small library, or everything shown
        if snap.approximate:
            clip[:] = semantic.exact_scores(snap, vector, rows)
        return ranking.cutoff(clip, more)
    exact = semantic.sample_scores(snap, vector, rows, sampled)
    threshold = ranking.cutoff_of_sample(exact, len(clip), more)
    if snap.approximate and threshold is not None:
        # positions whose exact score could reach the cutoff, plus those kept anyway
        margin = refine_margin(clip[sampled], exact)
        near = np.flatnonzero((clip >= threshold - margin) | must_keep)
        clip[near] = semantic.exact_scores(snap, vector, rows[near])
    return threshold


def lexical_scores(
    conn: sqlite3.Connection,
    text: str,
    ids: NDArray[np.int64],
    sorted_ids: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Per candidate: lexical relevance (any word) and whether every word matched (zeros
    for a query without words).

    Word counts come from the index's vocabulary first: a word in no photo drops out of the
    "any word" query and makes the "every word" one pointless, so a query whose words name
    nothing in the library (most descriptions of a scene) costs no full-text query at all.
    """
    counts = {
        w: queries.photos_with_prefix(conn, w)
        for w in fold(text).split()
        if w not in STOPWORDS and len(w) > 1
    }
    words = [w for w, count in counts.items() if 0 < count <= LEXICAL_LIMIT]
    if not words:
        return np.zeros(len(ids), np.float32), np.zeros(len(ids), bool)
    any_word = queries.fts_scores(conn, words, every=False, limit=LEXICAL_LIMIT)
    every_word: dict[int, float] = {}
    if all(counts.values()):  # no typed word is missing from the library
        every_word = queries.fts_scores(conn, words, every=True, limit=LEXICAL_LIMIT)
    sorted_ids = sort_ids(ids) if sorted_ids is None else sorted_ids
    lexical = scatter(ids, any_word, sorted_ids)
    if len(every_word) >= LEXICAL_LIMIT:
        # The words are everywhere (a home town, "img"): a boost, not a reason to keep.
        return lexical, np.zeros(len(ids), bool)
    return lexical, scatter(ids, every_word, sorted_ids) != 0


def scatter(
    ids: NDArray[np.int64],
    values: dict[int, float],
    sorted_ids: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> NDArray[np.float32]:
    """values[id] at each id's position (0 elsewhere), vectorised for million-photo sets.

    ``sorted_ids`` (ids ascending, their positions) is the snapshot's cached sort, which
    saves sorting a million ids on every query."""
    out = np.zeros(len(ids), dtype=np.float32)
    if not values or not len(ids):
        return out
    keys = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
    vals = np.fromiter(values.values(), dtype=np.float32, count=len(values))
    ascending, order = sort_ids(ids) if sorted_ids is None else sorted_ids
    where = np.clip(np.searchsorted(ascending, keys), 0, len(ids) - 1)
    found = ascending[where] == keys
    out[order[where[found]]] = np.where(vals[found] == 0, np.float32(1e-6), vals[found])
    return out


def _by_date(
    conn: sqlite3.Connection, ids: list[int], scores: list[float], ascending: bool
) -> tuple[list[int], list[float]]:
    taken = queries.taken_at_of(conn, ids)
    pairs = sorted(
        zip(ids, scores, strict=True),
        key=lambda p: (taken.get(p[0]) or "", p[0]),
        reverse=not ascending,
    )
    return [p[0] for p in pairs], [p[1] for p in pairs]
