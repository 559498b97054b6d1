"""Time to first thumbnails on a 10,000-photo library: today's UI against an older build,
in the same run, through the real Caddy + Hachi, in headless Chromium.

    PYTHONPATH=. .venv/bin/python bench/bench_ui_first_thumbnails.py --baseline DIR \\
        [--photos 10000] [--rounds 5] [--pairs 2]

DIR is an older build of the UI (its index.html and assets/), e.g. made with
``git archive <commit> frontend | tar -x -C /tmp/old`` and ``npx vite build`` there. The
library is tests/browser/big_library.py's (synthetic rows sharing 16 real thumbnails, 2x
tiles included). Each pair opens the home view ``--rounds`` times cold with each build, at
devicePixelRatio 1 and 2, alternating which goes first; the figure is the time from
navigation to the first 8 tiles' thumbnails drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hachi.config import Settings  # noqa: E402
from tests.browser import stack as stack_module  # noqa: E402
from tests.browser.big_library import build_catalog  # noqa: E402

PASSWORD = "bench password"
SYNTHETIC = {"HACHI_WATCH": "false", "HACHI_RESCAN_HOURS": "0"}


def measure(static: Path, home: Path, rounds: int, dpr: int) -> list[int]:
    stack_module.STATIC = static
    with stack_module.running_stack(home, PASSWORD, settings_env=SYNTHETIC) as stack:
        env = {
            **os.environ,
            "HACHI_UI_URL": stack.ui_url,
            "HACHI_TEST_PASSWORD": PASSWORD,
            "ROUNDS": str(rounds),
            "DPR": str(dpr),
        }
        done = subprocess.run(
            ["node", str(ROOT / "bench" / "first_thumbnails.mjs")],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"first_thumbnails.mjs failed:\n{done.stdout}\n{done.stderr}")
    return list(json.loads(done.stdout.strip().splitlines()[-1])["runs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    builds = {"today": stack_module.STATIC, "baseline": args.baseline}
    with tempfile.TemporaryDirectory(prefix="hachi-bench-ui-") as tmp:
        home, photos = Path(tmp) / "home", Path(tmp) / "photos"
        photos.mkdir()
        build_catalog(Settings(home=home), photos, args.photos)
        for dpr in (1, 2):
            runs: dict[str, list[int]] = {name: [] for name in builds}
            for pair in range(args.pairs):
                order = list(builds) if pair % 2 == 0 else list(reversed(builds))
                for name in order:
                    runs[name] += measure(builds[name], home, args.rounds, dpr)
            medians = {name: statistics.median(values) for name, values in runs.items()}
            print(
                f"dpr {dpr}: today median {medians['today']:.0f} ms "
                f"(max {max(runs['today'])}), baseline {medians['baseline']:.0f} ms "
                f"(max {max(runs['baseline'])}): {medians['today'] / medians['baseline']:.2f}x; "
                f"load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
