"""TextReader on generated signs: Pillow-rendered text on coloured backgrounds."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from hachi.media.decode import decode_image
from hachi.ml.available import OCR_INDEX_SIDE
from hachi.ml.ocr import (
    BUNDLED_MODELS,
    OCR_MAX_SIDE,
    RAPIDOCR_LOGGER,
    TextLine,
    TextReader,
    bundled_model_paths,
    engine_params,
    reading_order,
    reduced_bgr,
)
from tests.photo_factory import pixels

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.is_file():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size=size)


def sign(
    size: tuple[int, int], text: str, at: tuple[int, int], height: int, colours: tuple[str, str]
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A photo-sized image with one sign; returns it and the text's bounding box."""
    background, ink = colours
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox(at, text, font=font(height))
    draw.rectangle(
        (left - 20, top - 20, right + 20, bottom + 20), fill="white" if ink != "white" else "black"
    )
    draw.text(at, text, font=font(height), fill=ink)
    return image, (round(left), round(top), round(right - left), round(bottom - top))


def squash(text: str) -> str:
    return "".join(text.split()).upper()


@pytest.fixture(scope="module")
def reader() -> Iterator[TextReader]:
    model = TextReader(threads=2)
    yield model
    model.unload()


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / min(a[2] * a[3], b[2] * b[3])


def test_reads_a_number_plate_in_a_large_photo(reader: TextReader) -> None:
    image, where = sign((4000, 3000), "RE16 TGK", (2300, 1900), 90, ("darkgreen", "black"))
    lines = reader.predict(image)
    plate = [line for line in lines if squash(line.text) == "RE16TGK"]
    assert plate, lines
    assert plate[0].score >= reader.min_score
    assert overlap(plate[0].box, where) > 0.7  # boxes are in the caller's pixels


def test_reads_a_banner_and_a_street_sign_in_reading_order(reader: TextReader) -> None:
    image, _ = sign((1600, 1200), "HAPPY BIRTHDAY", (200, 150), 80, ("purple", "white"))
    draw = ImageDraw.Draw(image)
    draw.rectangle((600, 800, 1350, 950), fill=(0, 110, 60))
    draw.text((640, 830), "ABBEY ROAD", font=font(70), fill="white")
    text = reader.read_text(image)
    assert [squash(row) for row in text.splitlines()] == ["HAPPYBIRTHDAY", "ABBEYROAD"]


@pytest.mark.parametrize("max_side", [OCR_INDEX_SIDE, OCR_MAX_SIDE])
def test_reads_small_text_on_a_textured_12_mp_photo(max_side: int) -> None:
    """20 px letters in a 4000 x 3000 JPEG, decoded as the indexer decodes it (5 px where
    the reader works at 960): the gate passes them to the reader, which reads them as it
    does with the gate off."""
    image = pixels((4000, 3000), 5)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((2610, 2308), "KING STREET", font=font(20))
    draw.rectangle((left - 12, top - 12, right + 12, bottom + 12), fill=(250, 250, 240))
    draw.text((2610, 2308), "KING STREET", font=font(20), fill=(20, 30, 120))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    decoded = decode_image(buffer.getvalue(), max_side * 3 // 4).image
    gated = TextReader(threads=2, max_side=max_side).predict(decoded)
    whole = TextReader(threads=2, max_side=max_side, gate=False).predict(decoded)
    assert [squash(line.text) for line in gated] == ["KINGSTREET"]
    assert [squash(line.text) for line in whole] == ["KINGSTREET"]
    assert overlap(gated[0].box, whole[0].box) > 0.9


def test_reads_a_faint_caption_printed_on_a_photo() -> None:
    """Letters only 30 grey levels lighter than the grass they are printed on, no sign
    board around them: the gate still hands them to the reader."""
    image = Image.new("RGB", (4000, 3000), (110, 160, 220))
    grass = np.asarray(pixels((4000, 1800), 2), dtype=np.int16) // 3 + np.array([40, 80, 30])
    image.paste(Image.fromarray(grass.clip(0, 255).astype(np.uint8)), (0, 1200))
    ink = tuple(int(v) + 30 for v in grass[600:700, 1000:1400].reshape(-1, 3).mean(axis=0))
    ImageDraw.Draw(image).text((1000, 1800), "SUMMER 2019", font=font(90), fill=ink)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    decoded = decode_image(buffer.getvalue(), OCR_INDEX_SIDE * 3 // 4).image
    whole = TextReader(threads=2, max_side=OCR_INDEX_SIDE, gate=False).predict(decoded)
    gated = TextReader(threads=2, max_side=OCR_INDEX_SIDE).predict(decoded)
    assert [line.text for line in gated] == [line.text for line in whole] == ["SUMMER 2019"]


@pytest.mark.parametrize("size", [(3, 3), (1, 200), (10, 7)])
def test_tiny_images_are_read_without_error(reader: TextReader, size: tuple[int, int]) -> None:
    assert reader.predict(Image.new("RGB", size, "white")) == []


def test_a_blank_photo_has_no_text(reader: TextReader) -> None:
    assert reader.predict(Image.new("RGB", (800, 600), "skyblue")) == []
    assert reader.read_text(Image.new("L", (50, 40), 128)) == ""


def no_network(*_args: object, **_kwargs: object) -> NoReturn:
    raise AssertionError("OCR tried to open a network connection")


def test_loads_lazily_offline_and_quietly_then_unloads(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fresh engine must come up from the wheel's own files: any socket is a failure."""
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    model = TextReader(threads=1, min_score=0.99)
    assert not model.loaded
    image, _ = sign((900, 300), "EXIT 24", (120, 90), 90, ("navy", "black"))
    assert model.read_text(image).replace(" ", "") == "EXIT24"  # pieces of one row rejoin
    assert model.read_text(Image.new("RGB", (640, 480), "white")) == ""
    assert model.loaded
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no INFO chatter, no "detection result is empty" warning
    assert not [r for r in caplog.records if r.name.startswith(RAPIDOCR_LOGGER)]
    assert logging.getLogger(RAPIDOCR_LOGGER).getEffectiveLevel() == logging.WARNING
    model.unload()
    assert not model.loaded


def test_uses_the_models_bundled_in_the_wheel() -> None:
    paths = bundled_model_paths()
    assert {section: path.name for section, path in paths.items()} == BUNDLED_MODELS
    assert all(path.is_file() and path.stat().st_size > 100_000 for path in paths.values())
    params = engine_params(paths, max_side=1024, min_score=0.7, threads=10_000)
    assert params["Det.model_path"] == str(paths["Det"]) and params["Rec.model_path"]
    assert params["Det.limit_side_len"] == params["Global.max_side_len"] == 1024
    assert params["Global.text_score"] == 0.7
    assert 1 <= params["EngineConfig.onnxruntime.intra_op_num_threads"] < 10_000


def test_reduced_bgr_keeps_aspect_and_channel_order() -> None:
    image = Image.new("RGB", (4000, 1000), (255, 0, 0))
    pixels, scale = reduced_bgr(image, 1280)
    assert pixels.shape == (320, 1280, 3) and pixels.dtype == np.uint8
    assert scale == pytest.approx(3.125)
    assert tuple(pixels[0, 0]) == (0, 0, 255)
    small, factor = reduced_bgr(Image.new("RGBA", (300, 200)), 1280)
    assert small.shape == (200, 300, 3) and factor == 1.0


@pytest.mark.parametrize("size", [(2000, 1500), (4032, 3024), (6000, 4000), (900, 600)])
def test_an_area_reduced_alone_has_the_whole_reductions_pixels(size: tuple[int, int]) -> None:
    """The reader reduces only the gate's rectangles; what the detector sees there must be
    what it saw when the whole photo was reduced (within one level of rounding), or a
    crop could read differently from the photo."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.BICUBIC)  # detail at all scales
    whole, scale = reduced_bgr(image, 1280)
    height, width = whole.shape[:2]
    for area in [
        (0, 0, width, height),
        (3, 5, 67, 90),
        (101, 37, 333, 201),
        (width - 70, height - 50, width, height),
    ]:
        x0, y0, x1, y1 = area
        crop, factor = reduced_bgr(image, 1280, area)
        assert factor == scale and crop.shape == (y1 - y0, x1 - x0, 3)
        assert crop.flags["C_CONTIGUOUS"]
        difference = np.abs(crop.astype(np.int16) - whole[y0:y1, x0:x1].astype(np.int16))
        assert difference.max() <= 1, area


def test_reading_order_groups_words_on_one_row() -> None:
    right = TextLine("WORLD", 0.9, (300, 105, 100, 40))
    left = TextLine("HELLO", 0.9, (100, 100, 100, 40))
    below = TextLine("BYE", 0.9, (100, 300, 100, 40))
    assert reading_order([below, right, left]) == [left, right, below]


def test_threads_read_with_their_own_engines_and_agree_with_one_thread() -> None:
    """The OCR pass reads photos on its reader threads (``concurrent``), each thread with
    its own engine (rapidocr keeps per-call state): the text must be what one thread reads."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    texts = ("KING STREET", "CAFE ROMA", "EXIT 24", "NO PARKING")
    photos = [
        sign((1600, 1200), text, (200 + 150 * i, 500), 70, ("lightblue", "black"))[0]
        for i, text in enumerate(texts)
    ]
    reader = TextReader(max_side=OCR_INDEX_SIDE)
    assert reader.concurrent
    serial = [squash(reader.read_text(photo)) for photo in photos]
    assert serial == [squash(text) for text in texts]
    engines: set[int] = set()

    def read(photo: Image.Image) -> str:
        text = reader.read_text(photo)
        engines.add(id(reader._engine()))
        assert threading.current_thread() is not threading.main_thread()
        return squash(text)

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(read, photos * 3)) == serial * 3
    assert len(engines) == 2, "each reader thread had an engine of its own"
    reader.unload()


def test_every_thread_detects_with_the_one_shared_session() -> None:
    """Whichever thread reads a photo, its detection runs on the one shared session (the
    main thread's engine and each reader thread's are served by it), and every thread
    reads what one thread reads."""
    from concurrent.futures import ThreadPoolExecutor

    texts = ("KING STREET", "CAFE ROMA", "EXIT 24")
    photos = [
        sign((1600, 1200), text, (200 + 150 * i, 500), 70, ("lightblue", "black"))[0]
        for i, text in enumerate(texts)
    ]
    reader = TextReader(max_side=OCR_INDEX_SIDE, gate=False)  # one detection a photo
    serial = [squash(reader.read_text(photo)) for photo in photos]
    assert serial == [squash(text) for text in texts]
    shared = reader.shared_detector
    assert shared is not None
    assert (shared.engines, shared.runs) == (1, len(photos))
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda p: squash(reader.read_text(p)), photos * 3)) == serial * 3
    assert shared.engines == 3, "the main thread's engine and each reader thread's"
    assert shared.runs == 4 * len(photos)
    assert shared.small_runs == 0, "a whole photo is detected on every core"
    reader.unload()
    assert reader.shared_detector is None


def test_a_crop_is_read_with_one_detection_on_the_one_thread_session() -> None:
    """A sign the gate finds in a small area: the crop alone is reduced and read, with one
    detection, which goes to the shared detector's one-thread session for small crops
    (a whole photo's goes to the session on every core: the test above)."""
    photo, _box = sign((1600, 1200), "EXIT 24", (600, 500), 40, ("lightblue", "black"))
    reader = TextReader(max_side=OCR_INDEX_SIDE)
    assert squash(reader.read_text(photo)) == "EXIT24"
    shared = reader.shared_detector
    assert shared is not None
    assert (shared.engines, shared.runs, shared.small_runs) == (1, 1, 1)
    reader.unload()
