"""Benchmark of the reverse geocoder: load time, memory, and batch lookup latency.

Run: .venv/bin/python bench/bench_geocode.py [--repeats 20] [--batch 1000]

Load time is measured on a fresh Geocoder (first lookup pays for it); memory twice: the
process's peak resident set (what the OS sees, interpreter included) and, with tracemalloc,
the peak and retained Python/numpy allocations of the load alone. Lookups are timed on three
batches: uniform over the globe (mostly sea, exercising the country fallback), clustered in
a dense city (Tokyo), and spread over western Europe's dense villages.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import numpy as np

from hachi.media.geocode import Geocoder, read_package_data

MIB = 1024 * 1024


def batches(size: int) -> dict[str, list[tuple[float, float]]]:
    rng = np.random.default_rng(0)
    shapes = {
        "globe (uniform)": np.c_[rng.uniform(-90, 90, size), rng.uniform(-180, 180, size)],
        "Tokyo (clustered)": np.c_[rng.normal(35.68, 0.15, size), rng.normal(139.7, 0.15, size)],
        "western Europe": np.c_[rng.uniform(43, 53, size), rng.uniform(-2, 15, size)],
    }
    return {name: [(float(a), float(b)) for a, b in coords] for name, coords in shapes.items()}


def time_load() -> tuple[Geocoder, float, float]:
    started = time.perf_counter()
    read_package_data()
    read_s = time.perf_counter() - started
    geocoder = Geocoder()
    started = time.perf_counter()
    geocoder.load()
    return geocoder, read_s, time.perf_counter() - started


def measure_memory() -> tuple[float, float]:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    geocoder = Geocoder()
    geocoder.load()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del geocoder
    return (peak - before) / MIB, (current - before) / MIB


def time_lookups(geocoder: Geocoder, coords: list[tuple[float, float]], repeats: int) -> float:
    geocoder.lookup_many(coords)
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        geocoder.lookup_many(coords)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    geocoder, read_s, load_s = time_load()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"reading the package data alone: {read_s:.2f} s")
    print(f"first-lookup load (read + build + index): {load_s:.2f} s")
    print(f"peak RSS of this process after load: {rss_mib:.0f} MiB")
    peak, retained = measure_memory()
    print(f"load allocations (tracemalloc): peak {peak:.0f} MiB, retained {retained:.0f} MiB")
    for name, coords in batches(args.batch).items():
        ms = time_lookups(geocoder, coords, args.repeats)
        found = sum(
            place is not None and place.name is not None for place in geocoder.lookup_many(coords)
        )
        print(f"lookup_many({len(coords)}) {name}: median {ms:.1f} ms, {found} named places")


if __name__ == "__main__":
    main()
