"""Libraries made by earlier releases open with today's code, in place, with nothing lost.

Each folder in tests/fixtures/libraries was written by tools/make_fixture_library.py from
the release named in its facts.json. Today's code migrates a copy of it and must give the
answers that release gave: the same photos for each query, the same people under the same
names, the user's merges, rejections and hidden people kept, the vectors still searchable,
the thumbnails still there, and no re-index.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hachi.catalog.schema import SCHEMA_VERSION
from hachi.errors import NotFound
from hachi.library import Library
from hachi.media.thumbnails import GRID, GRID_2X

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "libraries").iterdir())


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_fixture_library", ROOT / "tools" / "make_fixture_library.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=FIXTURES, ids=lambda path: path.name)
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    fixture: Path = request.param
    facts = json.loads((fixture / "facts.json").read_text())
    home = tmp_path / "home"
    shutil.copytree(fixture / "home", home)
    library = Library(_builder().fixture_settings(home))
    yield library, facts
    library.close()


def _names(library: Library, query: str) -> list[str]:
    return sorted(Path(h["path"]).name for h in library.search(query, limit=1000)["results"])


def test_fixtures_exist() -> None:
    assert FIXTURES, "every release leaves a fixture library behind"


def test_catalog_is_migrated_in_place(opened: Any) -> None:
    library, facts = opened
    assert facts["schema_version"] <= SCHEMA_VERSION
    conn = sqlite3.connect(library.settings.catalog_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_no_reindex_is_needed(opened: Any) -> None:
    library, facts = opened
    assert library.status()["photos"] == facts["photos"]
    assert len(library.people.faces()) == facts["faces"]
    assert library.index_pending() == 0, "opening an old library starts no indexing job"


def test_queries_answer_as_they_did(opened: Any) -> None:
    library, facts = opened
    for query, expected in facts["queries"].items():
        assert _names(library, query) == expected, query


def test_vectors_still_search(opened: Any) -> None:
    library, facts = opened
    top = library.search("a red circle", limit=3)["results"]
    assert top and Path(top[0]["path"]).name == facts["semantic_top"]


def test_people_and_decisions_are_kept(opened: Any) -> None:
    library, facts = opened
    decisions = facts["decisions"]

    people = sorted((p["id"], p["name"]) for p in library.people.listed(include_hidden=True))
    assert people == [tuple(p) for p in facts["people"]]

    def check() -> None:
        for name, person_id in decisions["named"].items():
            assert library.people.get(person_id)["name"] == name
        with pytest.raises(NotFound):
            library.people.get(decisions["merged"]["from"])
        rejected = library.people.face(decisions["rejected_face"]["id"])
        assert rejected["person_id"] != decisions["rejected_face"]["person"]
        assert library.people.get(decisions["hidden"])["hidden"] is True

    check()
    library.people.update(full=True)  # may form new people, but must undo no decision
    check()


def test_thumbnails_are_kept(opened: Any) -> None:
    library, _ = opened
    for hit in library.search("", limit=1000)["results"]:
        assert library.thumbnail_path(hit["id"]).stat().st_size > 0


def test_geotagged_photos_are_found_by_distance(opened: Any) -> None:
    """The position index is filled by the migration: near: and within: need no re-index."""
    library, _ = opened
    geotagged = [h for h in library.search("", limit=1000)["results"] if h["latitude"] is not None]
    assert geotagged, "the fixture has geotagged photos"
    indexed = library.conn.execute("SELECT COUNT(*) FROM photos_geo").fetchone()[0]
    assert indexed == len(geotagged)
    for hit in geotagged:
        lat, lon = hit["latitude"], hit["longitude"]
        assert _names(library, f"near:{lat:.5f},{lon:.5f},1km") == [Path(hit["path"]).name]
        box = f"within:{lat - 0.01},{lon - 0.01},{lat + 0.01},{lon + 0.01}"
        assert _names(library, box) == [Path(hit["path"]).name]


def test_missing_sharp_tiles_are_answered_without_a_reindex(opened: Any) -> None:
    """Releases before the 2x grid size left none. Each is made from the original when first
    asked for (tests/test_search_timeline.py); here the originals are gone too, so the
    grid tile answers instead of a hole in the grid."""
    library, _ = opened
    for hit in library.search("", limit=1000)["results"]:
        path = library.thumbnail_by_hash(hit["content_hash"], GRID_2X)
        assert path == library.thumbnail_path(hit["id"], GRID)
    assert library.index_pending() == 0, "and still no indexing job"
