"""Build the fixture library a release leaves behind, so later releases prove they open it.

Users upgrade in place: a catalog, vectors and thumbnails made by one release must open
with the next, names and people intact, with no re-index. This script indexes a small
library with the code of the checkout it runs from (the labelled faces of the shared
corpus, generated photos with camera, date and GPS, and shapes the committed test CLIP
knows), makes the user decisions a real library holds (a named person, a merged person, a
"not this person", a hidden person), and writes the home folder plus ``facts.json``: what
this release answered about its own library. ``tests/test_upgrade.py`` opens every such
fixture with today's code and checks today's answers against those facts.

    .venv/bin/python tools/make_fixture_library.py tests/fixtures/libraries/NAME

Run it once per release, from that release's checkout, and commit the folder it writes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hachi.config import Settings  # noqa: E402
from hachi.library import Library  # noqa: E402
from tests.photo_factory import CORPUS, Shot, write_photo  # noqa: E402

SHAPES_MODEL_DIR = REPO / "models" / "test"
SHAPES_MODEL = "shapes-clip"
SHAPES = (("red", "circle"), ("blue", "square"), ("yellow", "star"), ("green", "triangle"))
SHOTS = {
    "paris.jpg": Shot(make="Canon", model="Canon EOS R5", lat=48.8584, lon=2.2945),
    "tokyo.jpg": Shot(make="NIKON CORPORATION", model="NIKON Z 6", lat=35.6595, lon=139.7005),
    "cape_town.jpg": Shot(
        taken="2021:12:24 18:30:00", make="FUJIFILM", model="X-T4", lat=-33.9249, lon=18.4241
    ),
    "no_gps.jpg": Shot(taken="2015:03:02 09:00:00", make="Apple", model="iPhone 6"),
}


def fixture_settings(home: Path) -> Settings:
    """The settings the fixture is made and opened with: the committed shapes CLIP, no OCR."""
    return Settings.from_env(
        {}, home=home, models_dir=SHAPES_MODEL_DIR, clip_model=SHAPES_MODEL, ocr=False, workers=2
    )


def write_photos(folder: Path) -> None:
    shutil.copytree(CORPUS / "faces", folder, ignore=shutil.ignore_patterns("*.json"))
    for name, shot in SHOTS.items():
        write_photo(folder / "trips" / name, shot)
    spec = importlib.util.spec_from_file_location("shapes", REPO / "tools" / "train_shapes_clip.py")
    assert spec is not None and spec.loader is not None
    shapes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shapes)
    rng = np.random.default_rng(7)
    (folder / "shapes").mkdir()
    for colour, shape in SHAPES:
        for i in range(2):
            image = shapes.draw_shape(colour, shape, rng).convert("RGB")
            image.save(folder / "shapes" / f"{colour}_{shape}_{i}.jpg", quality=90)


def person_of(library: Library, photo_name: str) -> int:
    return next(
        f["person_id"] for f in library.people.faces() if Path(f["path"]).name == photo_name
    )


def make_decisions(library: Library) -> dict[str, object]:
    """The user's decisions a later release must keep, and the facts that show them."""
    obama = person_of(library, "obama_1.jpg")
    library.people.rename(obama, "Barack Obama")
    biden = person_of(library, "biden_1.jpg")
    library.people.rename(biden, "Joe Biden")
    rejected = next(
        f for f in library.people.faces(person_id=biden) if Path(f["path"]).name == "biden_2.jpg"
    )
    library.people.reject_face(rejected["id"])
    alex = person_of(library, "alex_lacamoire_1.jpg")
    rose = person_of(library, "rose_leslie_2.jpg")
    library.people.rename(rose, "Rose")
    library.people.merge(alex, rose)
    kit = person_of(library, "kit_harington_1.jpg")
    library.people.hide(kit, True)
    return {
        "named": {"Barack Obama": obama, "Joe Biden": biden, "Rose": rose},
        "merged": {"from": alex, "into": rose},
        "rejected_face": {"id": rejected["id"], "person": biden},
        "hidden": kit,
    }


def record_facts(library: Library, decisions: dict[str, object]) -> dict[str, object]:
    def names(query: str) -> list[str]:
        hits = library.search(query, limit=1000)["results"]
        return sorted(Path(h["path"]).name for h in hits)

    queries = [
        "camera:canon",
        "place:paris",
        "year:2021",
        "person:obama",
        "person:rose",
        "-person:obama faces:1+",
        "faces:3",
        "file:kit",
        "folder:trips",
    ]
    semantic = library.search("a red circle", limit=3)["results"]
    status = library.status()
    return {
        "made_by": _commit(),
        "schema_version": _schema_version(library.settings.catalog_path),
        "photos": status["photos"],
        "faces": len(library.people.faces()),
        "people": sorted((p["id"], p["name"]) for p in library.people.listed(include_hidden=True)),
        "queries": {q: names(q) for q in queries},
        "semantic_top": Path(semantic[0]["path"]).name if semantic else None,
        "decisions": decisions,
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _schema_version(catalog: Path) -> int:
    conn = sqlite3.connect(catalog)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (must not exist)")
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        write_photos(folder)
        home = args.out / "home"
        library = Library(fixture_settings(home))
        library.add_folder(str(folder))
        library.index_pending()
        facts = record_facts(library, make_decisions(library))
        library.close()
    for leftover in ("catalog.db-wal", "catalog.db-shm"):
        (home / leftover).unlink(missing_ok=True)
    (args.out / "facts.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {facts['photos']} photos, {facts['faces']} faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
