"""Metadata query latency on a synthetic 100,000-photo catalog.

    .venv/bin/python bench/bench_query.py [--photos 100000] [--runs 300]

Builds the catalog once under bench/data/ through the same writer verbs the indexer uses
(random dates, cameras and places; no image files), then times Library.search for a few
queries, end to end: parsing, SQL, result rows, JSON-ready dicts. Prints p50 and p99.
The baseline in the same run is the same query answered by a full scan of the photos
table without the dimension-table indexes (a LIKE over every row), which is what a
naive schema would do.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hachi.catalog import folders as folders_db  # noqa: E402
from hachi.catalog import photos as photos_db  # noqa: E402
from hachi.catalog.db import connect, refresh_statistics, transaction  # noqa: E402
from hachi.catalog.photos import PhotoRecord, PlaceRecord  # noqa: E402
from hachi.config import Settings  # noqa: E402
from hachi.library import Library  # noqa: E402
from hachi.media.cameras import camera_label  # noqa: E402

HOME = Path(__file__).resolve().parent / "data" / "catalog100k"
QUERIES = [
    "camera:canon year:2019 place:paris",
    "camera:nikon after:2015 -country:US",
    "place:tokyo sort:date",
    "year:2020-07",
]
CAMERAS = (
    [("Canon", f"Canon EOS {m}") for m in ("5D", "R5", "R6", "90D", "M50")]
    + [("NIKON CORPORATION", f"NIKON {m}") for m in ("D850", "Z 6", "D750")]
    + [("SONY", f"ILCE-{m}") for m in ("7M3", "7M4", "6400")]
    + [("Apple", f"iPhone {n}") for n in range(8, 16)]
)
PLACES = [
    ("Montmartre", "Paris", "Île-de-France", "France", "FR"),
    ("Paris", "Paris", "Île-de-France", "France", "FR"),
    ("Shinjuku", "Tokyo", "Tokyo", "Japan", "JP"),
    ("Brooklyn", "New York City", "New York", "United States", "US"),
    ("Bondi", "Sydney", "New South Wales", "Australia", "AU"),
    ("Pinheiros", "São Paulo", "São Paulo", "Brazil", "BR"),
] + [
    (f"Town {i}", f"City {i % 300}", f"Region {i % 40}", f"Country {i % 90}", f"C{i % 90}")
    for i in range(3000)
]


def build(count: int) -> Settings:
    settings = Settings.from_env({}, home=HOME)
    settings.ensure_dirs()
    conn = connect(settings.catalog_path)
    have = conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    if have >= count:
        conn.close()
        return settings
    root = HOME / "photos"
    root.mkdir(exist_ok=True)
    folder = folders_db.add_folder(conn, str(root))
    rng = random.Random(7)
    for start in range(have, count, 5000):
        with transaction(conn):
            for i in range(start, min(count, start + 5000)):
                photos_db.upsert_photo(conn, _record(rng, i, folder.id, str(root)), None)
    refresh_statistics(conn)  # as every index job does at its end
    conn.close()
    return settings


def _record(rng: random.Random, i: int, folder_id: int, root: str) -> PhotoRecord:
    make, model = rng.choice(CAMERAS)
    # A real library is skewed: a few places hold much of it (home, a favourite city).
    name, city, region, country, code = rng.choice(PLACES[:6] if rng.random() < 0.3 else PLACES)
    sub = f"{root}/{2000 + i % 25}"
    return PhotoRecord(
        path=f"{sub}/IMG_{i:06d}.jpg",
        folder_id=folder_id,
        dir_path=sub,
        dir_label=sub[-4:],
        size=3_000_000,
        mtime_ns=i,
        content_hash=f"{i:032x}",
        mime="image/jpeg",
        width=4000,
        height=3000,
        taken_at=f"{rng.randint(2000, 2025)}-{rng.randint(1, 12):02d}-"
        f"{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00",
        tz_offset=None,
        taken_source="DateTimeOriginal",
        camera_make=make,
        camera_model=model,
        camera_label=camera_label(make, model),
        lens=None,
        focal_length=35.0,
        aperture=2.8,
        exposure_time=0.01,
        iso=200,
        latitude=1.0,
        longitude=2.0,
        altitude=None,
        orientation=1,
        place=PlaceRecord(name, city, region, country, code, f"{name}, {city}, {country}"),
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def naive(conn, runs: int) -> list[float]:  # noqa: ANN001
    sql = (
        "SELECT p.id FROM photos p JOIN cameras c ON c.id = p.camera_id "
        "JOIN places pl ON pl.id = p.place_id WHERE (c.make || ' ' || c.model) LIKE '%canon%' "
        "AND substr(p.taken_at, 1, 4) = '2019' AND (pl.name || pl.city) LIKE '%paris%' "
        "ORDER BY p.taken_at DESC LIMIT 100"
    )
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        conn.execute(sql).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    settings = build(args.photos)
    library = Library(settings)
    print(f"catalog: {library.status()['photos']} photos")
    for q in QUERIES:
        library.search(q, limit=100)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            result = library.search(q, limit=100)
            times.append((time.perf_counter() - t) * 1000)
        p50, p99 = percentiles(times)
        print(f"{q!r:45} total={result['total']:6d}  p50={p50:6.2f} ms  p99={p99:6.2f} ms")
    p50n, p99n = percentiles(naive(library.conn, max(20, args.runs // 10)))
    print(
        f"{'naive full scan (same filter, SQL only)':45} {'':12}  "
        f"p50={p50n:6.2f} ms  p99={p99n:6.2f} ms"
    )
    library.close()


if __name__ == "__main__":
    main()
