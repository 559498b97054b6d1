"""Natural-language search latency, text encoder included, at 100,000 and 1,000,000 photos.

    .venv-export/bin/python tools/make_vitb32_random.py        # once: the ViT-B-32 model
    .venv/bin/python bench/bench_semantic_search.py [--sizes 100000 1000000] [--runs 100]

Each catalog is built once under bench/data/semantic-search-<N>/ and reused: photo rows
(random dates, cameras, places, folders) written with direct SQL in big transactions, the
full-text rows the indexer would write, a vector file of random unit float16 rows, and
the photo-to-row map committed through hachi.catalog.analyses.store_vectors, as the
indexer commits it. The random-weight ViT-B-32 answers the text queries.

Timed: Library.search(q, limit=100), as the REST API calls it, with every query text
different, so the text-embedding cache never answers (p50/p99; target p50 <= 15 ms at
100k and <= 80 ms at 1M). Then the same work split into its parts (text encoding,
scoring, lexical SQL, aligning lexical hits with the photos, the adaptive cutoff,
result rows) and a filtered query, each with the alternative the report proposes timed
beside it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hachi.catalog import analyses, queries  # noqa: E402
from hachi.catalog import folders as folders_db  # noqa: E402
from hachi.catalog.db import connect, transaction  # noqa: E402
from hachi.config import Settings  # noqa: E402
from hachi.library import Library  # noqa: E402
from hachi.search import engine, hybrid, ranking  # noqa: E402
from hachi.search.query import parse_query  # noqa: E402
from hachi.search.semantic import SemanticIndex, refine_margin  # noqa: E402
from hachi.textnorm import terms_blob  # noqa: E402
from hachi.vectors import VectorStore, vector_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
MODEL_HOME = DATA / "semantic-home"
MODEL_NAME = "vitb32-random"
DIM = 512
ROWS_PER_COMMIT = 50_000
TARGET_P50_MS = {100_000: 15.0, 1_000_000: 80.0}
LIMIT = 100  # the REST API's default page
FILTER = "camera:canon"
CAMERAS = (
    [("Canon", f"Canon EOS {m}") for m in ("5D", "R5", "R6", "90D", "M50")]
    + [
        (make, model)
        for make, models in (("NIKON CORPORATION", ("D850", "Z 6")), ("SONY", ("ILCE-7M4",)))
        for model in models
    ]
    + [("Apple", f"iPhone {n}") for n in range(8, 16)]
)
SUBJECTS = (
    "dog cat child bicycle boat car castle mountain lake tree flower cake bridge "
    "horse train kite guitar sunset waterfall lighthouse".split()
)
SCENES = "beach snow forest meadow desert garden kitchen street river market".split()
CROWDED_WORD = "city"  # every synthetic place is in a "City N": a word matching 70 % of photos
MODIFIERS = "red old small happy wet sleeping running tall blue wooden".split()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def query_texts() -> Iterator[str]:
    """Distinct queries (2,000 before any repeats), so no run hits the text cache."""
    combos = list(itertools.product(MODIFIERS, SUBJECTS, SCENES))
    random.Random(3).shuffle(combos)
    for round_ in itertools.count():
        for modifier, subject, scene in combos:
            yield f"{modifier} {subject} on the {scene}" + (f" {round_}" if round_ else "")


# -- building the catalog --------------------------------------------------------------------


def settings_for(size: int) -> Settings:
    return Settings.from_env(
        {},
        home=DATA / f"semantic-search-{size}",
        models_dir=MODEL_HOME / "models",
        clip_model=MODEL_NAME,
        ocr=False,
        face_backend="none",
    )


def build(size: int) -> Settings:
    settings = settings_for(size)
    settings.ensure_dirs()
    conn = connect(settings.catalog_path)
    try:
        state = analyses.vector_set_state(conn, MODEL_NAME)
        if state is None or state[0] != size:
            started = time.perf_counter()
            _fill(conn, settings, size)
            print(f"built a {size:,}-photo catalog in {time.perf_counter() - started:.0f} s")
        # a writer brings the int8 search copy up to date (built once for older catalogs)
        started = time.perf_counter()
        path = vector_file(settings.vectors_dir, MODEL_NAME)
        VectorStore(path, DIM, size, search_copy=True).close()
        print(f"int8 search copy checked or built in {time.perf_counter() - started:.1f} s")
    finally:
        conn.close()
    return settings


def _fill(conn: Any, settings: Settings, size: int) -> None:
    if conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0]:
        raise SystemExit(f"{settings.home} is half built: delete it and run again")
    root = settings.home / "photos"
    folder = folders_db.add_folder(conn, str(root))
    dims = _dimensions(conn, folder.id, str(root))
    rng = random.Random(size)
    for start in range(0, size, ROWS_PER_COMMIT):
        with transaction(conn):
            conn.executemany(PHOTO_INSERT, _photo_rows(rng, start, size, folder.id, dims))
    with transaction(conn):
        conn.execute(FTS_FILL)
    _fill_vectors(conn, settings, size)


def _dimensions(conn: Any, folder_id: int, root: str) -> dict[str, list[Any]]:
    """Cameras, places and year/month folders, as the writer verbs would have made them."""
    with transaction(conn):
        for make, model in CAMERAS:
            conn.execute(
                "INSERT INTO cameras (make, model, label, terms) VALUES (?, ?, ?, ?)",
                (make, model, model, terms_blob(make, model)),
            )
        for i in range(3000):
            name, city, country = f"Town {i}", f"City {i % 300}", f"Country {i % 90}"
            conn.execute(
                "INSERT INTO places (name, city, region, country, country_code, label, terms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    city,
                    f"Region {i % 40}",
                    country,
                    f"C{i % 90}",
                    f"{name}, {city}, {country}",
                    terms_blob(name, city, country),
                ),
            )
        for year, month in itertools.product(range(2000, 2026), range(1, 13)):
            label = f"photos/{year}/{month:02d}"
            conn.execute(
                "INSERT INTO dirs (folder_id, path, label, terms) VALUES (?, ?, ?, ?)",
                (folder_id, f"{root}/{year}/{month:02d}", label, terms_blob(label)),
            )
    return {
        t: [r[0] for r in conn.execute(f"SELECT id FROM {t} ORDER BY id")]
        for t in ("cameras", "places", "dirs")
    }


PHOTO_INSERT = (
    "INSERT INTO photos (folder_id, dir_id, path, name, ext, size, mtime_ns, content_hash, "
    "mime, width, height, taken_at, taken_source, camera_id, place_id, orientation, "
    "indexed_at) VALUES (?, ?, ?, ?, 'jpg', 3000000, ?, ?, 'image/jpeg', 4000, 3000, ?, "
    "'DateTimeOriginal', ?, ?, 1, '2025-01-01T00:00:00.000Z')"
)
FTS_FILL = (
    "INSERT INTO photos_fts (rowid, name, folder, place, people, ocr) "
    "SELECT p.id, lower(p.name), lower(d.label), replace(coalesce(pl.terms, ''), '|', ' '), "
    "'', '' FROM photos p JOIN dirs d ON d.id = p.dir_id LEFT JOIN places pl ON pl.id = "
    "p.place_id"
)


def _photo_rows(
    rng: random.Random, start: int, size: int, folder_id: int, dims: dict[str, list[Any]]
) -> Iterator[tuple[Any, ...]]:
    for i in range(start, min(size, start + ROWS_PER_COMMIT)):
        dir_index = rng.randrange(len(dims["dirs"]))
        year, month = 2000 + dir_index // 12, 1 + dir_index % 12
        name = f"IMG_{i:07d}.jpg"
        place = rng.choice(dims["places"]) if rng.random() < 0.7 else None
        yield (
            folder_id,
            dims["dirs"][dir_index],
            f"/photos/{year}/{month:02d}/{name}",
            name,
            i,
            f"{i:032x}",
            f"{year}-{month:02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00",
            rng.choice(dims["cameras"]),
            place,
        )


def _fill_vectors(conn: Any, settings: Settings, size: int) -> None:
    """Random unit rows, then each chunk's map committed the way the indexer commits it."""
    rng = np.random.default_rng(size)
    ids = [r[0] for r in conn.execute("SELECT id FROM photos ORDER BY id")]
    committed = analyses.committed_rows(conn, MODEL_NAME, DIM)
    path = vector_file(settings.vectors_dir, MODEL_NAME)
    with VectorStore(path, DIM, committed, search_copy=True) as store:
        for start in range(0, size, ROWS_PER_COMMIT):
            chunk = ids[start : start + ROWS_PER_COMMIT]
            first = store.append(rng.standard_normal((len(chunk), DIM), dtype=np.float32))
            with transaction(conn):
                analyses.store_vectors(conn, MODEL_NAME, chunk, first)


# -- timing --------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


def end_to_end(library: Library, texts: Iterator[str], runs: int, suffix: str = "") -> list[float]:
    samples = []
    for _ in range(runs):
        q = next(texts) + suffix
        result, ms = timed(lambda q=q: library.search(q, limit=LIMIT))
        assert result["semantic"] and result["results"], result.get("notices")
        samples.append(ms)
    return samples


def split(library: Library, texts: Iterator[str], runs: int) -> dict[str, list[float]]:
    """The engine's semantic path, step by step, with the same functions it calls."""
    semantic, conn = library.semantic, library.conn
    assert semantic is not None
    parts: dict[str, list[float]] = {}
    for _ in range(runs):
        text = next(texts)
        for name, ms in _one_split(semantic, conn, text).items():
            parts.setdefault(name, []).append(ms)
    return parts


def _one_split(semantic: SemanticIndex, conn: Any, text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    query = parse_query(text)
    vector, out["text encode (uncached)"] = timed(lambda: semantic.text_vector(query.text))
    snap, out["snapshot check (SQL)"] = timed(lambda: semantic.snapshot(conn))
    clip, out["int8 scoring (all photos)"] = timed(lambda: semantic.scores(snap, vector))
    exact_f16, out["f16 scoring (all, for comparison)"] = timed(
        lambda: semantic.exact_scores(snap, vector, snap.rows)
    )
    sampled = ranking.sample_positions(len(clip))
    assert sampled is not None
    exact, out["exact sample (f16, rows held)"] = timed(
        lambda: semantic.sample_scores(snap, vector, snap.rows, sampled)
    )
    margin = refine_margin(clip[sampled], exact)
    threshold, out["cutoff (2-Gaussian EM)"] = timed(
        lambda: ranking.cutoff_of_sample(exact, len(clip))
    )
    assert threshold is not None
    near = np.flatnonzero(clip >= threshold - margin)
    out["rows near the cutoff [count]"] = float(len(near))
    refined, out["exact near cutoff (f16 gather)"] = timed(
        lambda: semantic.exact_scores(snap, vector, snap.rows[near])
    )
    clip[near] = refined
    (lexical, keep), out["lexical (vocabulary, then FTS if a word is there)"] = timed(
        lambda: hybrid.lexical_scores(conn, query.text, snap.photo_ids, snap.sorted_ids())
    )
    ranked, out["blend + sort kept"] = timed(
        lambda: ranking.rank_above(clip, lexical, keep, threshold)
    )
    top = [int(snap.photo_ids[i]) for i in ranked.order[:LIMIT]]
    _, out["result rows (SQL)"] = timed(lambda: queries.photo_rows(conn, top))
    error = np.abs(semantic.scores(snap, vector) - exact_f16).max()
    out["int8 vs f16 max error [cosine]"] = float(error)
    return out


def filtered_split(library: Library, text: str) -> dict[str, float]:
    """What a filter adds: the id list from SQL, then a mask over every photo."""
    semantic, conn = library.semantic, library.conn
    assert semantic is not None
    query = parse_query(f"{text} {FILTER}")
    criteria = replace(engine.plan_query(conn, query, "date_desc").criteria, words=())
    ids = semantic.snapshot(conn).photo_ids
    allowed, sql_ms = timed(
        lambda: np.asarray(queries.all_ids_matching(conn, criteria), dtype=np.int64)
    )
    mask, isin_ms = timed(lambda: np.isin(ids, allowed))
    lut_mask, lut_ms = timed(lambda: _lookup_mask(ids, allowed))
    assert np.array_equal(mask, lut_mask)
    return {
        f"filter ids (SQL), {len(allowed):,} ids": sql_ms,
        "mask: np.isin (engine now)": isin_ms,
        "mask: id lookup table (alternative)": lut_ms,
    }


def _lookup_mask(ids: NDArray[np.int64], allowed: NDArray[np.int64]) -> NDArray[np.bool_]:
    """One boolean per photo id, then one fancy-index over the snapshot's ids."""
    table = np.zeros(int(max(ids.max(), allowed.max(initial=0))) + 1, dtype=bool)
    table[allowed] = True
    return table[ids]


def proposed_parts(library: Library, text: str) -> dict[str, float]:
    """Cheaper ways to fit the cutoff, timed on this catalog's real score distribution."""
    semantic, conn = library.semantic, library.conn
    assert semantic is not None
    snap = semantic.snapshot(conn)
    clip = semantic.scores(snap, semantic.text_vector(text))
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    assert snap.store is not None
    flat = snap.store.matrix().reshape(-1).view(np.uint64)
    _, out["read the f16 matrix once (memory floor)"] = timed(lambda: np.bitwise_xor.reduce(flat))
    _, out["cutoff sample: choice(replace=False) (now)"] = timed(
        lambda: rng.choice(clip, ranking.FIT_SAMPLE, replace=False)
    )
    _, out["cutoff sample: integers, with replacement"] = timed(
        lambda: clip[rng.integers(0, len(clip), ranking.FIT_SAMPLE)]
    )
    for size in (ranking.FIT_SAMPLE, 5000, 2000):
        sample = clip[rng.integers(0, len(clip), min(size, len(clip)))]
        _, out[f"EM fit on {size:,} scores"] = timed(lambda s=sample: ranking.fit_two_gaussians(s))
    return out


def profile(library: Library, texts: Iterator[str], runs: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    end_to_end(library, texts, runs)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(10)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "tottime" in ln)
    return "\n".join(lines[start : start + 11])


def bench(size: int, runs: int, texts: Iterator[str], show_profile: bool) -> None:
    settings = build(size)
    library = Library(settings)
    library.search(next(texts), limit=LIMIT)  # loads the text tower and the row map
    print(f"\n== {size:,} photos; load average {load_average()}")
    samples = end_to_end(library, texts, runs)
    target = TARGET_P50_MS.get(size)
    verdict = (
        ""
        if target is None
        else (
            f"  target p50 <= {target:.0f} ms: "
            + ("PASS" if statistics.median(samples) <= target else "FAIL")
        )
    )
    print(
        f"Library.search, text query:           {percentiles(samples)}{verdict}"
        f"  [load {load_average()}]"
    )
    filtered = end_to_end(library, texts, max(10, runs // 3), f" {FILTER}")
    print(f"Library.search, text + {FILTER}: {percentiles(filtered)}  [load {load_average()}]")
    crowded = end_to_end(library, texts, 10, f" in the {CROWDED_WORD}")
    print(
        f"Library.search, text with '{CROWDED_WORD}' (lexical hits on 70 % of photos): "
        f"{percentiles(crowded)}  [load {load_average()}]"
    )
    print("split of the unfiltered query (same functions the engine calls):")
    for name, values in split(library, texts, max(10, runs // 3)).items():
        if name.endswith("]"):  # a count or an error, not a time
            print(f"  {name:<34} median {statistics.median(values):.4g}  max {max(values):.4g}")
        else:
            print(f"  {name:<34} {percentiles(values)}")
    print(f"filtered query extras ({FILTER}):")
    for name, ms in filtered_split(library, next(texts)).items():
        print(f"  {name:<46} {ms:8.2f} ms")
    print("floors and cutoff alternatives, timed on this catalog:")
    for name, ms in proposed_parts(library, next(texts)).items():
        print(f"  {name:<46} {ms:8.2f} ms")
    if show_profile:
        print(f"cProfile of {max(10, runs // 5)} searches, by own time:")
        print(profile(library, texts, max(10, runs // 5)))
    library.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()
    if not (MODEL_HOME / "models" / MODEL_NAME / "model.json").is_file():
        sys.exit("no model: run .venv-export/bin/python tools/make_vitb32_random.py first")
    texts = query_texts()
    for size in args.sizes:
        bench(size, args.runs, texts, args.profile)


if __name__ == "__main__":
    main()
