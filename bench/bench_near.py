"""near: latency at 100,000 geotagged photos: the R*Tree lookup against a full scan.

    .venv/bin/python bench/bench_near.py [--photos 100000] [--runs 200]

A throwaway catalog (made by ``hachi.catalog.db.connect``, so the migration's triggers fill
the position index as rows are written) gets N geotagged photo rows by direct SQL: most in
clusters around 300 random "home towns" (people photograph the same places again and
again), the rest anywhere on land or sea. Each run asks a different circle, centred on a
random photo, radius 1 to 50 km.

Timed, per query, p50 and p95:
* ``engine.search(conn, "near:LAT,LON,Rkm", limit=100)``: the whole search as the API runs it
  (parse, plan, count, first page, result rows) with the index;
* the same count and first page with the index bypassed: the exact distance of every
  geotagged photo, the baseline a plain "distance <= R" filter would cost;
and the ratio of the two. Both return the same ids (checked).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hachi.catalog.db import connect, transaction  # noqa: E402
from hachi.search import engine  # noqa: E402

LIMIT = 100


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build(path: Path, photos: int, rng: random.Random) -> list[tuple[float, float]]:
    conn = connect(path)
    towns = [(math.degrees(math.asin(rng.uniform(-0.9, 0.95))), rng.uniform(-180, 180))
             for _ in range(300)]  # fmt: skip
    where: list[tuple[float, float]] = []
    with transaction(conn):
        conn.execute("INSERT INTO folders (id, path, added_at) VALUES (1, '/p', '2020')")
        conn.execute(
            "INSERT INTO dirs (id, folder_id, path, label, terms) VALUES (1, 1, '/p', 'p', ' p ')"
        )
        rows = []
        for i in range(photos):
            if rng.random() < 0.9:
                lat0, lon0 = rng.choice(towns)
                lat = max(-90.0, min(90.0, lat0 + rng.gauss(0, 0.15)))
                lon = (lon0 + rng.gauss(0, 0.15) + 180) % 360 - 180
            else:
                lat, lon = math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)
            where.append((lat, lon))
            taken = f"{rng.randint(2000, 2024)}-{rng.randint(1, 12):02d}-10T12:00:00"
            rows.append((i + 1, f"/p/{i}.jpg", f"{i}.jpg", taken, lat, lon))
        conn.executemany(
            "INSERT INTO photos (id, folder_id, dir_id, path, name, ext, size, mtime_ns, "
            "content_hash, mime, width, height, taken_at, latitude, longitude, indexed_at) "
            "VALUES (?, 1, 1, ?, ?, 'jpg', 1, 1, 'h', 'image/jpeg', 4, 3, ?, ?, ?, '2020')",
            rows,
        )
    conn.execute("ANALYZE")
    conn.close()
    return where


def full_scan(conn: object, lat: float, lon: float, km: float) -> tuple[int, list[int]]:
    where = "hachi_distance_km(p.latitude, p.longitude, ?, ?) <= ?"
    count = conn.execute(f"SELECT COUNT(*) FROM photos p WHERE {where}", (lat, lon, km))  # type: ignore[attr-defined]
    total = int(count.fetchone()[0])
    page = conn.execute(  # type: ignore[attr-defined]
        f"SELECT p.id FROM photos p WHERE {where} "
        f"ORDER BY p.taken_at IS NULL, p.taken_at DESC, p.id DESC LIMIT {LIMIT}",
        (lat, lon, km),
    )
    return total, [int(r[0]) for r in page]


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(11)
    print(f"load before: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.db"
        started = time.perf_counter()
        where = build(path, args.photos, rng)
        print(f"catalog: {args.photos:,} geotagged photos in {time.perf_counter() - started:.1f} s")
        conn = connect(path)
        queries = []
        for _ in range(args.runs):
            lat, lon = rng.choice(where)
            queries.append((round(lat, 4), round(lon, 4), rng.choice([1, 5, 10, 25, 50])))
        indexed, scanned, found = [], [], []
        for lat, lon, km in queries:
            t0 = time.perf_counter()
            result = engine.search(conn, f"near:{lat},{lon},{km}km", limit=LIMIT)
            t1 = time.perf_counter()
            total, ids = full_scan(conn, lat, lon, km)
            t2 = time.perf_counter()
            assert result.total == total, (lat, lon, km, result.total, total)
            assert [r["id"] for r in result.results] == ids
            indexed.append((t1 - t0) * 1000)
            scanned.append((t2 - t1) * 1000)
            found.append(total)
        conn.close()
    p50_i, p95_i = percentiles(indexed)
    p50_s, p95_s = percentiles(scanned)
    print(f"queries: {args.runs}, photos per circle: median {statistics.median(found):.0f}, "
          f"max {max(found)}")  # fmt: skip
    print(f"near: with the R*Tree (whole search)  p50 {p50_i:7.2f} ms  p95 {p95_i:7.2f} ms")
    print(f"full scan, exact distance (baseline) p50 {p50_s:7.2f} ms  p95 {p95_s:7.2f} ms")
    print(f"speed-up: p50 {p50_s / p50_i:.0f}x, p95 {p95_s / p95_i:.0f}x")
    print(f"load after: {load_average()}")


if __name__ == "__main__":
    main()
