"""How `hachi search` (and `hachi albums show`) print photos: for people and for scripts.

``text`` (the default) is one line a photo with its date, camera and place, and a count
on stderr; ``paths`` only the paths, one a line (``--print0``: each ended by NUL, for
``xargs -0``, which is safe for any file name); ``csv`` a header and one row a photo;
``json`` the whole answer as one object.
"""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from hachi.cli.output import print_json

FORMATS = ("text", "paths", "csv", "json")
CSV_COLUMNS = (
    "id", "path", "name", "taken_at", "camera", "lens", "place", "country_code",
    "width", "height", "size", "mime", "kind", "duration_s", "at_s", "score",
)  # fmt: skip


def print_results(result: dict[str, Any], form: str, print0: bool = False) -> None:
    if form == "json":
        print_json(result)
        return
    for notice in result["notices"]:
        print(f"note: {notice}", file=sys.stderr)
    if print0 or form == "paths":
        end = "\0" if print0 else "\n"
        for hit in result["results"]:
            sys.stdout.write(hit["path"] + end)
    elif form == "csv":
        writer = csv.DictWriter(sys.stdout, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(result["results"])
    else:
        for hit in result["results"]:
            when = (hit["taken_at"] or "")[:16].replace("T", " ")
            extras = " · ".join(x for x in (when, _video(hit), hit["camera"], hit["place"]) if x)
            print(f"{hit['path']}\t{extras}")
    stacked = result.get("stacked") or 0
    copies = f", {stacked} more stacked as copies (stack:off lists them)" if stacked else ""
    print(f"{result['total']} photos{copies}, {result['took_ms']:.1f} ms", file=sys.stderr)


def add_result_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object (--format json)")
    p.add_argument(
        "--format", choices=FORMATS, default="text",
        help="text (default), paths (one a line), csv, or json",
    )  # fmt: skip
    p.add_argument(
        "--print0", action="store_true", help="paths only, each ended by NUL (for xargs -0)"
    )


def _video(hit: dict[str, Any]) -> str:
    """``video 1:05 from 0:12``: a video's length and where its best moment starts."""
    if hit.get("kind") != "video":
        return ""
    return f"video {_clock(hit['duration_s'])} from {_clock(hit['at_s'])}"


def _clock(seconds: float | None) -> str:
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
