"""Natural-language search latency, text encoder included, at 100,000 and 1,000,000 photos.

    .venv-export/bin/python tools/make_vitb32_random.py        # once: the ViT-B-32 model
    .venv/bin/python bench/bench_semantic_search.py [--sizes 100000 1000000] [--runs 100]
        [--vectors clustered|random] [--recall-queries 200]

Each catalog is built once under bench/data/semantic-search-<vectors>-<N>/ and reused: photo
rows (random dates, cameras, places, folders) written with direct SQL in big transactions,
the full-text rows the indexer would write, a vector file, and the photo-to-row map
committed through hachi.catalog.analyses.store_vectors, as the indexer commits it. Then the
IVF index (hachi.vectors.ivf) is built, timed. The random-weight ViT-B-32 answers the text
queries.

The vectors: ``clustered`` (default) imitates CLIP image embeddings, which random unit rows
do not (random rows are the worst case for any index: no photo is near another). Rows
spread around 3,000 subject centroids (cosine ~0.85 to their centroid, unrelated photos
~0.3 apart, like CLIP's shared image direction), cluster sizes falling off like a power
law, centroids drawn with a decaying spectrum (real embeddings use far fewer than 512
directions). Recall queries imitate CLIP text embeddings: a third of their length along a
subject (or between two), the rest a shared "text" direction and noise, so they score
~0.3 with their subject's photos and ~0.15 with the rest, as CLIP text queries do, and
they sit away from every image cluster (the modality gap), which is harder for an index
than querying with a photo.

Timed, with the two paths alternating query by query so that both see the same load:
Library.search(q, limit=100) as the REST API calls it, every text different (the text
cache never answers), once reading every row ("exact": the int8 pass over all rows) and
once through the index; then the engine alone with the recall query vectors, both paths,
with recall@100 of the shown results against the exact path (whose shown scores are exact
float16), and the index's raw recall@100 against the float16 top 100 with no cutoff. Then
the exact path split into its parts and a filtered query, as before.
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
from hachi.search import semantic as semantic_module  # noqa: E402
from hachi.search.query import parse_query  # noqa: E402
from hachi.search.semantic import SemanticIndex, refine_margin  # noqa: E402
from hachi.textnorm import terms_blob  # noqa: E402
from hachi.vectors import VectorStore, vector_file  # noqa: E402
from hachi.vectors import ivf as vectors_ivf  # noqa: E402
from hachi.vectors.kernel import DotKernel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
MODEL_HOME = DATA / "semantic-home"
MODEL_NAME = "vitb32-random"
DIM = 512
ROWS_PER_COMMIT = 50_000
TARGET_P50_MS = {100_000: 12.0, 1_000_000: 40.0}
TARGET_RECALL = 0.99
SUBJECTS_IN_LIBRARY = 3000
VECTORS = "clustered"  # set from --vectors
SKIP_PARTS = False
PROBE_MIN_ROWS: int | None = None  # 0 with --probe-share: read exactly that share
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
        home=DATA / f"semantic-search-{VECTORS}-{size}",
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
        with VectorStore(path, DIM, size, read_only=True) as store:
            if vectors_ivf.IvfIndex.open_valid(path, store.matrix(), size) is None:
                started = time.perf_counter()
                vectors_ivf.build(path, store.matrix())
                print(
                    f"IVF index ({vectors_ivf.list_count(size)} lists) built in "
                    f"{time.perf_counter() - started:.1f} s [load {load_average()}]"
                )
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
    """Unit rows, then each chunk's map committed the way the indexer commits it."""
    rng = np.random.default_rng(size)
    library = Subjects()
    ids = [r[0] for r in conn.execute("SELECT id FROM photos ORDER BY id")]
    committed = analyses.committed_rows(conn, MODEL_NAME, DIM)
    path = vector_file(settings.vectors_dir, MODEL_NAME)
    with VectorStore(path, DIM, committed, search_copy=True) as store:
        for start in range(0, size, ROWS_PER_COMMIT):
            chunk = ids[start : start + ROWS_PER_COMMIT]
            if VECTORS == "random":
                rows = rng.standard_normal((len(chunk), DIM), dtype=np.float32)
            else:
                rows = library.photos(rng, len(chunk))
            first = store.append(rows)
            with transaction(conn):
                analyses.store_vectors(conn, MODEL_NAME, chunk, first)


class Subjects:
    """The clustered stand-in for CLIP embeddings (see the module docstring); fixed seed,
    so the recall queries can be drawn again without reading the vectors."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        shared = rng.standard_normal(DIM).astype(np.float32)
        self.shared = shared / np.linalg.norm(shared)
        spectrum = (1.0 / np.arange(1, DIM + 1) ** 0.5).astype(np.float32)
        basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
        own = rng.standard_normal((SUBJECTS_IN_LIBRARY, DIM)).astype(np.float32) * spectrum
        own = own @ basis.T
        own /= np.linalg.norm(own, axis=1, keepdims=True)
        centroids = 0.72 * self.shared + 0.69 * own
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        weights = 1.0 / np.arange(1, SUBJECTS_IN_LIBRARY + 1) ** 0.7
        self.weights = weights / weights.sum()

    def photos(self, rng: np.random.Generator, count: int) -> NDArray[np.float32]:
        subject = rng.choice(SUBJECTS_IN_LIBRARY, count, p=self.weights)
        spread = rng.uniform(0.025, 0.045, (count, 1)).astype(np.float32)
        noise = rng.standard_normal((count, DIM), dtype=np.float32)
        return np.asarray(self.centroids[subject] + spread * noise, dtype=np.float32)

    def text_queries(self, count: int, seed: int = 1) -> NDArray[np.float32]:
        """Subjects drawn as often as they are photographed (people search for what they
        have); every third query sits between two subjects ("dog on the beach")."""
        rng = np.random.default_rng(seed)
        text = rng.standard_normal(DIM).astype(np.float32)
        text -= (text @ self.shared) * self.shared
        text /= np.linalg.norm(text)
        out = np.empty((count, DIM), np.float32)
        for i in range(count):
            a, b = rng.choice(SUBJECTS_IN_LIBRARY, 2, p=self.weights)
            subject = self.centroids[a] if i % 3 else (self.centroids[a] + self.centroids[b]) / 2
            noise = rng.standard_normal(DIM).astype(np.float32)
            q = 0.36 * subject + 0.75 * text + 0.35 * noise / np.linalg.norm(noise)
            out[i] = q / np.linalg.norm(q)
        return out


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


def exact_twin(settings: Settings) -> Library:
    """A second Library over the same catalog whose searches read every row."""
    twin = Library(settings)
    clip = twin.models.clip
    assert clip is not None
    twin._semantic = SemanticIndex(clip, settings.vectors_dir, use_index=False)
    assert twin.semantic is not None and not twin.semantic.use_index
    return twin


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def both_paths(library: Library, exact: Library, texts: Iterator[str], runs: int) -> None:
    """Library.search through the index and reading every row, alternating per query."""
    fast: list[float] = []
    slow: list[float] = []
    for i in range(runs):
        q = next(texts)
        pair = [(library, fast), (exact, slow)]
        for lib, out in pair if i % 2 else pair[::-1]:
            result, ms = timed(lambda q=q, lib=lib: lib.search(q, limit=LIMIT))
            assert result["semantic"] and result["results"], result.get("notices")
            out.append(ms)
        assert result["first_pass"] in ("index", "all")
    print(f"Library.search, text, every row:  {percentiles(slow)}  p95 {p95(slow):7.2f} ms")
    print(
        f"Library.search, text, IVF index:  {percentiles(fast)}  p95 {p95(fast):7.2f} ms"
        f"  ({statistics.median(slow) / statistics.median(fast):.2f}x)  [load {load_average()}]"
    )


def recall(library: Library, exact: Library, size: int, count: int) -> float:
    """Shown top 100 through the index against the exact path, on CLIP-like text queries,
    plus the engine's time for each path without the text encoder."""
    index_side, exact_side = library.semantic, exact.semantic
    assert index_side is not None and exact_side is not None
    snap = index_side.snapshot(library.conn)
    assert snap.ann is not None and snap.store is not None, "no IVF index"
    kernel = DotKernel()
    shown: list[float] = []
    raw: list[float] = []
    kept: list[int] = []
    fast: list[float] = []
    slow: list[float] = []
    queries_ = Subjects().text_queries(count) if VECTORS == "clustered" else None
    rng = np.random.default_rng(7)
    for i in range(count):
        if queries_ is not None:
            v = queries_[i]
        else:
            v = rng.standard_normal(DIM).astype(np.float32)
            v /= np.linalg.norm(v)
        got, ms_fast = timed(
            lambda v=v: engine.search(library.conn, "", LIMIT, None, index_side, query_vector=v)
        )
        want, ms_slow = timed(
            lambda v=v: engine.search(exact.conn, "", LIMIT, None, exact_side, query_vector=v)
        )
        fast.append(ms_fast)
        slow.append(ms_slow)
        assert got.extra["first_pass"] == "index" and want.extra["first_pass"] == "all"
        truth = {r["id"] for r in want.results}
        kept.append(want.total)
        if truth:
            shown.append(len(truth & {r["id"] for r in got.results}) / len(truth))
        # the index alone: probed rows re-scored exactly, against the float16 top 100
        exact_all = kernel.scores(snap.store.matrix(), v)
        top = set(np.argpartition(-exact_all, LIMIT)[:LIMIT].tolist())
        share = semantic_module.probe_share(snap.ann.rows, index_side.probe_min_rows)
        probe = snap.ann.probe(v, share, snap.store.int8_kernel())
        best = probe.rows[np.argsort(-exact_all[probe.rows])[:LIMIT]]
        raw.append(len(top & set(best.tolist())) / LIMIT)
    print(
        f"engine only, {count} CLIP-like query vectors: every row {percentiles(slow)}"
        f" | IVF {percentiles(fast)} ({statistics.median(slow) / statistics.median(fast):.2f}x)"
    )
    mean = float(np.mean(shown)) if shown else float("nan")
    print(
        f"recall@100 of shown results vs exact: mean {mean:.4f} min {min(shown, default=0):.2f}"
        f" (target >= {TARGET_RECALL}); shown per query median {statistics.median(kept):.0f};"
        f" index alone (no cutoff) vs float16 top 100: mean {np.mean(raw):.4f}"
        f" min {min(raw):.2f}; rows read {share:.0%}"
        f" [load {load_average()}]"
    )
    return mean


def bench(
    size: int, runs: int, texts: Iterator[str], show_profile: bool, recall_queries: int
) -> None:
    settings = build(size)
    library = Library(settings)
    if PROBE_MIN_ROWS is not None:
        assert library.semantic is not None
        library.semantic.probe_min_rows = PROBE_MIN_ROWS
    exact = exact_twin(settings)
    library.search(next(texts), limit=LIMIT)  # loads the text tower and the row map
    exact.search(next(texts), limit=LIMIT)
    print(f"\n== {size:,} photos ({VECTORS} vectors); load average {load_average()}")
    both_paths(library, exact, texts, runs)
    recall(library, exact, size, recall_queries)
    library.close()
    library = exact  # the rest times the parts of the exact path, as before
    samples = end_to_end(library, texts, max(10, runs // 3))
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
        f"Library.search, text query (every row): {percentiles(samples)}{verdict}"
        f"  [load {load_average()}]"
    )
    if SKIP_PARTS:
        library.close()
        return
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
    parser.add_argument("--vectors", choices=("clustered", "random"), default="clustered")
    parser.add_argument("--recall-queries", type=int, default=100)
    parser.add_argument("--skip-parts", action="store_true", help="only the two paths")
    parser.add_argument("--probe-share", type=float, help="override PROBE_SHARE")
    args = parser.parse_args()
    global VECTORS, SKIP_PARTS
    VECTORS = args.vectors
    SKIP_PARTS = args.skip_parts
    if args.probe_share:
        semantic_module.PROBE_SHARE = args.probe_share
        global PROBE_MIN_ROWS
        PROBE_MIN_ROWS = 0
    if not (MODEL_HOME / "models" / MODEL_NAME / "model.json").is_file():
        sys.exit("no model: run .venv-export/bin/python tools/make_vitb32_random.py first")
    texts = query_texts()
    for size in args.sizes:
        bench(size, args.runs, texts, args.profile, args.recall_queries)


if __name__ == "__main__":
    main()
