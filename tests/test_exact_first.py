"""With semantic search on, photos whose place, text in the photo, file name or folder
match every typed word come first, then the photos that only look like the words.

A real library: coloured shapes (the tiny shapes CLIP model knows them), blue stars taken
in Tokyo and in Circle (Montana), one birthday card read by OCR, and a blue star filed in a
folder named "red circle"; indexed by the real pipeline, searched through the Library."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.config import Settings
from hachi.library import Library
from hachi.ml.store import install_model
from tests.photo_factory import Shot, exif_for
from tests.test_ocr_search import birthday_card

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from train_shapes_clip import CLASSES, draw_dataset  # noqa: E402

pytestmark = pytest.mark.slow  # OCR of a birthday card and ~60 small photos
SHAPES = 64
TOKYO = (35.6938, 139.7034)
CIRCLE_MONTANA = (47.4167, -105.5917)  # a town named like a shape the model knows


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Library, dict[str, int]]]:
    base = tmp_path_factory.mktemp("exact")
    settings = Settings.from_env(
        {}, home=base / "home", clip_model="shapes-clip", ocr=True, workers=2
    )
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    images, labels = draw_dataset(SHAPES + 2, seed=7)
    folder = base / "photos"
    folder.mkdir()
    for i, image in enumerate(images[:SHAPES]):
        image.save(folder / f"img_{i:03d}.jpg", quality=92)
    blue_star = CLASSES.index(("blue", "star"))
    star = next(image for image, label in zip(images, labels, strict=True) if label == blue_star)
    shot = Shot(lat=TOKYO[0], lon=TOKYO[1])
    star.save(folder / "dsc_0001.jpg", quality=92, exif=exif_for(shot))
    town = Shot(lat=CIRCLE_MONTANA[0], lon=CIRCLE_MONTANA[1])
    star.save(folder / "dsc_0004.jpg", quality=92, exif=exif_for(town))
    (folder / "red circle").mkdir()
    star.save(folder / "red circle" / "dsc_0002.jpg", quality=92)
    birthday_card().resize((800, 600)).save(folder / "dsc_0003.jpg", quality=90)
    lib = Library(settings)
    lib.add_folder(str(folder))
    lib.index_pending()
    # The star is saved three times (only EXIF differs): identical copies, stacked by
    # default; every photo is named here.
    names = {hit["name"]: hit["id"] for hit in lib.search("stack:off", limit=1000)["results"]}
    yield lib, names
    lib.close()


def _first(lib: Library, q: str) -> list[int]:
    result = lib.search(q, limit=1000)
    assert result["semantic"] is True
    return [hit["id"] for hit in result["results"]]


def test_a_place_name_puts_the_photos_taken_there_first(
    library: tuple[Library, dict[str, int]],
) -> None:
    lib, names = library
    assert lib.photo(names["dsc_0001.jpg"])["place"], "the Tokyo photo has a place"
    assert _first(lib, "tokyo")[0] == names["dsc_0001.jpg"]


def test_a_place_named_like_what_clip_sees_still_comes_first(
    library: tuple[Library, dict[str, int]],
) -> None:
    """`circle`: the blue star taken in Circle, Montana, then the circles CLIP finds."""
    lib, names = library
    assert "Circle" in lib.photo(names["dsc_0004.jpg"])["place"]
    ranked = _first(lib, "circle")
    assert ranked[0] == names["dsc_0004.jpg"]
    assert len(ranked) > 1


def test_words_printed_in_a_photo_put_it_first(library: tuple[Library, dict[str, int]]) -> None:
    lib, names = library
    assert _first(lib, "birthday")[0] == names["dsc_0003.jpg"]
    assert _first(lib, "happy birthday")[0] == names["dsc_0003.jpg"]


def test_a_folder_matching_every_word_beats_what_only_looks_like_it(
    library: tuple[Library, dict[str, int]],
) -> None:
    lib, names = library
    ranked = _first(lib, "red circle")
    assert ranked[0] == names["dsc_0002.jpg"], "the blue star filed under 'red circle'"
    assert len(ranked) > 1, "then the red circles CLIP finds"
