"""Metadata search answers exactly: each query is checked against a plain-Python oracle
computed from the values the photos were generated with."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from hachi.config import Settings
from hachi.errors import QuerySyntaxError
from hachi.library import Library
from hachi.media.geocode import Geocoder
from hachi.textnorm import fold
from tests.photo_factory import Shot, write_photo

CITIES = [  # (lat, lon) in all four hemispheres and near the antimeridian
    (35.6938, 139.7034),  # Shinjuku, Tokyo
    (48.8867, 2.3431),  # Montmartre, Paris
    (40.6782, -73.9442),  # Brooklyn, New York
    (-33.8688, 151.2093),  # Sydney
    (-23.5505, -46.6333),  # São Paulo
    (-16.8, 179.99),  # Fiji, east of the antimeridian
    (64.1466, -21.9426),  # Reykjavik
]
CAMERAS = [
    ("Canon", "Canon EOS 5D Mark IV"),
    ("NIKON CORPORATION", "NIKON D850"),
    ("SONY", "ILCE-7M3"),
    ("Apple", "iPhone 12"),
    (None, None),
]


@dataclass
class Truth:
    id: int
    name: str
    folder: str
    taken: str
    camera: str
    place_terms: list[str]
    country: str | None
    portrait: bool
    mime: str


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, list[Truth]]:
    base = tmp_path_factory.mktemp("search")
    settings = Settings.from_env({}, home=base / "home", workers=2)
    rng = random.Random(42)
    geocoder = Geocoder()
    specs = []
    for i in range(80):
        folder = rng.choice(["vacation 2019", "family", "work/misc"])
        year = rng.randint(1999, 2024)
        day = f"{year}:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d}"
        taken = f"{day} {rng.randint(0, 23):02d}:30:00"
        make, model = rng.choice(CAMERAS)
        where = rng.choice(CITIES + [None])
        portrait = rng.random() < 0.3
        size = (48, 64) if portrait else (64, 48)
        shot = Shot(
            taken=taken,
            make=make,
            model=model,
            lat=where and where[0],
            lon=where and where[1],
            size=size,
            seed=i,
        )
        path = write_photo(base / "photos" / folder / f"IMG_{i:04d}.jpg", shot)
        place = geocoder.lookup(*where) if where else None
        specs.append((path, taken, make, model, place, portrait, "image/jpeg"))
    png = base / "photos" / "family" / "drawing.png"
    Image.new("RGB", (30, 30), "blue").save(png)
    lib = Library(settings)
    lib.add_folder(str(base / "photos"))
    lib.index_pending(with_models=False)
    ids = {r["path"]: r["id"] for r in lib.search("", limit=1000)["results"]}
    truths = []
    for path, taken, make, model, place, portrait, mime in specs:
        t = taken.replace(":", "-", 2).replace(" ", "T")
        camera = " ".join(x for x in (make, model) if x).lower()
        truths.append(
            Truth(
                ids[str(path)],
                path.name,
                path.parent.name,
                t,
                camera,
                [fold(x) for x in place.terms()] if place else [],
                place.country_code if place else None,
                portrait,
                mime,
            )
        )
    yield lib, truths
    lib.close()


def _ids(lib: Library, q: str) -> set[int]:
    result = lib.search(q, limit=1000)
    assert result["total"] == len(result["results"])
    return {r["id"] for r in result["results"]}


def _words(term: str, value: str) -> bool:
    return f" {fold(value)} " in f" {term} "


ORACLES: list[tuple[str, Callable[[Truth], bool]]] = [
    ("camera:canon", lambda t: "canon" in t.camera),
    ("camera:nikon,sony", lambda t: "nikon" in t.camera or "sony" in t.camera),
    ("-camera:canon", lambda t: "canon" not in t.camera),
    ("year:2019", lambda t: t.taken.startswith("2019")),
    ("year:2001,2010", lambda t: t.taken[:4] in ("2001", "2010")),
    ("after:2019-06", lambda t: t.taken >= "2019-06-01"),
    ("before:2005", lambda t: t.taken < "2005-01-01"),
    ("after:2010 before:2015-07-04", lambda t: "2010-01-01" <= t.taken < "2015-07-04"),
    ("-year:2020", lambda t: not t.taken.startswith("2020")),
    ("place:tokyo", lambda t: any(_words(x, "tokyo") for x in t.place_terms)),
    ('place:"new york"', lambda t: any(_words(x, "new york") for x in t.place_terms)),
    (
        "place:paris,sydney",
        lambda t: any(_words(x, "paris") or _words(x, "sydney") for x in t.place_terms),
    ),
    ("place:fiji", lambda t: any(_words(x, "fiji") for x in t.place_terms)),
    ("place:sao", lambda t: any(_words(x, "sao") for x in t.place_terms)),
    ("country:BR", lambda t: t.country == "BR"),
    ("country:japan", lambda t: t.country == "JP"),
    ("-country:US", lambda t: t.country != "US"),
    ("folder:vacation", lambda t: t.folder == "vacation 2019"),
    ("folder:misc", lambda t: t.folder == "misc"),
    ("file:IMG_001", lambda t: "IMG_001" in t.name),
    ("orientation:portrait", lambda t: t.portrait),
    ("orientation:landscape", lambda t: not t.portrait),
    ("type:jpg", lambda t: True),
    (
        "camera:canon after:2005 place:paris,tokyo",
        lambda t: (
            "canon" in t.camera
            and t.taken >= "2005"
            and any(_words(x, "paris") or _words(x, "tokyo") for x in t.place_terms)
        ),
    ),
    (
        "camera:apple -place:tokyo after:2005",
        lambda t: (
            "apple" in t.camera
            and not any(_words(x, "tokyo") for x in t.place_terms)
            and t.taken >= "2005"
        ),
    ),
]


@pytest.mark.parametrize(("query", "oracle"), ORACLES, ids=[q for q, _ in ORACLES])
def test_metadata_queries_are_exact(
    library: tuple[Library, list[Truth]], query: str, oracle: Callable[[Truth], bool]
) -> None:
    lib, truths = library
    expected = {t.id for t in truths if oracle(t)}
    assert _ids(lib, query) - {_png_id(lib)} == expected


def _png_id(lib: Library) -> int:
    return lib.search("file:drawing.png")["results"][0]["id"]


def test_the_oracles_are_not_trivial(library: tuple[Library, list[Truth]]) -> None:
    _lib, truths = library
    for query, oracle in ORACLES:
        hits = sum(oracle(t) for t in truths)
        if query != "type:jpg":
            assert 0 < hits < len(truths), f"{query} selects {hits} of {len(truths)}"


def test_empty_query_lists_everything_newest_first(library: tuple[Library, list[Truth]]) -> None:
    lib, truths = library
    result = lib.search("", limit=1000)
    assert result["total"] == len(truths) + 1
    dates = [r["taken_at"] for r in result["results"]]
    assert dates == sorted(dates, reverse=True)
    oldest = lib.search("sort:oldest", limit=1000)["results"]
    assert [r["taken_at"] for r in oldest] == sorted(dates)


def test_type_filter_uses_content(library: tuple[Library, list[Truth]]) -> None:
    lib, truths = library
    assert _ids(lib, "type:png") == {_png_id(lib)}
    assert len(_ids(lib, "type:jpeg")) == len(truths)


def test_pagination_walks_every_result_once(library: tuple[Library, list[Truth]]) -> None:
    lib, truths = library
    seen: list[int] = []
    cursor = None
    while True:
        page = lib.search("", limit=7, cursor=cursor)
        seen += [r["id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(truths) + 1


def test_free_text_matches_names_folders_and_places(library: tuple[Library, list[Truth]]) -> None:
    lib, truths = library
    assert _ids(lib, "vacation") == {t.id for t in truths if t.folder == "vacation 2019"}
    assert _ids(lib, "drawing") == {_png_id(lib)}
    tokyo = {t.id for t in truths if any(_words(x, "tokyo") for x in t.place_terms)}
    assert _ids(lib, "tokyo") == tokyo


@pytest.mark.parametrize("bad", ["camra:canon", "after:2019-13", 'place:"oops', "year:", "faces:x"])
def test_malformed_queries_point_at_the_token(
    library: tuple[Library, list[Truth]], bad: str
) -> None:
    lib, _ = library
    with pytest.raises(QuerySyntaxError) as info:
        lib.search(bad)
    assert 0 <= info.value.start < info.value.end <= len(bad)


def test_result_fields(library: tuple[Library, list[Truth]]) -> None:
    lib, truths = library
    t = next(t for t in truths if "canon" in t.camera and t.place_terms)
    hit = lib.search(f"file:{t.name}")["results"][0]
    assert hit["taken_at"] == t.taken
    assert hit["camera"] == "Canon EOS 5D Mark IV"
    content = lib.conn.execute("SELECT content_hash FROM photos WHERE id = ?", (t.id,)).fetchone()
    assert hit["place"] and hit["content_hash"] == content[0]
    assert "thumbnail_url" not in hit  # URLs are the server's business (server/urls.py)
    assert Path(hit["path"]).is_absolute()


def test_place_suggestion_counts_are_what_the_place_filter_finds(
    library: tuple[Library, list[Truth]],
) -> None:
    lib, _ = library
    places = lib.suggest("", "place", 100)
    assert {"Tokyo", "Paris", "Sydney"} <= {s["value"] for s in places}
    for s in places:
        assert s["count"] == len(_ids(lib, f'place:"{s["value"]}"')), s


def test_suggestion_counts_respect_the_filters_in_the_bar(
    library: tuple[Library, list[Truth]],
) -> None:
    lib, _ = library
    bar = "camera:canon after:2005"
    places = lib.suggest("", "place", 100, q=f"{bar} sunset")
    assert places
    for s in places:
        assert s["count"] == len(_ids(lib, f'{bar} place:"{s["value"]}"')), s
    for s in lib.suggest("", "year", 100, q="camera:nikon"):
        assert s["count"] == len(_ids(lib, f"camera:nikon year:{s['value']}")), s
    assert lib.suggest("", "camera", 10, q="camera:sony") == [
        s for s in lib.suggest("", "camera", 10) if "ILCE" in s["value"] or "SONY" in s["value"]
    ]
