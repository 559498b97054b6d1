"""Smart albums with words, ranked by meaning, with the real (small, trained) shapes CLIP
model; and plain albums that keep their photos when the library is embedded again."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.config import Settings
from hachi.errors import BadRequest
from hachi.library import Library
from hachi.ml.store import install_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from train_shapes_clip import draw_dataset  # noqa: E402

PHOTOS = 48


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    base = tmp_path_factory.mktemp("album_shapes")
    settings = Settings.from_env(
        {}, home=base / "home", clip_model="shapes-clip", ocr=False, workers=2
    )
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    images, _labels = draw_dataset(PHOTOS, seed=77)
    folder = base / "photos"
    folder.mkdir()
    for i, image in enumerate(images):
        image.save(folder / f"img_{i:03d}.jpg", quality=92)
    library = Library(settings)
    library.add_folder(str(folder))
    library.index_pending()
    yield library
    library.close()


def ranked(library: Library, q: str) -> list[int]:
    return [r["id"] for r in library.search(q, limit=PHOTOS)["results"]]


def test_a_smart_album_with_words_ranks_as_its_query(shapes: Library) -> None:
    album = shapes.albums.create("Stars", "a blue star")
    try:
        expected = ranked(shapes, "a blue star")
        assert 0 < len(expected) < PHOTOS
        assert ranked(shapes, 'album:"stars"') == expected
        assert ranked(shapes, "album:stars orientation:square") == ranked(
            shapes, "a blue star orientation:square"
        )
        assert shapes.albums.photo_ids(album["id"]) == sorted(expected)
        with pytest.raises(BadRequest, match="alone"):
            shapes.search("-album:stars", limit=10)
    finally:
        shapes.albums.delete(album["id"])


def test_albums_keep_their_photos_when_the_library_is_embedded_again(shapes: Library) -> None:
    ids = ranked(shapes, "")[:5]
    album = shapes.albums.create("Five")
    shapes.albums.add(album["id"], ids)
    count_sql = "SELECT COUNT(*) FROM analyses WHERE task = 'clip'"
    rows_before = shapes.conn.execute(count_sql).fetchone()
    with shapes.catalog.write_lock:
        shapes.conn.execute("DELETE FROM analyses WHERE task = 'clip'")
        shapes.conn.commit()
    shapes.rescan()  # the job's model pass embeds every photo again
    shapes.index_pending()
    rows_after = shapes.conn.execute(count_sql).fetchone()
    assert rows_after[0] == rows_before[0] == PHOTOS  # every photo embedded again
    assert sorted(ranked(shapes, "album:five")) == sorted(ids)
    assert set(ranked(shapes, "album:five a red circle")) <= set(ids)
