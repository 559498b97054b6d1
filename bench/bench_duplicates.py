"""Grouping near-duplicates in a 100,000-photo catalog: seconds, not all pairs.

    PYTHONPATH=. .venv/bin/python bench/bench_duplicates.py [--photos 100000]

Builds a catalog under bench/data/ (tests/browser/big_library's writer, no image files),
then writes synthetic fingerprints with realistic clustering straight into it: most photos
alone, the rest in planted groups of 2-8 (identical files; edited copies a few to 12 bits
and a little colour away; bursts of one camera seconds apart up to 16 bits away), and a
fifth of all hashes drawn near 500 common centres (dark, sky, document photos), which makes
crowded buckets. Then times:

* a full regroup through the catalog (load, LSH buckets, linkage, write), as after an
  upgrade or a first run;
* the grouping alone, in memory;
* 100 new photos joining groups (the exact path: each compared with every photo);
* the baseline in the same run: comparing every photo with every other, estimated from
  1,000 photos compared with all (the exact path), times n / 1,000.

and how well the planted groups come back (pairwise precision and recall).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hachi.catalog import duplicates as dups_db  # noqa: E402
from hachi.catalog.db import connect, transaction  # noqa: E402
from hachi.config import Settings  # noqa: E402
from hachi.indexer.duplicates import fingerprints, update_groups  # noqa: E402
from hachi.indexer.grouping import Thresholds, group_all, pairs_with  # noqa: E402
from tests.browser.big_library import build_catalog  # noqa: E402
from tests.duplicate_holdout import score  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "duplicates"


def _flip(rng: np.random.Generator, value: int, bits: int) -> int:
    for bit in rng.choice(64, bits, replace=False):
        value ^= 1 << int(bit)
    return value


def synthetic(n: int, seed: int = 1) -> tuple[list[tuple], list[int]]:
    """Rows (phash, chroma, content key, seconds, camera) and each photo's planted group."""
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(0, 2**63)) for _ in range(500)]

    def base() -> int:
        if rng.random() < 0.2:
            return _flip(rng, centres[int(rng.integers(500))], int(rng.integers(14, 24)))
        return int(rng.integers(0, 2**63)) | (int(rng.integers(0, 2)) << 63)

    rows: list[tuple] = []
    labels: list[int] = []
    label = 0
    while len(rows) < n:
        h = base()
        chroma = rng.integers(20, 230, 48).astype(np.int16)
        when = float(rng.integers(1_000_000_000, 1_700_000_000))
        camera = int(rng.integers(3))
        roll = rng.random()
        size = 1 if roll < 0.7 else int(rng.choice([2, 2, 2, 3, 3, 4, 5, 6, 8]))
        kind = rng.choice(["identical", "edited", "edited", "burst"])
        for k in range(min(size, n - len(rows))):
            if k == 0 or kind == "identical":
                rows.append((h, chroma, f"c{label}", when, camera))
            elif kind == "edited":
                noise = rng.integers(-3, 4, 48).astype(np.int16)
                rows.append(
                    (
                        _flip(rng, h, int(rng.integers(0, 13))),
                        chroma + noise,
                        f"e{label}-{k}",
                        when,
                        camera,
                    )
                )
            else:
                rows.append(
                    (
                        _flip(rng, h, int(rng.integers(2, 17))),
                        chroma,
                        f"b{label}-{k}",
                        when + 2 * k,
                        camera,
                    )
                )
            labels.append(label)
        label += 1
    return rows, labels


def write(conn, rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    ids = [r[0] for r in conn.execute("SELECT id FROM photos ORDER BY id")]
    cameras = [r[0] for r in conn.execute("SELECT id FROM cameras ORDER BY id")]
    values = []
    for photo_id, (h, chroma, content, when, camera) in zip(ids, rows, strict=True):
        signed = h - (1 << 64) if h >= 1 << 63 else h
        taken = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
        values.append(
            (
                signed,
                np.clip(chroma, 0, 255).astype(np.uint8).tobytes(),
                content,
                taken,
                cameras[camera],
                photo_id,
            )
        )
    with transaction(conn):
        conn.executemany(
            "UPDATE photos SET phash = ?, chroma = ?, content_hash = ?, taken_at = ?, "
            "taken_source = 'DateTimeOriginal', camera_id = ?, grouped_hash = NULL WHERE id = ?",
            values,
        )
        conn.execute("DELETE FROM duplicates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    args = parser.parse_args()
    shutil.rmtree(DATA, ignore_errors=True)
    (DATA / "photos").mkdir(parents=True)
    settings = Settings(home=DATA / "home")
    started = time.perf_counter()
    build_catalog(settings, DATA / "photos", args.photos)
    conn = connect(settings.catalog_path)
    rows, labels = synthetic(args.photos)
    write(conn, rows)
    print(f"catalog of {args.photos} photos built in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    update_groups(conn, full=True)
    full = time.perf_counter() - started
    groups = dups_db.all_groups(conn)
    print(f"full regroup through the catalog: {full:.2f} s, {len(groups)} groups")

    fp = fingerprints(dups_db.fingerprint_columns(conn), None)
    started = time.perf_counter()
    found = group_all(fp, Thresholds())
    print(f"grouping alone, in memory: {time.perf_counter() - started:.2f} s")
    truth = [f"planted {labels[int(i) - 1]}" for i in fp.ids]
    result = score(truth, [list(g.members) for g in found])
    print(
        f"planted groups: precision {result.precision:.4f}, recall {result.recall:.4f}, "
        f"{result.mixed_groups} mixed"
    )

    rng = np.random.default_rng(2)
    fresh = rng.choice(fp.ids, 100, replace=False).tolist()
    with transaction(conn):
        conn.executemany(
            "UPDATE photos SET grouped_hash = NULL WHERE id = ?", [(i,) for i in fresh]
        )
    started = time.perf_counter()
    update_groups(conn)
    print(f"100 new photos joining groups: {time.perf_counter() - started:.2f} s")

    sample = np.arange(min(1000, len(fp)), dtype=np.int64)
    started = time.perf_counter()
    pairs_with(fp, sample, Thresholds())
    each = (time.perf_counter() - started) / len(sample)
    all_pairs = each * len(fp)
    print(
        f"baseline, every photo against every other (exact): {all_pairs:.1f} s estimated "
        f"({each * 1000:.2f} ms a photo); buckets are {all_pairs / full:.1f}x faster end to end"
    )
    conn.close()


if __name__ == "__main__":
    main()
