"""``/api/search?timeline=1`` for a semantic query sorted by date: the first page and the
timeline from one plan and one ranking, against the way before (the page, then the
timeline planned and ranked again), in one run.

    .venv/bin/python bench/bench_timeline.py [--size 100000] [--runs 40]

Reuses bench_semantic_search.py's synthetic catalog (bench/data/semantic-search-clustered-N,
built there on first use, with the random-weight ViT-B-32 from
bench/data/semantic-home). Both paths run in this process on the same Library, alternating
query by query so that both see the same load, each query a new text (the text cache
answers only the old path's second lookup, as it did in the server). "before" is what the
route did until now: ``Library.search`` then ``Library.timeline``; "after" is
``Library.search(..., with_timeline=True)``. Before timing, the two answers are compared
for a few queries (pages and timelines identical, ``took_ms`` aside).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_semantic_search import build, load_average, query_texts  # noqa: E402

from hachi.library import Library  # noqa: E402

LIMIT = 100  # the UI's first page
FILTER_QUERY = "camera:canon sort:date"


def before(library: Library, q: str) -> dict[str, Any]:
    page = library.search(q, limit=LIMIT)
    page["timeline"] = None if page["order"] == "rank" else library.timeline(q)
    return page


def after(library: Library, q: str) -> dict[str, Any]:
    return library.search(q, limit=LIMIT, with_timeline=True)


def same_answer(library: Library, q: str) -> None:
    old, new = before(library, q), after(library, q)
    old.pop("took_ms")
    new.pop("took_ms")
    assert old == new, f"the two paths differ for {q!r}"
    assert new["timeline"] and new["timeline"]["days"], q


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def alternate(library: Library, queries: Iterator[str], runs: int) -> tuple[list[float], ...]:
    old: list[float] = []
    new: list[float] = []
    for i in range(runs):
        first, second = (old, new) if i % 2 == 0 else (new, old)
        for samples in (first, second):
            q = next(queries)
            path = before if samples is old else after
            samples.append(timed(lambda q=q, path=path: path(library, q)))
    return old, new


def report(name: str, old: list[float], new: list[float]) -> None:
    p50_old, p50_new = statistics.median(old), statistics.median(new)
    print(
        f"{name}: before p50 {p50_old:.1f} ms, after p50 {p50_new:.1f} ms: "
        f"{p50_old / p50_new:.2f}x  [load {load_average()}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    library = Library(build(args.size))
    texts = query_texts()
    try:
        library.search(next(texts), limit=LIMIT)  # loads the text tower and the row map
        for _ in range(3):
            same_answer(library, next(texts) + " sort:date")
        same_answer(library, FILTER_QUERY)
        print(f"== {args.size:,} photos; same answers both ways; load {load_average()}")
        semantic = (q + " sort:date" for q in texts)
        report("semantic text, sort:date", *alternate(library, semantic, args.runs))
        filters = itertools.repeat(FILTER_QUERY)
        report("filters only, sort:date", *alternate(library, filters, args.runs))
    finally:
        library.close()


if __name__ == "__main__":
    main()
