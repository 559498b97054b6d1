"""Text in photos, end to end: JPEG signs on disk -> indexing job (scan, then the OCR
pass) -> catalog -> the query language and photo details. No CLIP model is installed
here, so free text can only match through the lexical index (OCR text among others)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from hachi.config import Settings
from hachi.library import Library

pytestmark = pytest.mark.slow  # real OCR of four photos: ~10-20 s on two shared cores

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
PHOTO_SIZE = (1600, 1200)
ORIENTATION_TAG = 0x0112
# EXIF orientation 5: the stored pixels are mirrored across the main diagonal (a transpose,
# its own inverse). Unlike a plain quarter turn, which rapidocr straightens by itself, text
# stored this way is unreadable unless the decoder honours the tag.
TRANSPOSED = 5


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.is_file():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size=size)


def backdrop(seed: int, colour: tuple[int, int, int]) -> Image.Image:
    """A photo-like background: a colour with a gradient and sensor noise, not a flat fill."""
    rng = np.random.default_rng(seed)
    w, h = PHOTO_SIZE
    shade = 0.7 + 0.3 * np.linspace(0, 1, w)[None, :, None] * np.linspace(1, 0.6, h)[:, None, None]
    arr = np.asarray(colour, dtype=np.float64) * shade + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def car_with_plate() -> Image.Image:
    image = backdrop(1, (120, 125, 130))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((300, 450, 1300, 1000), radius=60, fill=(150, 20, 30))  # the car
    draw.rectangle((560, 780, 1040, 880), fill=(245, 245, 240), outline="black", width=4)
    draw.text((800, 830), "RE16 TGK", font=font(64), fill="black", anchor="mm")
    return image


def birthday_card() -> Image.Image:
    image = backdrop(2, (110, 40, 140))
    draw = ImageDraw.Draw(image)
    draw.text((800, 400), "HAPPY BIRTHDAY", font=font(110), fill="white", anchor="mm")
    draw.ellipse((650, 650, 950, 950), fill=(240, 200, 60))  # a cake, seen from above
    return image


def street_sign() -> Image.Image:
    image = backdrop(3, (90, 140, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((400, 300, 1200, 460), fill=(0, 100, 60), outline="white", width=6)
    draw.text((800, 380), "KING STREET", font=font(90), fill="white", anchor="mm")
    draw.rectangle((790, 460, 810, 1200), fill=(60, 60, 60))  # the post
    return image


@dataclass(frozen=True)
class Indexed:
    library: Library
    ids: dict[str, int]  # file name -> photo id


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    root = tmp_path_factory.mktemp("ocr_library")
    folder = root / "photos"
    folder.mkdir()
    car_with_plate().save(folder / "IMG_0001.jpg", quality=90)
    birthday_card().save(folder / "IMG_0002.jpg", quality=90)
    backdrop(4, (60, 140, 50)).save(folder / "IMG_0003.jpg", quality=90)  # a meadow, no text
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = TRANSPOSED
    stored = street_sign().transpose(Image.Transpose.TRANSPOSE)
    stored.save(folder / "IMG_0004.jpg", quality=90, exif=exif)

    settings = Settings.from_env({}, home=root / "home", ocr=True, workers=2)
    library = Library(settings)
    library.add_folder(str(folder))
    library.index_pending()
    everything = library.search("", limit=100)["results"]
    yield Indexed(library, {hit["name"]: hit["id"] for hit in everything})
    library.close()


def found(indexed: Indexed, query: str) -> set[str]:
    names = {photo_id: name for name, photo_id in indexed.ids.items()}
    return {names[hit["id"]] for hit in indexed.library.search(query, limit=100)["results"]}


def test_all_photos_are_indexed_with_ocr_on(indexed: Indexed) -> None:
    assert set(indexed.ids) == {"IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg", "IMG_0004.jpg"}
    assert indexed.library.status()["features"]["ocr"] is True


def test_text_filter_finds_the_number_plate_only(indexed: Indexed) -> None:
    assert found(indexed, "text:RE16") == {"IMG_0001.jpg"}
    assert found(indexed, "text:re16") == {"IMG_0001.jpg"}  # case-insensitive
    assert found(indexed, "text:E16") == {"IMG_0001.jpg"}  # a piece of a word matches too


def test_text_filter_with_a_quoted_phrase(indexed: Indexed) -> None:
    assert found(indexed, 'text:"happy birthday"') == {"IMG_0002.jpg"}
    assert found(indexed, 'text:"birthday happy"') == set()  # a phrase keeps its order


def test_negated_text_filter_excludes_the_card(indexed: Indexed) -> None:
    assert found(indexed, "-text:birthday") == {"IMG_0001.jpg", "IMG_0003.jpg", "IMG_0004.jpg"}


def test_free_text_matches_ocr_text_lexically(indexed: Indexed) -> None:
    assert found(indexed, "birthday") == {"IMG_0002.jpg"}
    assert found(indexed, "zebra") == set()


def test_text_is_read_after_exif_rotation(indexed: Indexed) -> None:
    """The sign is stored transposed; only a decode that applies the tag lets OCR read it."""
    assert found(indexed, 'text:"king street"') == {"IMG_0004.jpg"}


def test_photo_details_carry_the_text(indexed: Indexed) -> None:
    plate = indexed.library.photo(indexed.ids["IMG_0001.jpg"])
    assert "".join(plate["text"].split()) == "RE16TGK"
    meadow = indexed.library.photo(indexed.ids["IMG_0003.jpg"])
    assert not meadow["text"]


def test_the_reader_is_released_after_its_pass(indexed: Indexed) -> None:
    """Each slow pass loads its model for the pass and gives the memory back after it."""
    reader = indexed.library.models.ocr
    assert reader is not None and not reader.loaded
