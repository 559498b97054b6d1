"""near: and within: answer exactly: every query is checked against an oracle that measures
distance its own way (3-D unit vectors and chord length, not the haversine formula the
search uses), over photos placed at the seams where map code goes wrong: the antimeridian,
both poles, the equator and the prime meridian."""

from __future__ import annotations

import math
import random
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hachi.catalog.schema import MIGRATIONS
from hachi.config import Settings
from hachi.errors import QuerySyntaxError
from hachi.library import Library
from hachi.media import distance
from hachi.media.spherical import chord_to_km, unit_vectors
from hachi.ml.store import install_model
from hachi.search.query import parse_query
from tests.photo_factory import Shot, exif_for, write_photo

CENTRES = [  # (lat, lon): where photos are scattered
    (-17.8, 179.95),  # Fiji, on the antimeridian
    (65.0, -179.9),  # Chukotka, the other side of it
    (89.95, 40.0),  # the North Pole
    (-89.9, -120.0),  # the South Pole
    (0.02, 0.03),  # where the equator meets the prime meridian
    (48.8566, 2.3522),  # Paris
    (-33.9249, 18.4241),  # Cape Town
]
CAMERAS = [("Canon", "Canon EOS R5"), ("SONY", "ILCE-7M3")]


@dataclass(frozen=True)
class Spot:
    id: int
    lat: float
    lon: float
    camera: str
    year: int
    name: str


def oracle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Arc length from the chord between unit vectors: a different formula from the engine's."""
    a = unit_vectors(np.array([lat1]), np.array([lon1]))[0]
    b = unit_vectors(np.array([lat2]), np.array([lon2]))[0]
    return float(chord_to_km(np.array([np.linalg.norm(a - b)]))[0])


def jitter(rng: random.Random, lat: float, lon: float) -> tuple[float, float]:
    """A point up to ~60 km from (lat, lon), wrapped back onto the globe."""
    lat2 = lat + rng.uniform(-0.5, 0.5)
    if lat2 > 90:
        lat2, lon = 180 - lat2, lon + 180
    if lat2 < -90:
        lat2, lon = -180 - lat2, lon + 180
    lon2 = (lon + rng.uniform(-0.5, 0.5) / max(0.05, math.cos(math.radians(lat2))) + 180) % 360
    return round(lat2, 6), round(lon2 - 180, 6)


@pytest.fixture(scope="module")
def geo_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, list[Spot], Path]:
    base = tmp_path_factory.mktemp("geo")
    rng = random.Random(7)
    planned = []
    for i in range(70):
        lat, lon = jitter(rng, *CENTRES[i % len(CENTRES)])
        make, model = CAMERAS[i % 2]
        year = 2015 + i % 6
        taken = f"{year}:05:01 10:00:00"
        shot = Shot(taken=taken, make=make, model=model, lat=lat, lon=lon, seed=i)
        name = f"{'beach' if i % 3 == 0 else 'IMG'}_{i:03d}.jpg"
        planned.append((write_photo(base / "photos" / name, shot), make, year))
    write_photo(base / "photos" / "nowhere.jpg", Shot(seed=99))  # no GPS at all
    lib = Library(Settings.from_env({}, home=base / "home", workers=2))
    lib.add_folder(str(base / "photos"))
    lib.index_pending(with_models=False)
    hits = {h["path"]: h for h in lib.search("", limit=1000)["results"]}
    spots = []
    for path, make, year in planned:
        hit = hits[str(path)]  # the stored position, as EXIF's rationals rounded it
        spots.append(Spot(hit["id"], hit["latitude"], hit["longitude"], make.lower(), year,
                          path.name))  # fmt: skip
    yield lib, spots, base
    lib.close()


def _ids(lib: Library, q: str) -> set[int]:
    result = lib.search(q, limit=1000)
    return {h["id"] for h in result["results"]}


def _near(lat: float, lon: float, km: float) -> Callable[[Spot], bool]:
    return lambda s: oracle_km(lat, lon, s.lat, s.lon) <= km


def _box(s: float, w: float, n: float, e: float) -> Callable[[Spot], bool]:
    def inside(spot: Spot) -> bool:
        lon_ok = w <= spot.lon <= e if w <= e else spot.lon >= w or spot.lon <= e
        return s <= spot.lat <= n and lon_ok

    return inside


ORACLES: list[tuple[str, Callable[[Spot], bool]]] = [
    ("near:-17.8,180,80km", _near(-17.8, 180, 80)),
    ("near:-17.8,-179.99,25km", _near(-17.8, -179.99, 25)),
    ("near:65,180,30mi", _near(65, 180, 30 * 1.609344)),
    ("near:90,0,30km", _near(90, 0, 30)),
    ("near:89.9,-140,20km", _near(89.9, -140, 20)),
    ("near:-90,0,25000m", _near(-90, 0, 25)),
    ("near:0,0,30km", _near(0, 0, 30)),
    ("near:0.02,0.03,15km", _near(0.02, 0.03, 15)),
    ("near:48.8566,2.3522,35km", _near(48.8566, 2.3522, 35)),
    ("near:10,10,8000km", _near(10, 10, 8000)),
    ("near:0,0,20015km", lambda s: True),
    ("-near:48.8566,2.3522,35km", lambda s: not _near(48.8566, 2.3522, 35)(s)),
    ("near:0,0,30km near:0,0.1,30km", lambda s: _near(0, 0, 30)(s) and _near(0, 0.1, 30)(s)),
    ("within:-19,179.5,-16,-179.5", _box(-19, 179.5, -16, -179.5)),
    ("within:-19,179,-16,180", _box(-19, 179, -16, 180)),
    ("within:60,170,70,-170", _box(60, 170, 70, -170)),
    ("within:89.5,-180,90,180", _box(89.5, -180, 90, 180)),
    ("within:-1,-1,1,1", _box(-1, -1, 1, 1)),
    ("within:-0.1,-0.1,0.1,0.03", _box(-0.1, -0.1, 0.1, 0.03)),
    ("-within:-1,-1,1,1", lambda s: not _box(-1, -1, 1, 1)(s)),
    (
        "near:-17.8,180,60km camera:canon year:2015,2019",
        lambda s: _near(-17.8, 180, 60)(s) and s.camera == "canon" and s.year in (2015, 2019),
    ),
    (
        "beach within:-90,-180,0,180 -camera:sony",
        lambda s: s.name.startswith("beach") and s.lat <= 0 and s.camera != "sony",
    ),
    ("beach near:90,0,100km", lambda s: s.name.startswith("beach") and _near(90, 0, 100)(s)),
    ("near:0,0,40km sort:oldest", _near(0, 0, 40)),
]


@pytest.mark.parametrize(("query", "oracle"), ORACLES, ids=[q for q, _ in ORACLES])
def test_geo_queries_are_exact(
    geo_library: tuple[Library, list[Spot], Path], query: str, oracle: Callable[[Spot], bool]
) -> None:
    lib, spots, _ = geo_library
    nowhere = {h["id"] for h in lib.search("file:nowhere")["results"]}
    expected = {s.id for s in spots if oracle(s)}
    if query.startswith("-"):
        expected |= nowhere  # a negated filter spares photos without that value
    assert _ids(lib, query) == expected


def test_the_oracles_are_not_trivial(geo_library: tuple[Library, list[Spot], Path]) -> None:
    _, spots, _ = geo_library
    counts = {q: sum(map(o, spots)) for q, o in ORACLES}
    trivial = {q: n for q, n in counts.items() if not 0 < n < len(spots) and "20015" not in q}
    assert not trivial, trivial
    # the seams really are crossed: photos on both sides of the antimeridian are found
    fiji = [s for s in spots if _near(-17.8, 180, 80)(s)]
    assert {s.lon > 0 for s in fiji} == {True, False}
    north = [s for s in spots if _near(90, 0, 30)(s)]
    assert len({round(s.lon) for s in north}) > 1


def test_sort_is_kept(geo_library: tuple[Library, list[Spot], Path]) -> None:
    lib, _, _ = geo_library
    taken = [h["taken_at"] for h in lib.search("near:0,0,40km sort:oldest")["results"]]
    assert taken == sorted(taken) and len(taken) > 2


def test_haversine_against_the_chord_oracle() -> None:
    rng = random.Random(3)
    pairs = [((90, 0), (-90, 0)), ((0, 179.999), (0, -179.999)), ((10, 20), (10, 20))]
    for _ in range(2000):
        pairs.append(((rng.uniform(-90, 90), rng.uniform(-180, 180)),
                      (rng.uniform(-90, 90), rng.uniform(-180, 180))))  # fmt: skip
    for (a, b), (c, d) in pairs:
        assert distance.haversine_km(a, b, c, d) == pytest.approx(oracle_km(a, b, c, d), abs=1e-6)


def test_circle_boxes_hold_the_circle() -> None:
    """Every point of a circle's edge lies in one of its boxes, at the seams too."""
    for lat, lon, km in [(-17.8, 180, 40), (65, -179.99, 300), (89.9, 10, 50), (-89.99, 0, 5),
                         (0, 0, 1), (45, 90, 5000), (70, 179, 900)]:  # fmt: skip
        boxes = distance.circle_boxes(lat, lon, km)
        for bearing in np.linspace(0, 2 * math.pi, 720):
            angle = km / distance.EARTH_RADIUS_KM * 0.999999
            phi, lam = math.radians(lat), math.radians(lon)
            phi2 = math.asin(math.sin(phi) * math.cos(angle)
                             + math.cos(phi) * math.sin(angle) * math.cos(bearing))  # fmt: skip
            lam2 = lam + math.atan2(math.sin(bearing) * math.sin(angle) * math.cos(phi),
                                    math.cos(angle) - math.sin(phi) * math.sin(phi2))  # fmt: skip
            p_lat = math.degrees(phi2)
            p_lon = (math.degrees(lam2) + 180) % 360 - 180
            assert any(s <= p_lat <= n and w <= p_lon <= e for s, w, n, e in boxes), (
                lat,
                lon,
                km,
                p_lat,
                p_lon,
                boxes,
            )


def test_a_place_name_is_resolved_and_reported(
    geo_library: tuple[Library, list[Spot], Path],
) -> None:
    lib, spots, _ = geo_library
    result = lib.search('near:"Cape Town",80km')
    value = result["parsed"]["filters"][0]["values"][0]
    assert value["resolved"]["country_code"] == "ZA"
    lat, lon = value["resolved"]["latitude"], value["resolved"]["longitude"]
    expected = {s.id for s in spots if _near(lat, lon, 80)(s)}
    assert expected and {h["id"] for h in result["results"]} == expected
    assert not result["notices"]


def test_an_ambiguous_place_picks_the_most_populous_and_says_so(
    geo_library: tuple[Library, list[Spot], Path],
) -> None:
    lib, spots, _ = geo_library
    result = lib.search("near:paris,40km")
    resolved = result["parsed"]["filters"][0]["values"][0]["resolved"]
    assert resolved["country_code"] == "FR"
    assert any("paris" in n and "most populous" in n for n in result["notices"])
    texas = lib.search('near:"Paris, US",40km')
    assert texas["parsed"]["filters"][0]["values"][0]["resolved"]["country_code"] == "US"
    assert texas["total"] == 0


def test_an_unknown_place_points_at_the_name(geo_library: tuple[Library, list[Spot], Path]) -> None:
    lib, _, _ = geo_library
    q = 'dog near:"Qwxzv Town",5km'
    with pytest.raises(QuerySyntaxError) as caught:
        lib.search(q)
    assert q[caught.value.start : caught.value.end] == '"Qwxzv Town"'


BAD = [
    ("near:48.8,2.3", "near:48.8,2.3"),  # no radius
    ("near:48.8,2.3,5", "5"),  # no unit
    ("near:48.8,2.3,5parsecs", "5parsecs"),
    ("near:91,2.3,5km", "91"),
    ("near:-90.5,2.3,5km", "-90.5"),
    ("near:45,181,5km", "181"),
    ("near:45,2,0km", "0km"),
    ("near:45,2,0.5m", "0.5m"),
    ("near:45,2,20016km", "20016km"),
    ("near:45,2,-5km", "-5km"),
    ("near:4x5,2,5km", "4x5"),
    ("near:45,2,5km,6km", "near:45,2,5km,6km"),
    ("near:paris", "near:paris"),
    ("near:45,nan,5km", "nan"),
    ("within:1,2,3", "within:1,2,3"),
    ("within:10,0,5,1", "within:10,0,5,1"),
    ("within:-91,0,5,1", "-91"),
    ("within:0,-200,5,1", "-200"),
    ("within:0,0,5,east", "east"),
]


@pytest.mark.parametrize(("query", "token"), BAD, ids=[q for q, _ in BAD])
def test_malformed_values_point_at_the_token(query: str, token: str) -> None:
    q = f"cats {query}"
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(q)
    assert q[caught.value.start : caught.value.end] == token


def test_good_values_parse() -> None:
    near = parse_query("near:48.8566,2.3522,500m").filters[0].values[0]
    assert (near.latitude, near.longitude, near.radius_km) == (48.8566, 2.3522, 0.5)
    miles = parse_query("near:-1,-2,3MI").filters[0].values[0]
    assert miles.radius_km == pytest.approx(3 * 1.609344)
    place = parse_query('near:"Cape Town",20km').filters[0].values[0]
    assert (place.place, place.radius_km) == ("Cape Town", 20.0)
    box = parse_query("within:-10,170,10,-170").filters[0].values[0]
    assert (box.south, box.west, box.north, box.east) == (-10, 170, 10, -170)


def test_year_and_date_still_mean_within_a_period() -> None:
    """within: is new; the date filter that means "within this period" keeps its names."""
    f = parse_query("year:2020 date:2019-07").filters
    assert [(x.key.value, x.values[0].start, x.values[0].end) for x in f] == [
        ("year", "2020-01-01", "2021-01-01"),
        ("year", "2019-07-01", "2019-08-01"),
    ]


# -- the index follows every write ---------------------------------------------------------


def _index_rows(lib: Library) -> dict[int, tuple[float, float]]:
    rows = lib.conn.execute("SELECT id, min_lat, min_lon FROM photos_geo").fetchall()
    return {int(r[0]): (float(r[1]), float(r[2])) for r in rows}


def _photo_rows(lib: Library) -> dict[int, tuple[float, float]]:
    rows = lib.conn.execute(
        "SELECT id, latitude, longitude FROM photos WHERE latitude IS NOT NULL"
    ).fetchall()
    return {int(r[0]): (float(r[1]), float(r[2])) for r in rows}


def _in_step(lib: Library) -> None:
    index, photos = _index_rows(lib), _photo_rows(lib)
    assert index.keys() == photos.keys()
    for pid, (lat, lon) in photos.items():  # R*Tree keeps single precision, rounded outward
        assert index[pid] == pytest.approx((lat, lon), abs=1e-4)


def test_the_index_follows_rescans_moves_and_deletes(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a = write_photo(photos / "a.jpg", Shot(lat=10.0, lon=20.0, seed=1))
    b = write_photo(photos / "b.jpg", Shot(lat=-30.0, lon=170.0, seed=2))
    write_photo(photos / "c.jpg", Shot(seed=3))
    with Library(Settings.from_env({}, home=tmp_path / "home", workers=1)) as lib:
        lib.add_folder(str(photos))
        lib.index_pending(with_models=False)
        _in_step(lib)
        assert len(_index_rows(lib)) == 2
        assert _ids(lib, "near:10,20,1km") == _ids(lib, "file:a.jpg")

        write_photo(a, Shot(lat=-45.0, lon=-60.0, seed=1, taken="2020:01:01 00:00:00"))
        moved = photos / "sub" / "b_moved.jpg"
        moved.parent.mkdir()
        b.rename(moved)
        (photos / "c.jpg").unlink()
        write_photo(photos / "d.jpg", Shot(lat=1.0, lon=1.0, seed=4))
        lib.rescan()
        lib.index_pending(with_models=False)
        _in_step(lib)
        assert not _ids(lib, "near:10,20,1km")
        assert _ids(lib, "near:-45,-60,1km") == _ids(lib, "file:a.jpg")
        assert _ids(lib, "near:-30,170,1km") == _ids(lib, "file:b_moved")
        assert len(_index_rows(lib)) == 3

        moved.unlink()
        lib.remove_folder(lib.list_folders()[0].id)
        assert _index_rows(lib) == {} and _photo_rows(lib) == {}


def test_the_migration_fills_the_index(tmp_path: Path) -> None:
    """A catalog from before the index: its geotagged photos are found once it is opened."""
    photos = tmp_path / "photos"
    write_photo(photos / "a.jpg", Shot(lat=35.0, lon=139.0, seed=1))
    write_photo(photos / "b.jpg", Shot(seed=2))
    settings = Settings.from_env({}, home=tmp_path / "home", workers=1)
    with Library(settings) as lib:
        lib.add_folder(str(photos))
        lib.index_pending(with_models=False)
    conn = sqlite3.connect(settings.catalog_path)  # undo the migration: an older catalog
    for name in ("insert", "update", "delete"):
        conn.execute(f"DROP TRIGGER photos_geo_{name}")
    conn.execute("DROP TABLE photos_geo")
    # ... and run it again, as opening that catalog would (later migrations stay applied).
    conn.executescript(next(m for m in MIGRATIONS if "CREATE VIRTUAL TABLE photos_geo" in m))
    conn.commit()
    conn.close()
    with Library(settings) as lib:
        _in_step(lib)
        assert _ids(lib, "near:35,139,1km") == _ids(lib, "file:a.jpg")


def test_sort_distance_is_nearest_first(geo_library: tuple[Library, list[Spot], Path]) -> None:
    lib, spots, _ = geo_library
    by_id = {s.id: s for s in spots}
    for q, centre in [
        ("near:48.8566,2.3522,80km sort:distance", (48.8566, 2.3522)),
        ("near:90,0,200km sort:nearest camera:canon", (90.0, 0.0)),
        ("beach near:-17.8,180,100km sort:distance", (-17.8, 180.0)),
    ]:
        hits = lib.search(q, limit=1000)["results"]
        assert len(hits) > 1, q
        km = [oracle_km(*centre, by_id[h["id"]].lat, by_id[h["id"]].lon) for h in hits]
        assert km == sorted(km), q
    paged = [h["id"] for page in (0, 1) for h in _page(lib, "near:0,0,80km sort:distance", page)]
    assert paged == [h["id"] for h in lib.search("near:0,0,80km sort:distance", limit=4)["results"]]


def _page(lib: Library, q: str, number: int) -> list[dict[str, object]]:
    first = lib.search(q, limit=2)
    return (
        first["results"]
        if number == 0
        else lib.search(q, limit=2, cursor=first["next_cursor"])["results"]
    )


@pytest.mark.parametrize(
    "q", ["sort:distance", "dog -near:1,2,3km sort:nearest", "within:1,2,3,4 sort:distance"]
)
def test_sort_distance_needs_a_near_filter(q: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(q)
    assert q[caught.value.start : caught.value.end].startswith("sort:")


# -- with semantic search ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_near_composes_with_semantic_text(tmp_path: Path) -> None:
    """CLIP ranks "a red circle" over the whole library; near: keeps the ranked photos in the
    circle, in the same order, and sort:distance re-orders them nearest first."""
    sys.path.insert(0, str(ROOT / "tools"))
    from train_shapes_clip import draw_dataset

    settings = Settings.from_env({}, home=tmp_path / "home", clip_model="shapes-clip",
                                 ocr=False, workers=2)  # fmt: skip
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    images, _ = draw_dataset(48, seed=77)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(images):  # two in three in Paris (spread ~7 km), one in Tokyo
        lat, lon = (48.85 + (i % 7) * 0.01, 2.35) if i % 3 else (35.68, 139.7 + (i % 5) * 0.01)
        image.convert("RGB").save(folder / f"img_{i:03d}.jpg", quality=92,
                                  exif=exif_for(Shot(lat=lat, lon=lon)))  # fmt: skip
    with Library(settings) as lib:
        lib.add_folder(str(folder))
        lib.index_pending()
        plain = lib.search("a red circle", limit=1000, more=2)  # every photo, ranked
        assert plain["semantic"] is True
        where = {
            h["id"]: (h["latitude"], h["longitude"]) for h in lib.search("", limit=1000)["results"]
        }
        in_paris = [
            h["id"] for h in plain["results"] if oracle_km(48.88, 2.35, *where[h["id"]]) <= 30
        ]
        near = lib.search("a red circle near:48.88,2.35,30km", limit=1000, more=2)
        assert near["semantic"] is True
        assert [h["id"] for h in near["results"]] == in_paris
        assert 0 < len(in_paris) < len(plain["results"])
        nearest = lib.search("a red circle near:48.88,2.35,30km sort:distance", limit=1000, more=2)
        km = [oracle_km(48.88, 2.35, *where[h["id"]]) for h in nearest["results"]]
        assert km == sorted(km) and sorted(h["id"] for h in nearest["results"]) == sorted(in_paris)
        points = lib.points("a red circle near:48.88,2.35,30km", more=2)
        assert [p[0] for p in points["points"]] == in_paris
