"""The faces pass's screen, taken in the scan: photos it rules out are never decoded again.

The scan already decodes every photo for its grid tiles; the screen looks at that small
copy for skin-coloured detail (no model) and records "no faces" for a photo without any,
so the faces pass opens only the rest. What must hold: every labelled face is still found
(the screen never rules out a photo the pass would find a face in), photos without faces
end with the same empty row the pass would write, and the pass's own count shows it
skipped them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hachi.catalog import jobs as jobs_db
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.indexer.extract import Extractor
from hachi.indexer.runner import run_next_job
from hachi.library import Library
from hachi.media.decode import decode_image
from hachi.ml.faces.dlib_backend import DlibBackend
from tests.photo_factory import Shot, exif_for, require_corpus

FACES = require_corpus() / "faces"
FACE_PHOTOS = ("obama_1.jpg", "group_two_people.jpg")


def landscape(path: Path, seed: int) -> None:
    """Blue sky over a green field with some texture: no skin, no face."""
    rng = np.random.default_rng(seed)
    h, w = 900, 1200
    px = np.empty((h, w, 3), np.float32)
    px[: h // 2] = (110, 160, 225)
    px[h // 2 :] = (60, 120, 50)
    px += rng.normal(0, 12, px.shape)
    Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(
        path, "JPEG", quality=90, exif=exif_for(Shot(seed=seed))
    )


@pytest.mark.slow
def test_screened_photos_skip_the_faces_pass_and_every_face_is_found(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in FACE_PHOTOS:
        shutil.copy(FACES / name, photos / name)
    for i in range(3):
        landscape(photos / f"field{i}.jpg", i)
    settings = Settings(
        home=tmp_path / "home", workers=2, ocr=False, face_backend="dlib", auto_models=False
    )
    settings.ensure_dirs()
    with Library(settings) as lib:
        lib.add_folder(str(photos))
        assert lib.models.faces is not None and lib.models.faces.screens
        while ran := run_next_job(settings, Extractor(settings), models=lib.models):
            job = ran[0]
    conn = connect(settings.catalog_path)
    try:
        faces = dict(
            conn.execute(
                "SELECT p.path, COUNT(f.id) FROM photos p LEFT JOIN faces f ON f.photo_id = p.id "
                "GROUP BY p.id"
            ).fetchall()
        )
        analysed = conn.execute(
            "SELECT COUNT(*) FROM analyses WHERE task = 'faces' AND error IS NULL"
        ).fetchone()[0]
        final = jobs_db.get_job(conn, job.id)
    finally:
        conn.close()
    assert {Path(p).name: n for p, n in faces.items()} == {
        "obama_1.jpg": 1,
        "group_two_people.jpg": 2,
        "field0.jpg": 0,
        "field1.jpg": 0,
        "field2.jpg": 0,
    }
    assert analysed == 5, "every photo has its faces row, screened or detected"
    assert (final.phase, final.phase_total) == ("faces", len(FACE_PHOTOS))


def test_the_screen_never_rules_out_a_labelled_face_photo() -> None:
    """Judged on the scan's own small decode, for every photo of the face corpus."""
    backend = DlibBackend()
    for photo in sorted(FACES.iterdir()):
        if photo.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        small = decode_image(photo.read_bytes(), 480, photo.name).image
        assert backend.might_hold_faces(small), photo.name
    assert not backend.loaded, "the screen needs no model"


def test_without_its_gate_the_backend_screens_nothing(tmp_path: Path) -> None:
    landscape(tmp_path / "field.jpg", 7)
    image = decode_image((tmp_path / "field.jpg").read_bytes(), 480).image
    assert not DlibBackend().might_hold_faces(image)
    ungated = DlibBackend(gate=False)
    assert not ungated.screens and ungated.might_hold_faces(image)
