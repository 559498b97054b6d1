"""Indexing with CLIP: encoder ceiling, Hachi end to end, and the usual way, in one run.

    .venv-export/bin/python tools/make_vitb32_random.py        # once: the ViT-B-32 model
    .venv/bin/python bench/bench_semantic_index.py [--photos 240] [--workers N] [--sweep]

On the 12-megapixel JPEGs of bench_index.py (generated there if missing) it measures:

(a) the image encoder alone on pre-made tensors, batched as the pipeline batches and with
    the threads the pipeline's session gets: the ceiling for (b). (a) and (b) are run for
    each image tower in --towers (float32, and the int8 one HACHI_CLIP_IMAGE_INT8 selects);
(b) `hachi index` end to end with the random-weight ViT-B-32 installed and OCR and faces
    off (scan, read, hash, EXIF, DCT-scaled decode, thumbnail, CLIP preprocess, batched
    encode, float16 vectors, catalog). Target: at least 85 % of (a);
(c) the usual way, in the torch venv: full Pillow decode, open_clip's own preprocess,
    one photo at a time through the PyTorch model. Target: (b) at least 8x (c).

It also times each extraction step on one thread (where reader-thread CPU goes) and
accounts the CPU seconds of every thread during (b), so a miss of the 85 % target comes
with its cause. `--sweep` re-runs (b) with other reader counts, ONNX threads, batch
sizes and ONNX thread spinning to find the configuration to propose.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_index import generate  # noqa: E402
from hachi.catalog import analyses  # noqa: E402
from hachi.catalog.db import connect  # noqa: E402
from hachi.config import Settings  # noqa: E402
from hachi.indexer.extract import Extractor  # noqa: E402
from hachi.indexer.runner import run_next_job  # noqa: E402
from hachi.indexer.stages import ClipStage  # noqa: E402
from hachi.library import Library  # noqa: E402
from hachi.media.decode import decode_image  # noqa: E402
from hachi.media.exif import read_metadata  # noqa: E402
from hachi.media.hashing import content_hash  # noqa: E402
from hachi.media.thumbnails import encode_webp  # noqa: E402
from hachi.ml.available import AvailableModels  # noqa: E402
from hachi.ml.clip.encoders import ClipImageEncoder, ClipModel  # noqa: E402
from hachi.ml.clip.preprocess import preprocess_image  # noqa: E402
from hachi.ml.sessions import available_providers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
MODEL_HOME = DATA / "semantic-home"
MODEL_NAME = "vitb32-random"
EXPORT_PYTHON = ROOT / ".venv-export" / "bin" / "python"
CHECKPOINT = DATA / f"{MODEL_NAME}.pt"
INDEX_TARGET = 0.85
REFERENCE_TARGET = 8.0
ENCODER_BATCHES = 8
STEP_SAMPLE = 24
MONITOR_INTERVAL_S = 0.2
SWEEP_PHOTOS = 96

REFERENCE = r"""
import json, sys, time
import open_clip, torch
from PIL import Image
files, checkpoint = sys.argv[2:], sys.argv[1]
model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=checkpoint)
model.eval()
def embed(path):
    with Image.open(path) as im:
        pixels = preprocess(im.convert("RGB"))
    with torch.no_grad():
        return model.encode_image(pixels[None])
embed(files[0])  # warm-up, like the other measurements
started, cpu = time.perf_counter(), time.process_time()
vectors = [embed(f) for f in files]
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"rate": len(files) / elapsed, "photos": len(files),
                  "cpu_ms": cpu * 1000 / len(files), "torch_threads": torch.get_num_threads()}))
"""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def model_dir() -> Path:
    """The installed model, built with the export venv on first use."""
    folder = MODEL_HOME / "models" / MODEL_NAME
    if not (folder / "model.json").is_file():
        if not EXPORT_PYTHON.is_file():
            sys.exit("no model: run tools/make_vitb32_random.py with .venv-export first")
        subprocess.run(
            [str(EXPORT_PYTHON), str(ROOT / "tools" / "make_vitb32_random.py")], check=True
        )
    return folder


def bench_settings(home: Path, workers: int, int8: bool = False) -> Settings:
    """OCR off; faces off by naming no backend ('none' is not one, so discovery skips it)."""
    return Settings.from_env(
        {},
        home=home,
        models_dir=MODEL_HOME / "models",
        clip_model=MODEL_NAME,
        ocr=False,
        face_backend="none",
        workers=workers,
        clip_image_int8=int8,
    )


# -- (a) the encoder alone ----------------------------------------------------------------


@dataclass
class EncoderRun:
    rate: float  # photos per wall-clock second
    cpu_ms: float  # CPU milliseconds per photo, all threads of the process together


def encoder_rate(
    folder: Path, batch: int, threads: int | None, batches: int, int8: bool = False
) -> EncoderRun:
    encoder = ClipImageEncoder(folder, threads=threads, int8=int8)
    encoder.ensure_loaded()
    assert encoder.config is not None
    shape = (batch, 3, *encoder.config.preprocess.image_size)
    tensors = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    encoder.predict(tensors)  # warm-up: the first run allocates
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        encoder.predict(tensors)
    images = batch * batches
    cpu_ms = (time.process_time() - cpu) * 1000 / images
    return EncoderRun(images / (time.perf_counter() - started), cpu_ms)


# -- (b) Hachi end to end -------------------------------------------------------------------


@dataclass
class Config:
    workers: int
    threads: int | None = None  # ONNX intra-op threads; None: what Hachi picks (all cores)
    batch: int = ClipStage.batch_size
    spinning: bool = False  # Hachi turns ONNX Runtime's thread spinning off
    int8: bool = False  # the int8 image tower (HACHI_CLIP_IMAGE_INT8; float32 by default)

    def label(self) -> str:
        threads = self.threads or os.cpu_count()
        spin = "on" if self.spinning else "off"
        tower = " int8" if self.int8 else ""
        return f"readers={self.workers} ort_threads={threads} batch={self.batch} spin={spin}{tower}"


def models_for(settings: Settings, config: Config) -> AvailableModels:
    """Hachi's own discovery for the default configuration, the same parts otherwise."""
    if config == Config(settings.workers, int8=settings.clip_image_int8 == "on"):
        models = AvailableModels.discover(settings)
    else:
        models = AvailableModels(settings, clip_batch=config.batch)
        folder = settings.models_path / MODEL_NAME
        models.clip = ClipModel(folder, threads=config.threads, int8=config.int8)
    assert models.clip is not None and models.faces is None and models.ocr is None
    models.clip.image_encoder.ensure_loaded()
    if not config.spinning:
        _disable_spinning(models.clip.image_encoder, config)
    return models


def _disable_spinning(encoder: ClipImageEncoder, config: Config) -> None:
    """Experiment only: Hachi's sessions.create_session has no switch for this yet."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = config.threads or os.cpu_count() or 2
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    tower = "visual.int8.onnx" if config.int8 else "visual.onnx"
    path = str(encoder.model_dir / tower)
    encoder._session = ort.InferenceSession(path, options, providers=available_providers())


@dataclass
class IndexRun:
    rate: float
    seconds: float
    photos: int
    vectors: int
    cpu_ms: float  # CPU milliseconds per photo, every thread of the process
    cpu: dict[str, float] = field(default_factory=dict)


def hachi_rate(folder: Path, count: int, config: Config) -> IndexRun:
    with tempfile.TemporaryDirectory() as home:
        settings = bench_settings(Path(home), config.workers, config.int8)
        library = Library(settings)
        library.extractor.geocoder.lookup(0.0, 0.0)  # load GeoNames before the clock starts
        models = models_for(settings, config)  # image session loaded before the clock too
        _warm(models)
        with thread_cpu() as cpu:
            started, cpu_started = time.perf_counter(), time.process_time()
            library.add_folder(str(folder))
            while run_next_job(settings, library.extractor, models=models) is not None:
                pass
            elapsed = time.perf_counter() - started
            cpu_ms = (time.process_time() - cpu_started) * 1000 / count
        vectors, photos = _counts(settings)
        library.close()
    return IndexRun(count / elapsed, elapsed, photos, vectors, cpu_ms, cpu)


def _warm(models: AvailableModels) -> None:
    assert models.clip is not None
    size = models.clip.config.preprocess.image_size
    models.clip.encode_image_batch(np.zeros((1, 3, *size), np.float32))


def _counts(settings: Settings) -> tuple[int, int]:
    conn = connect(settings.catalog_path)
    try:
        vectors = analyses.count_done(conn, "clip", MODEL_NAME)
        photos = int(conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0])
    finally:
        conn.close()
    return vectors, photos


# -- where the CPU goes ----------------------------------------------------------------------


@contextmanager
def thread_cpu() -> Iterator[dict[str, float]]:
    """CPU seconds per kind of thread while the block runs, sampled from /proc.

    Reader threads are the extractor pool, 'writer' is the thread running the job (it also
    executes one share of each ONNX run), 'onnx pool' the threads ONNX Runtime starts.
    """
    result: dict[str, float] = {}
    seen: dict[int, tuple[str, float]] = {}
    before = {tid: cpu for tid, cpu in _task_cpu().items()}
    stop = threading.Event()
    monitor = threading.Thread(target=_sample, args=(seen, stop), daemon=True)
    monitor.start()
    try:
        yield result
    finally:
        stop.set()
        monitor.join()
        _sample_once(seen, threading.main_thread().native_id, monitor.native_id)
        for tid, (kind, cpu) in seen.items():
            result[kind] = result.get(kind, 0.0) + cpu - before.get(tid, 0.0)


def _sample(seen: dict[int, tuple[str, float]], stop: threading.Event) -> None:
    main, me = threading.main_thread().native_id, threading.get_native_id()
    while not stop.wait(MONITOR_INTERVAL_S):
        _sample_once(seen, main, me)


def _sample_once(seen: dict[int, tuple[str, float]], main: int | None, me: int | None) -> None:
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid, cpu in _task_cpu().items():
        name = names.get(tid, "")
        if tid == main:
            kind = "writer (job thread)"
        elif tid == me:
            kind = "monitor"
        elif name.startswith("hachi-"):
            kind = "readers"
        elif name:
            kind = f"other python ({name})"
        else:
            kind = "onnx pool"
        seen[tid] = (kind, cpu)


def _task_cpu() -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def step_costs(files: list[Path], settings: Settings, folder: Path) -> dict[str, float]:
    """CPU milliseconds per photo of each reader-thread step, on one thread (thread_time,
    so other processes on the machine do not inflate them)."""
    clip = ClipModel(settings.models_path / MODEL_NAME)
    extractor = Extractor(settings, preparers=[ClipStage(clip, settings.vectors_dir)])
    extractor.geocoder.lookup(0.0, 0.0)
    steps: dict[str, Callable[[bytes, Any], Any]] = {
        "read file": lambda _d, path: path.read_bytes(),
        "blake2b hash": lambda data, _p: content_hash(data),
        "exif": lambda data, path: read_metadata(data, path.name),
        "dct-scaled decode": lambda data, path: decode_image(data, extractor.min_side, path.name),
    }
    costs = {name: _per_photo_ms(files, fn) for name, fn in steps.items()}
    images = [decode_image(f.read_bytes(), extractor.min_side, f.name).image for f in files]
    costs["webp thumbnail"] = _timed_ms(
        lambda: [encode_webp(i, settings.thumb_size) for i in images]
    )
    preprocess = clip.config.preprocess
    costs["clip preprocess"] = _timed_ms(lambda: [preprocess_image(i, preprocess) for i in images])
    for key in ("webp thumbnail", "clip preprocess"):
        costs[key] /= len(images)
    costs["whole extract()"] = _whole_extract_ms(files, extractor, settings, folder)
    return costs


def _per_photo_ms(files: list[Path], fn: Callable[[bytes, Any], Any]) -> float:
    blobs = [f.read_bytes() for f in files]
    started = time.thread_time()
    for data, path in zip(blobs, files, strict=True):
        fn(data, path)
    return (time.thread_time() - started) * 1000 / len(files)


def _timed_ms(fn: Callable[[], Any]) -> float:
    started = time.thread_time()
    fn()
    return (time.thread_time() - started) * 1000


def _whole_extract_ms(
    files: list[Path], extractor: Extractor, settings: Settings, folder: Path
) -> float:
    from hachi.indexer.scan import walk_photos

    wanted = {f.name for f in files}
    found = [f for f in walk_photos(folder) if Path(f.path).name in wanted]
    settings.thumbs_dir.mkdir(parents=True, exist_ok=True)
    started = time.thread_time()
    for item in found:
        extractor.extract(item, 1, str(folder))
    return (time.thread_time() - started) * 1000 / len(found)


# -- (c) the usual way --------------------------------------------------------------------------


def reference_rate(files: list[Path]) -> dict[str, Any]:
    if not EXPORT_PYTHON.is_file() or not CHECKPOINT.is_file():
        return {"rate": None, "why": "needs .venv-export and tools/make_vitb32_random.py"}
    command = [str(EXPORT_PYTHON), "-c", REFERENCE, str(CHECKPOINT), *map(str, files)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the run --------------------------------------------------------------------------------------


SWEEP = (
    Config(2, int8=True),
    Config(2, spinning=False),
    Config(2, threads=1, spinning=False),
    Config(3, spinning=False),
    Config(2, batch=32),
    Config(2, spinning=False, int8=True),
)


def sweep(files: list[Path], tmp: Path, workers: int) -> None:
    """Each variant right after a run of the current configuration: the load of the
    machine drifts, so only neighbouring runs compare."""
    count, folder = len(files), tmp / "sweep"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    base = Config(workers)
    print(
        f"\nsweep on {count} photos; each variant against the run of [{base.label()}]"
        " just before it:"
    )
    for config in SWEEP:
        ref = hachi_rate(folder, count, base)
        run = hachi_rate(folder, count, config)
        print(
            f"  {config.label():<50} {run.rate:6.2f} vs {ref.rate:6.2f} photos/s = "
            f"{run.rate / ref.rate:4.2f}x; CPU-ms/photo {run.cpu_ms:4.0f} vs {ref.cpu_ms:4.0f}"
            f"  [load {load_average()}]"
        )


def linked_folder(files: list[Path], tmp: Path) -> Path:
    folder = tmp / "photos"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
        f.read_bytes()  # warm the page cache: measure CPU, not the disk
    return folder


def report_cpu(run: IndexRun) -> None:
    total = sum(run.cpu.values())
    print(f"   CPU by thread kind during (b): {total:.1f} CPU-s in {run.seconds:.1f} s wall")
    for kind, seconds in sorted(run.cpu.items(), key=lambda kv: -kv[1]):
        print(f"     {kind:<24} {seconds:6.1f} s  {1000 * seconds / run.photos:6.1f} ms/photo")


def report_steps(costs: dict[str, float], encoders: dict[str, EncoderRun]) -> None:
    """The ceiling of (b)/(a) when the cores are shared: encoder and readers add up."""
    print(f"   reader-thread steps, CPU ms per photo, one thread ({STEP_SAMPLE} photos):")
    for step, ms in costs.items():
        print(f"     {step:<24} {ms:6.2f}")
    extract = costs["whole extract()"]
    for tower, encoder in encoders.items():
        share = encoder.cpu_ms / (encoder.cpu_ms + extract)
        print(
            f"   {tower}: encoder {encoder.cpu_ms:.0f} CPU-ms/photo (from (a)) + extraction "
            f"{extract:.0f} ms; with every core busy, (b) can reach at most "
            f"{encoder.cpu_ms:.0f}/({encoder.cpu_ms:.0f}+{extract:.0f}) = {share:.0%} of (a)"
        )


def measure_ab(
    folder: Path, files: list[Path], config: Config, rounds: int
) -> tuple[IndexRun, EncoderRun]:
    """(a) and (b) alternated, (a) first and last, so both see the same machine load.

    Other processes share the cores, so wall-clock rates swing between runs; the CPU
    milliseconds per photo do not, and their ratio is what (b)/(a) would be on a quiet
    machine where both get every core.
    """
    model = MODEL_HOME / "models" / MODEL_NAME
    encoders: list[EncoderRun] = []
    runs: list[IndexRun] = []
    for i in range(rounds + 1):
        encoders.append(encoder_rate(model, config.batch, None, ENCODER_BATCHES, config.int8))
        print(
            f"(a) image encoder alone{' (int8)' if config.int8 else ''}: "
            f"{encoders[-1].rate:.2f} photos/s, "
            f"{encoders[-1].cpu_ms:.0f} CPU-ms/photo  [load {load_average()}]"
        )
        if i == rounds:
            break
        runs.append(hachi_rate(folder, len(files), config))
        run = runs[-1]
        ok = run.vectors == run.photos == len(files)
        print(
            f"(b) hachi index with CLIP{' (int8)' if config.int8 else ''}: "
            f"{run.rate:.2f} photos/s, {run.cpu_ms:.0f} CPU-ms/photo"
            f" ({run.photos} photos, {run.vectors} vectors{'' if ok else ', MISMATCH'})"
            f"  [load {load_average()}]"
        )
    encoder = EncoderRun(
        statistics.median(e.rate for e in encoders), statistics.median(e.cpu_ms for e in encoders)
    )
    run = sorted(runs, key=lambda r: r.rate)[(len(runs) - 1) // 2]  # the median (lower)
    wall, cpu = run.rate / encoder.rate, encoder.cpu_ms / run.cpu_ms
    print(
        f"    (b)/(a), medians of wall-clock rates: {wall:.0%}; by CPU per photo: {cpu:.0%}"
        f" (target >= {INDEX_TARGET:.0%}): {'PASS' if cpu >= INDEX_TARGET else 'FAIL'}"
    )
    return run, encoder


def measure_c(files: list[Path]) -> dict[str, Any] | None:
    ref = reference_rate(files)
    if ref.get("rate") is None:
        print(f"(c) not measured: {ref['why']}")
        return None
    print(
        f"(c) usual way (full decode, open_clip preprocess, torch, one at a time): "
        f"{ref['rate']:.2f} photos/s, {ref['cpu_ms']:.0f} CPU-ms/photo on {ref['photos']} "
        f"photos, {ref['torch_threads']} torch threads  [load {load_average()}]"
    )
    return ref


def compare_c(tower: str, run: IndexRun, ref: dict[str, Any] | None) -> None:
    if ref is None:
        return
    wall, cpu = run.rate / ref["rate"], ref["cpu_ms"] / run.cpu_ms
    verdict = "PASS" if min(wall, cpu) >= REFERENCE_TARGET else "FAIL"
    print(
        f"    (b, {tower})/(c): {wall:.1f}x by wall clock, {cpu:.1f}x by CPU per photo "
        f"(target >= {REFERENCE_TARGET:.0f}x): {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--workers", type=int, default=Settings.from_env({}).workers)
    parser.add_argument("--reference-sample", type=int, default=40)
    parser.add_argument("--sweep", action="store_true", help="also try other configurations")
    parser.add_argument("--sweep-only", action="store_true", help="only the sweep")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="(b) runs, each between two (a)")
    parser.add_argument(
        "--towers",
        nargs="+",
        choices=("float32", "int8"),
        default=["float32", "int8"],
        help="image towers to measure (a) and (b) with; (c) is compared with each",
    )
    args = parser.parse_args()
    model_dir()
    files = generate(args.photos)
    config = Config(args.workers)
    print(f"photos: {len(files)} x 12 MP JPEG; cores: {os.cpu_count()}; {config.label()}")
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = linked_folder(files, Path(tmp))
        if args.sweep_only:
            sweep(files[:SWEEP_PHOTOS], Path(tmp), args.workers)
            return
        results = {}
        for tower in args.towers:
            tower_config = replace(config, int8=tower == "int8")
            print(f"-- {tower} image tower: {tower_config.label()}")
            results[tower] = measure_ab(folder, files, tower_config, args.rounds)
        run = results[args.towers[0]][0]
        if not args.skip_reference:
            reference = measure_c(files[: args.reference_sample])
            for tower, (tower_run, _) in results.items():
                compare_c(tower, tower_run, reference)
        report_cpu(run)
        with tempfile.TemporaryDirectory() as home:
            costs = step_costs(files[:STEP_SAMPLE], bench_settings(Path(home), 1), folder)
        report_steps(costs, {tower: enc for tower, (_, enc) in results.items()})
        if args.sweep:
            sweep(files[:SWEEP_PHOTOS], Path(tmp), args.workers)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
