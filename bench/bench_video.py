"""Videos: sampling and embedding speed as a multiple of real time, CPU per minute of video,
and the extra index size per hour of video.

A 1080p H.264 clip is generated with PyAV (shots of drawn shapes that change every few
seconds, with a moving element so the encoder has real motion to code), then, in one run:

- baseline: decoding every frame of the clip (the floor any frame-accurate sampler pays);
- Hachi's sampler (``read_video``: decode with FFmpeg threads, 16x9 signatures every 0.5 s,
  moments at scene changes within the spacing floor and ceiling, pictures only for moments);
- the keyframes-only mode Hachi uses for videos over 10 minutes, on the same clip;
- CLIP preprocessing and the image tower on the moments (the real-size ViT-B-32 with random
  weights when ``--model-dir`` points at one, see bench/bench_clip.py; else the shapes test
  model, which says nothing about real speed and is reported as such);
- the bytes one moment adds (float16 row + int8 search copy + its catalog rows, measured
  on a real catalog), extrapolated per hour of video.

    PYTHONPATH=. .venv/bin/python bench/bench_video.py --seconds 30 \
        --model-dir bench/data/vit-b-32-random
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hachi.catalog import analyses  # noqa: E402
from hachi.catalog.db import connect, transaction  # noqa: E402
from hachi.catalog.schema import migrate  # noqa: E402
from hachi.media.video import read_video  # noqa: E402
from hachi.media.video.moments import MAX_MOMENTS, MAX_SPACING_S, Sampling  # noqa: E402
from hachi.ml.clip.encoders import ClipModel  # noqa: E402
from hachi.ml.clip.preprocess import preprocess_image  # noqa: E402
from hachi.vectors import VectorStore  # noqa: E402

SIZE = (1920, 1080)
FPS = 30
SHOT_S = 5.0
COLOURS = [(200, 40, 40), (40, 80, 220), (240, 220, 30), (30, 170, 60), (160, 60, 200)]
SHAPES_MODEL = ROOT / "models" / "test" / "shapes-clip"
STORE_ROWS = 2000  # rows written to measure bytes per moment


def make_clip(path: Path, seconds: float, gop: int = 60) -> None:
    """1080p H.264 (libx264, preset veryfast, a keyframe every ``gop`` frames: phones write
    one every 1-2 s): a shape per shot on a textured background, a bar moving across
    every frame."""
    rng = np.random.default_rng(1)
    texture = rng.integers(60, 190, (SIZE[1] // 8, SIZE[0] // 8, 3), dtype=np.uint8)
    base = Image.fromarray(texture).resize(SIZE, Image.Resampling.BILINEAR)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast"})
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        for i in range(int(seconds * FPS)):
            shot = int(i / FPS // SHOT_S)
            frame = base.copy()
            draw = ImageDraw.Draw(frame)
            colour = COLOURS[shot % len(COLOURS)]
            cx, cy = 400 + (shot * 300) % 1100, 540
            draw.ellipse((cx - 250, cy - 250, cx + 250, cy + 250), fill=colour)
            x = (i * 12) % SIZE[0]
            draw.rectangle((x, 900, x + 120, 1000), fill=(255, 255, 255))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def timed(work: object) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()  # type: ignore[operator]
    return result, time.perf_counter() - wall, time.process_time() - cpu


def decode_every_frame(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def keyframes_only(path: Path, min_side: int) -> int:
    """The sampler's long-video mode, forced on this clip."""
    from hachi.media.video import moments

    original = Sampling.for_duration
    moments.Sampling.for_duration = classmethod(  # type: ignore[method-assign]
        lambda cls, d: cls(max(MAX_SPACING_S, (d or 0) / MAX_MOMENTS), True)
    )
    try:
        return len(read_video(path, min_side, 600).sampled.moments)
    finally:
        moments.Sampling.for_duration = original  # type: ignore[method-assign]


def bytes_per_moment(dim: int, work: Path) -> dict[str, float]:
    """Catalog and vector-file bytes that STORE_ROWS moments add, per moment."""
    catalog = work / "catalog.db"
    conn = connect(catalog)
    migrate(conn)
    store = VectorStore(work / "v.f16", dim, 0, search_copy=True)
    conn.execute("INSERT INTO folders (id, path, added_at) VALUES (1, '/x', '2026-01-01');")
    conn.execute(
        "INSERT INTO dirs (id, folder_id, path, label, terms) VALUES (1, 1, '/x', 'x', 'x')"
    )
    before = catalog.stat().st_size
    rng = np.random.default_rng(0)
    per_video = 40
    with transaction(conn):
        analyses.committed_rows(conn, "m", dim)
        for video in range(STORE_ROWS // per_video):
            conn.execute(
                "INSERT INTO photos (id, folder_id, dir_id, path, name, ext, size, mtime_ns, "
                "content_hash, mime, indexed_at, kind) VALUES (?, 1, 1, ?, 'v', 'mp4', 1, 1, "
                "'h', 'video/mp4', 'now', 'video')",
                (video + 1, f"/x/{video}.mp4"),
            )
            first = store.append(rng.normal(size=(per_video, dim)).astype(np.float32))
            times = [2.0 * i for i in range(per_video)]
            analyses.store_moments(conn, "m", video + 1, first, times, 0)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    rows = store.rows
    store.close()
    vector_bytes = sum(p.stat().st_size for p in work.iterdir() if p.name.startswith("v."))
    return {
        "vector_bytes": vector_bytes / rows,
        "catalog_bytes": (catalog.stat().st_size - before) / rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--gop", type=int, default=60, help="frames between keyframes (250: x264's default)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip_path = work / "clip.mp4"
        make_clip(clip_path, args.seconds, args.gop)
        model_dir = args.model_dir or SHAPES_MODEL
        clip = ClipModel(model_dir, threads=args.threads)
        min_side = min(clip.config.preprocess.image_size)
        frames, decode_wall, decode_cpu = timed(lambda: decode_every_frame(clip_path))
        video, sample_wall, sample_cpu = timed(lambda: read_video(clip_path, min_side, 600))
        keyframe_moments, key_wall, key_cpu = timed(lambda: keyframes_only(clip_path, min_side))
        moments = video.sampled.moments  # type: ignore[attr-defined]
        clip.encode_images([moments[0].image])  # load the model outside the timing

        def embed() -> np.ndarray:
            inputs = np.stack([preprocess_image(m.image, clip.config.preprocess) for m in moments])
            return np.concatenate(
                [clip.encode_image_batch(inputs[i : i + 32]) for i in range(0, len(inputs), 32)]
            )

        vectors, embed_wall, embed_cpu = timed(embed)
        clip_bytes = clip_path.stat().st_size
        (work / "store").mkdir()
        sizes = bytes_per_moment(clip.embed_dim, work / "store")
    minutes = args.seconds / 60
    per_moment = sizes["vector_bytes"] + sizes["catalog_bytes"]
    moments_per_hour = len(moments) / minutes * 60
    report = {
        "clip": f"{SIZE[0]}x{SIZE[1]} H.264 {FPS} fps, {args.seconds:g} s, {clip_bytes} bytes",
        "model": str(model_dir.name)
        + ("" if args.model_dir else " (tiny test model: embedding speed is NOT representative)"),
        "threads": args.threads,
        "load": os.getloadavg(),
        "decode_every_frame": {
            "frames": frames,
            "x_real_time": round(args.seconds / decode_wall, 2),
            "cpu_ms_per_min": round(decode_cpu * 1000 / minutes),
        },
        "hachi_sampler": {
            "moments": len(moments),
            "x_real_time": round(args.seconds / sample_wall, 2),
            "cpu_ms_per_min": round(sample_cpu * 1000 / minutes),
            "vs_decode_every_frame": round(decode_wall / sample_wall, 2),
        },
        "keyframes_only": {
            "moments": keyframe_moments,
            "x_real_time": round(args.seconds / key_wall, 2),
            "cpu_ms_per_min": round(key_cpu * 1000 / minutes),
        },
        "embedding": {
            "vectors": len(vectors),  # type: ignore[arg-type]
            "x_real_time": round(args.seconds / embed_wall, 2),
            "cpu_ms_per_min": round(embed_cpu * 1000 / minutes),
            "ms_per_moment": round(embed_wall * 1000 / len(moments), 1),
        },
        "sample_and_embed": {
            "x_real_time": round(args.seconds / (sample_wall + embed_wall), 2),
            "cpu_ms_per_min": round((sample_cpu + embed_cpu) * 1000 / minutes),
        },
        "index_size": {
            "bytes_per_moment": round(per_moment, 1),
            "vector_bytes_per_moment": round(sizes["vector_bytes"], 1),
            "catalog_bytes_per_moment": round(sizes["catalog_bytes"], 1),
            "moments_per_minute_measured": round(len(moments) / minutes, 1),
            "mb_per_hour_as_clips_like_this": round(moments_per_hour * per_moment / 1e6, 2),
            "mb_per_hour_one_long_video": round(MAX_MOMENTS * per_moment / 1e6, 3),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
