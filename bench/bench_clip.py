"""CLIP on ONNX Runtime: image throughput, text latency, and the text-only server memory.

A ViT-B-32-sized model decides whether indexing is bearable on a small CPU and whether the
server fits in memory with only the text tower loaded (budget: 500 MB RSS). Weights do
not change speed, so a random-weight ViT-B-32 built with open_clip is enough:

    .venv-export/bin/python bench/bench_clip.py --build bench/data/vit-b-32-random
    .venv/bin/python bench/bench_clip.py --model-dir bench/data/vit-b-32-random

The first command exports the model (needs the export venv); the second measures with
ONNX Runtime only. Inputs are pre-made tensors, so decoding and resizing are not timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hachi.ml.clip.config import VISUAL_INT8_FILE, load_config
from hachi.ml.clip.encoders import ClipImageEncoder, ClipTextEncoder

BATCH_SIZES = (16, 32, 64)
TEXT_REPEATS = 20
QUERY = "a dog running on the beach at sunset"
RSS_BUDGET_MB = 500

RSS_PROBE = """
import sys, json
from pathlib import Path
from hachi.ml.clip.encoders import ClipTextEncoder
encoder = ClipTextEncoder(Path(sys.argv[1]), threads=int(sys.argv[2]))
encoder.predict([sys.argv[3]])
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({k: int(status[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}))
"""


def build(out_dir: Path) -> None:
    """Export a random-weight ViT-B-32 (needs torch + open_clip)."""
    from hachi.ml.clip.export import export_clip

    report = export_clip("ViT-B-32", "", out_dir, name="vit-b-32-random", int8=True)
    print(json.dumps(report.to_dict(), indent=2))


def image_throughput(model_dir: Path, threads: int, int8: bool, repeats: int) -> dict[int, float]:
    encoder = ClipImageEncoder(model_dir, threads=threads, int8=int8)
    encoder.ensure_loaded()
    assert encoder.config is not None
    height, width = encoder.config.preprocess.image_size
    rng = np.random.default_rng(0)
    result = {}
    for batch_size in BATCH_SIZES:
        batch = rng.standard_normal((batch_size, 3, height, width), dtype=np.float32)
        encoder.predict(batch)  # warm-up: first run allocates
        started = time.perf_counter()
        for _ in range(repeats):
            encoder.predict(batch)
        result[batch_size] = batch_size * repeats / (time.perf_counter() - started)
    return result


def text_latency_ms(model_dir: Path, threads: int) -> dict[str, float]:
    encoder = ClipTextEncoder(model_dir, threads=threads)
    started = time.perf_counter()
    encoder.predict([QUERY])
    first = (time.perf_counter() - started) * 1000
    times = []
    for i in range(TEXT_REPEATS):
        started = time.perf_counter()
        encoder.predict([f"{QUERY} {i}"])
        times.append((time.perf_counter() - started) * 1000)
    return {"load_and_first_ms": first, "median_ms": statistics.median(times)}


def text_only_rss_mb(model_dir: Path, threads: int) -> dict[str, int]:
    """Measured in a fresh process so that nothing else this script loaded is counted."""
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(model_dir), str(threads), QUERY],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def measure(model_dir: Path, threads: int, repeats: int) -> dict[str, Any]:
    config = load_config(model_dir)
    report: dict[str, Any] = {
        "model": config.name,
        "image_size": config.preprocess.image_size,
        "threads": threads,
        "images_per_s_fp32": image_throughput(model_dir, threads, False, repeats),
        "text": text_latency_ms(model_dir, threads),
        "text_only_rss_mb": text_only_rss_mb(model_dir, threads),
    }
    if (model_dir / VISUAL_INT8_FILE).is_file():
        report["images_per_s_int8"] = image_throughput(model_dir, threads, True, repeats)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, help="export a random ViT-B-32 here and stop")
    parser.add_argument("--model-dir", type=Path, help="a CLIP model folder to measure")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.build:
        build(args.build)
        return
    if not args.model_dir:
        parser.error("give --model-dir (or --build)")
    report = measure(args.model_dir, args.threads, args.repeats)
    print(json.dumps(report, indent=2))
    if report["text_only_rss_mb"]["VmHWM"] > RSS_BUDGET_MB:
        print(f"WARNING: text-only peak RSS above {RSS_BUDGET_MB} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
