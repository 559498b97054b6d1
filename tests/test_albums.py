"""Albums over a real catalog of real photos: plain albums (chosen ids) and smart albums
(saved queries), names as user text, ``album:`` in queries combined with every other
filter (checked against a plain-Python oracle), and membership that survives moves and
rescans."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.catalog import albums as albums_db
from hachi.errors import BadRequest, Conflict, NotFound, QuerySyntaxError
from hachi.library import Library
from hachi.library_albums import MAX_ALBUM_NAME
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import make_settings

# stem: (camera make, year, portrait)
PHOTOS = {
    "beach_01": ("Canon", 2019, False),
    "beach_02": ("Canon", 2020, True),
    "beach_03": ("Nikon", 2019, False),
    "city_01": ("Nikon", 2020, False),
    "city_02": ("Canon", 2021, True),
    "city_03": ("Nikon", 2021, False),
    "park_01": ("Canon", 2019, False),
    "park_02": ("Nikon", 2020, True),
}


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    for i, (stem, (make, year, portrait)) in enumerate(PHOTOS.items()):
        shot = Shot(
            make=make, model=f"{make} X", taken=f"{year}:05:01 10:00:00",
            size=(48, 64) if portrait else (64, 48), seed=i,
        )  # fmt: skip
        write_photo(tmp_path / "photos" / f"{stem}.jpg", shot)
    lib = Library(make_settings(tmp_path / "home"))
    lib.add_folder(str(tmp_path / "photos"))
    lib.index_pending(with_models=False)
    yield lib
    lib.close()


def ids_of(lib: Library) -> dict[str, int]:
    return {r["name"].removesuffix(".jpg"): r["id"] for r in lib.search("", limit=100)["results"]}


def found(lib: Library, q: str) -> set[str]:
    return {r["name"].removesuffix(".jpg") for r in lib.search(q, limit=100)["results"]}


def test_a_plain_album_holds_chosen_photos(library: Library) -> None:
    ids = ids_of(library)
    album = library.albums.create("  Summer  trip ")
    assert (album["name"], album["kind"], album["photos"]) == ("Summer trip", "plain", 0)
    added = library.albums.add(album["id"], [ids["beach_01"], ids["city_02"], ids["beach_01"]])
    assert (added["added"], added["photos"]) == (2, 2)
    again = library.albums.add(album["id"], [ids["beach_01"]])
    assert again["added"] == 0
    assert found(library, 'album:"summer  trip"') == {"beach_01", "city_02"}
    removed = library.albums.remove(album["id"], [ids["city_02"], ids["park_01"]])
    assert (removed["removed"], removed["photos"]) == (1, 1)
    assert library.albums.photo_ids(album["id"]) == [ids["beach_01"]]


def test_a_smart_album_stays_live(library: Library, tmp_path: Path) -> None:
    album = library.albums.create("Canon portraits", "camera:canon orientation:portrait")
    assert album["kind"] == "smart" and album["photos"] is None
    assert found(library, 'album:"canon portraits"') == {"beach_02", "city_02"}
    write_photo(tmp_path / "photos" / "new_01.jpg", Shot(make="Canon", size=(48, 64), seed=99))
    library.rescan()
    library.index_pending(with_models=False)
    assert found(library, 'album:"Canon Portraits"') == {"beach_02", "city_02", "new_01"}
    assert len(library.albums.photo_ids(album["id"])) == 3


def test_album_filters_combine_with_everything(library: Library) -> None:
    """Every combination against an oracle over the photo table of this test."""
    ids = ids_of(library)
    chosen = {"beach_01", "beach_03", "city_01", "park_02"}
    plain = library.albums.create("Chosen")
    library.albums.add(plain["id"], [ids[s] for s in chosen])
    library.albums.create("Nikons", "camera:nikon")
    library.albums.create("Old", "before:2020")
    library.albums.create("Old nikons", "album:nikons album:old")
    stems = set(PHOTOS)
    nikon = {s for s in stems if PHOTOS[s][0] == "Nikon"}
    old = {s for s in stems if PHOTOS[s][1] < 2020}
    portrait = {s for s in stems if PHOTOS[s][2]}
    cases = {
        "album:chosen": chosen,
        "-album:chosen": stems - chosen,
        "album:chosen,nikons": chosen | nikon,
        "-album:chosen,nikons": stems - chosen - nikon,
        "album:nikons -album:chosen": nikon - chosen,
        "-album:nikons": stems - nikon,
        "album:chosen camera:canon": chosen - nikon,
        "album:chosen year:2019": chosen & old,
        "album:nikons orientation:portrait": nikon & portrait,
        'album:"old nikons"': nikon & old,
        '-album:"old nikons"': stems - (nikon & old),
        'album:"old nikons",chosen': (nikon & old) | chosen,
        "album:old file:beach": {s for s in old if s.startswith("beach")},
        "album:chosen beach": {s for s in chosen if s.startswith("beach")},
    }
    for q, expected in cases.items():
        assert found(library, q) == expected, q


def test_an_unknown_album_finds_nothing_and_says_so(library: Library) -> None:
    result = library.search("album:nowhere", limit=10)
    assert result["total"] == 0
    assert any("nowhere" in n for n in result["notices"])
    assert library.search("-album:nowhere", limit=10)["total"] == len(PHOTOS)


def test_names_are_checked(library: Library) -> None:
    for bad in ("", "   ", "x" * (MAX_ALBUM_NAME + 1), "bell\x07", 7, None):
        with pytest.raises(BadRequest):
            library.albums.create(bad)
    longest = library.albums.create("é" * MAX_ALBUM_NAME)
    assert len(longest["name"]) == MAX_ALBUM_NAME
    library.albums.create("Holiday")
    with pytest.raises(Conflict):
        library.albums.create("HOLIDAY ")
    other = library.albums.create("Work")
    with pytest.raises(Conflict):
        library.albums.update(other["id"], name="holiday")
    assert library.albums.update(other["id"], name="WORK")["name"] == "WORK"
    markup = library.albums.create('<img src=x onerror="alert(1)">')
    assert markup["name"] == '<img src=x onerror="alert(1)">'


def test_smart_queries_are_checked_with_the_parser(library: Library) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        library.albums.create("Bad", "dog camera:")
    assert (error.value.start, error.value.end) == (4, 11)
    with pytest.raises(BadRequest):
        library.albums.create("Empty", "  ")
    assert albums_db.list_albums(library.conn) == []


def test_an_album_cannot_contain_itself(library: Library) -> None:
    with pytest.raises(BadRequest, match="itself"):
        library.albums.create("Loop", "album:loop")
    a = library.albums.create("A", "camera:canon")
    b = library.albums.create("B", "album:a year:2019")
    with pytest.raises(BadRequest, match="itself"):
        library.albums.update(a["id"], query="album:b")
    # A cycle written behind the service's back (an older catalog) is refused at search.
    library.conn.execute("UPDATE albums SET query = 'album:b' WHERE id = ?", (a["id"],))
    library.conn.commit()
    with pytest.raises(BadRequest, match="itself"):
        library.search("album:b", limit=10)
    with pytest.raises(BadRequest, match="itself"):
        library.search("-album:b", limit=10)
    assert b["kind"] == "smart"


def test_unknown_ids_are_named(library: Library) -> None:
    ids = ids_of(library)
    album = library.albums.create("Some")
    with pytest.raises(NotFound) as error:
        library.albums.add(album["id"], [ids["beach_01"], 999_001, 999_002])
    assert error.value.detail == {"missing": [999_001, 999_002]}
    assert "999001" in error.value.message and "999002" in error.value.message
    assert library.albums.get(album["id"])["photos"] == 0  # nothing added
    with pytest.raises(NotFound):
        library.albums.add(424242, [ids["beach_01"]])
    with pytest.raises(NotFound):
        library.albums.named("missing")


def test_smart_albums_take_no_chosen_photos(library: Library) -> None:
    ids = ids_of(library)
    smart = library.albums.create("Smart", "camera:canon")
    with pytest.raises(Conflict):
        library.albums.add(smart["id"], [ids["beach_01"]])
    plain = library.albums.create("Plain")
    with pytest.raises(Conflict):
        library.albums.update(plain["id"], query="camera:nikon")
    changed = library.albums.update(smart["id"], query="camera:nikon")
    assert changed["query"] == "camera:nikon"
    assert found(library, "album:smart") == {s for s in PHOTOS if PHOTOS[s][0] == "Nikon"}


def test_deleting_an_album_keeps_its_photos(library: Library) -> None:
    ids = ids_of(library)
    album = library.albums.create("Gone")
    library.albums.add(album["id"], list(ids.values()))
    library.albums.delete(album["id"])
    assert library.search("", limit=100)["total"] == len(PHOTOS)
    assert library.conn.execute("SELECT COUNT(*) FROM album_photos").fetchone()[0] == 0
    with pytest.raises(NotFound):
        library.albums.delete(album["id"])


def test_moves_and_rescans_keep_membership(library: Library, tmp_path: Path) -> None:
    ids = ids_of(library)
    album = library.albums.create("Kept")
    library.albums.add(album["id"], [ids["beach_01"], ids["city_01"]])
    photos = tmp_path / "photos"
    (photos / "moved").mkdir()
    shutil.move(photos / "beach_01.jpg", photos / "moved" / "renamed.jpg")
    (photos / "park_01.jpg").unlink()
    library.rescan()
    library.index_pending(with_models=False)
    after = ids_of(library)
    assert after["renamed"] == ids["beach_01"]
    assert found(library, "album:kept") == {"renamed", "city_01"}
    library.rescan()  # an unchanged rescan changes nothing
    library.index_pending(with_models=False)
    assert found(library, "album:kept") == {"renamed", "city_01"}
    (photos / "city_01.jpg").unlink()  # a photo that leaves the index leaves its albums
    library.rescan()
    library.index_pending(with_models=False)
    assert library.albums.get(album["id"])["photos"] == 1


def test_albums_are_suggested_with_their_counts(library: Library) -> None:
    ids = ids_of(library)
    plain = library.albums.create("Beach days")
    library.albums.add(plain["id"], [ids["beach_01"], ids["beach_02"], ids["city_01"]])
    library.albums.create("Best of Nikon", "camera:nikon")
    library.albums.create("City")
    got = library.suggest("b", "album")
    assert [(s["value"], s["count"]) for s in got] == [("Best of Nikon", 4), ("Beach days", 3)]
    assert [s["value"] for s in library.suggest("day", "album")] == ["Beach days"]
    within = library.suggest("beach", "album", q="camera:canon")
    assert [(s["value"], s["count"]) for s in within] == [("Beach days", 2)]
    assert any(s["kind"] == "album" for s in library.suggest("city", None))
