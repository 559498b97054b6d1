"""Build the benchmarks' ViT-B-32 with random weights and install it into a bench home.

    .venv-export/bin/python tools/make_vitb32_random.py [--home bench/data/semantic-home]

Weights do not change speed or memory, only what the embeddings mean, so the semantic
benchmarks measure a real ViT-B-32 without downloading one. The model goes through the
same two commands a user runs: a randomly initialised open_clip ViT-B-32 is saved as a
checkpoint file, `hachi models export` turns it into Hachi's ONNX pair (checked against
torch; with the trimmed text tower and its int8 query copy, and the optional int8 image
tower, so the speed of each can be measured), and `hachi models install` puts it in the
bench home's model store. Everything lands under bench/data/ (gitignored); a second run
finds the model installed and stops, unless it predates the trimmed text tower or
--force asks for a fresh export.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
DEFAULT_HOME = DATA / "semantic-home"
ARCH = "ViT-B-32"
NAME = "vitb32-random"
SEED = 0


def save_random_checkpoint(path: Path) -> None:
    """A seeded open_clip ViT-B-32 straight from its initialiser, as a state-dict file."""
    import open_clip
    import torch

    torch.manual_seed(SEED)
    model = open_clip.create_model(ARCH, pretrained=None, device="cpu")
    torch.save({"state_dict": model.state_dict()}, path)


def hachi(*args: str, home: Path) -> None:
    """Run the `hachi` command of this interpreter's environment (it has the export extra)."""
    command = [str(Path(sys.executable).with_name("hachi")), *args, "--home", str(home)]
    subprocess.run(command, check=True, cwd=ROOT)


def is_current(model_json: Path) -> bool:
    """Installed by this version of the exporter: its text tower takes trimmed queries."""
    try:
        return bool(json.loads(model_json.read_text(encoding="utf-8")).get("text_trim"))
    except (OSError, ValueError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--force", action="store_true", help="export and install again")
    args = parser.parse_args()
    home = args.home.resolve()
    installed = home / "models" / NAME / "model.json"
    if installed.is_file() and is_current(installed) and not args.force:
        print(f"{NAME} is already installed in {home / 'models'}")
        return
    if installed.is_file():
        hachi("models", "remove", NAME, home=home)
    DATA.mkdir(parents=True, exist_ok=True)
    checkpoint = DATA / f"{NAME}.pt"
    if not checkpoint.is_file():
        save_random_checkpoint(checkpoint)
    exported = DATA / f"{NAME}-export"
    shutil.rmtree(exported, ignore_errors=True)
    export = ("models", "export", ARCH, "--pretrained", str(checkpoint), "--out", str(exported))
    hachi(*export, "--name", NAME, "--int8", home=home)
    hachi("models", "install", str(exported), "--name", NAME, home=home)


if __name__ == "__main__":
    main()
