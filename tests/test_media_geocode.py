"""Reverse geocoding against the real shipped GeoNames data, checked at real coordinates in
all four hemispheres, across the antimeridian, at the poles, and against a brute-force
haversine search that shares none of the grid code."""

from __future__ import annotations

import gzip
import math
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import exifread
import numpy as np
import pytest
from numpy.typing import NDArray

from hachi.errors import BadRequest, ModelUnavailable
from hachi.media.geocode import (
    Gazetteer,
    Geocoder,
    Place,
    assign_cities,
    load_gazetteer,
    read_package_data,
)
from hachi.media.spherical import SphereGrid, km_to_chord, unit_vectors
from tests.photo_factory import require_corpus

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer()


@pytest.fixture(scope="module")
def geocoder(gazetteer: Gazetteer) -> Geocoder:
    return Geocoder(loader=lambda: gazetteer)


def lookup(geocoder: Geocoder, lat: float, lon: float) -> Place:
    place = geocoder.lookup(lat, lon)
    assert place is not None, (lat, lon)
    return place


# (description, lat, lon, expected city, expected country code)
CITY_CASES = [
    ("Shinjuku, Tokyo (NE)", 35.6938, 139.7034, "Tokyo", "JP"),
    ("Shibuya, Tokyo (NE)", 35.6580, 139.7016, "Tokyo", "JP"),
    ("Montmartre, Paris (NE)", 48.8867, 2.3431, "Paris", "FR"),
    ("Brooklyn, New York (NW)", 40.6782, -73.9442, "New York City", "US"),
    ("Reykjavik (NW)", 64.1466, -21.9426, "Reykjavík", "IS"),
    ("Bondi Beach, Sydney (SE)", -33.8915, 151.2767, "Sydney", "AU"),
    ("Rondebosch, Cape Town (SE)", -33.9628, 18.4760, "Cape Town", "ZA"),
    ("Pinheiros, São Paulo (SW)", -23.5667, -46.6931, "São Paulo", "BR"),
    ("Providencia, Santiago (SW)", -33.4314, -70.6093, "Santiago", "CL"),
    ("Palermo, Buenos Aires (SW)", -34.5875, -58.4303, "Buenos Aires", "AR"),
    ("Quito, on the equator", -0.1807, -78.4678, "Quito", "EC"),
    ("Accra, by the prime meridian", 5.6037, -0.1870, "Accra", "GH"),
    ("Greenwich, east of the prime meridian", 51.4769, 0.0005, "London", "GB"),
    ("Apia, Samoa", -13.8333, -171.7500, "Apia", "WS"),
    ("Anadyr, Chukotka", 64.7337, 177.4968, "Anadyr", "RU"),
]


@pytest.mark.parametrize(("where", "lat", "lon", "city", "code"), CITY_CASES)
def test_city_and_country_in_every_hemisphere(
    geocoder: Geocoder, where: str, lat: float, lon: float, city: str, code: str
) -> None:
    place = lookup(geocoder, lat, lon)
    assert (place.city, place.country_code) == (city, code), where
    assert place.name and place.region and place.country
    assert place.distance_km is not None and place.distance_km <= geocoder.max_distance_km
    assert city.casefold() in [term.casefold() for term in place.terms()]


def test_tokyo_ward_is_found_by_tokyo(geocoder: Geocoder) -> None:
    place = lookup(geocoder, 35.6938, 139.7034)
    terms = [term.lower() for term in place.terms()]
    assert "tokyo" in terms and "japan" in terms and "jp" in terms
    assert place.name != "Tokyo" and place.name and place.name.lower() in terms
    assert place.region == "Tokyo" and place.label() == f"{place.name}, Tokyo, Japan"


def test_brooklyn_terms_reach_new_york(geocoder: Geocoder) -> None:
    place = lookup(geocoder, 40.6782, -73.9442)
    assert place.region == "New York" and place.country == "United States"
    assert {"new york city", "new york", "us"} <= {term.lower() for term in place.terms()}


@pytest.mark.parametrize(
    ("lat", "lon", "own_city", "big_neighbour"),
    [
        (35.4437, 139.6380, "Yokohama", "Tokyo"),  # another prefecture
        (40.7357, -74.1724, "Newark", "New York City"),  # another state
        (34.5733, 135.4830, "Sakai", "Osaka"),  # same prefecture, another city unit
        (48.8049, 2.1204, "Versailles", "Paris"),  # beyond Paris' reach
        (-23.6980, 133.8807, "Alice Springs", None),  # a small town far from any city
    ],
)
def test_separate_towns_keep_their_own_name(
    geocoder: Geocoder, lat: float, lon: float, own_city: str, big_neighbour: str | None
) -> None:
    place = lookup(geocoder, lat, lon)
    assert place.name == own_city and place.city == own_city
    assert place.city != big_neighbour


def test_sao_paulo_matches_without_accents(geocoder: Geocoder) -> None:
    terms = lookup(geocoder, -23.5667, -46.6931).terms()
    assert "São Paulo" in terms and "Sao Paulo" in terms


@pytest.mark.parametrize("lon", [179.95, -179.97])
def test_taveuni_on_both_sides_of_the_antimeridian(gazetteer: Gazetteer, lon: float) -> None:
    near = lookup(Geocoder(loader=lambda: gazetteer), -16.82, lon)
    assert (near.name, near.country_code) == (None, "FJ")  # no town of 1,000 on Taveuni
    wide = lookup(Geocoder(150, loader=lambda: gazetteer), -16.82, lon)
    assert (wide.name, wide.region, wide.country_code) == ("Labasa", "Northern", "FJ")
    assert wide.distance_km is not None and 60 < wide.distance_km < 100


def test_chukotka_across_the_antimeridian(gazetteer: Gazetteer) -> None:
    west_of_line = lookup(Geocoder(100, loader=lambda: gazetteer), 66.35, 179.9)
    assert (west_of_line.name, west_of_line.region) == ("Egvekinot", "Chukotka")
    assert west_of_line.distance_km is not None and west_of_line.distance_km < 50


@pytest.mark.parametrize(
    ("lat", "lon", "region"),
    [(1.3382, 173.0176, "Gilbert Islands"), (1.87, -157.43, "Line Islands")],
)
def test_kiribati_on_both_sides(geocoder: Geocoder, lat: float, lon: float, region: str) -> None:
    place = lookup(geocoder, lat, lon)
    assert (place.region, place.country_code, place.country) == (region, "KI", "Kiribati")


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (-25.0, 133.0, "AU"),  # outback
        (26.0, 3.0, "DZ"),  # Sahara
        (-5.0, -65.0, "BR"),  # Amazon
        (-90.0, 0.0, "AQ"),  # South Pole
        (-77.85, 166.67, "AQ"),  # McMurdo Sound
    ],
)
def test_far_from_towns_gives_just_the_country(
    geocoder: Geocoder, lat: float, lon: float, code: str
) -> None:
    place = lookup(geocoder, lat, lon)
    assert place.country_code == code and place.country
    assert (place.name, place.city, place.region, place.distance_km) == (None, None, None, None)
    assert place.label() == place.country


@pytest.mark.parametrize(
    ("lat", "lon"), [(90.0, 0.0), (0.0, 0.0), (0.0, -140.0), (30.0, -40.0), (-40.0, 90.0)]
)
def test_open_sea_is_none(geocoder: Geocoder, lat: float, lon: float) -> None:
    assert geocoder.lookup(lat, lon) is None


def test_svalbard_near_the_north_pole(geocoder: Geocoder) -> None:
    place = lookup(geocoder, 78.2232, 15.6267)
    assert (place.name, place.country_code) == ("Longyearbyen", "SJ")


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (math.nan, 10.0),
        (10.0, math.nan),
        (math.inf, 0.0),
        (90.0001, 0.0),
        (-91.0, 0.0),
        (0.0, 180.5),
        (0.0, -181.0),
    ],
)
def test_invalid_coordinates_are_none(geocoder: Geocoder, lat: float, lon: float) -> None:
    assert geocoder.lookup(lat, lon) is None


def test_lookup_many_keeps_order_and_skips_bad_pairs(geocoder: Geocoder) -> None:
    coords: list = [(35.6938, 139.7034), (None, 1.0), ("north", "east"), (91, 0), (-33.89, 151.27)]
    places = geocoder.lookup_many(coords)
    assert len(places) == 5 and places[1:4] == [None, None, None]
    assert places[0] == geocoder.lookup(35.6938, 139.7034)
    assert places[4] is not None and places[4].city == "Sydney"
    assert geocoder.lookup_many([]) == []


def test_lookup_many_matches_single_lookups(geocoder: Geocoder) -> None:
    rng = np.random.default_rng(7)
    coords = list(zip(rng.uniform(-60, 70, 150), rng.uniform(-180, 180, 150), strict=True))
    assert geocoder.lookup_many(coords) == [geocoder.lookup(lat, lon) for lat, lon in coords]


def test_malformed_batches_and_settings_are_bad_requests(gazetteer: Gazetteer) -> None:
    with pytest.raises(BadRequest):
        Geocoder(loader=lambda: gazetteer).lookup_many([(1.0, 2.0, 3.0)])  # type: ignore[list-item]
    for bad in (0, -5, math.nan, math.inf, "far"):
        with pytest.raises(BadRequest):
            Geocoder(bad)  # type: ignore[arg-type]


def _haversine_km(gazetteer: Gazetteer) -> Callable[[float, float], NDArray[np.float64]]:
    """Brute force on latitude/longitude with the haversine formula: no vectors, no grid."""
    plat = np.arcsin(np.clip(gazetteer.vectors[:, 2], -1, 1))
    plon = np.arctan2(gazetteer.vectors[:, 1], gazetteer.vectors[:, 0])

    def distances(lat: float, lon: float) -> NDArray[np.float64]:
        lat_r, lon_r = math.radians(lat), math.radians(lon)
        h = np.sin((plat - lat_r) / 2) ** 2
        h += math.cos(lat_r) * np.cos(plat) * np.sin((plon - lon_r) / 2) ** 2
        return 2 * 6371.0088 * np.arcsin(np.sqrt(h))

    return distances


@pytest.mark.parametrize("cap_km", [25.0, 300.0])
def test_nearest_place_agrees_with_brute_force(gazetteer: Gazetteer, cap_km: float) -> None:
    rng = np.random.default_rng(int(cap_km))
    seam = np.c_[rng.uniform(-60, 72, 30), rng.uniform(179.0, 181.0, 30)]
    seam[:, 1] = (seam[:, 1] + 180) % 360 - 180  # both sides of the antimeridian
    polar = np.c_[rng.uniform(70, 90, 15) * rng.choice([-1, 1], 15), rng.uniform(-180, 180, 15)]
    anywhere = np.c_[rng.uniform(-60, 75, 30), rng.uniform(-180, 180, 30)]
    towns = gazetteer.vectors[rng.choice(len(gazetteer.vectors), 30, replace=False)]
    near_towns = np.c_[
        np.degrees(np.arcsin(towns[:, 2])) + rng.uniform(-0.2, 0.2, 30),
        np.degrees(np.arctan2(towns[:, 1], towns[:, 0])) + rng.uniform(-0.2, 0.2, 30),
    ]
    near_towns[:, 1] = (near_towns[:, 1] + 180) % 360 - 180
    coords = np.vstack([seam, polar, anywhere, near_towns])
    places = Geocoder(cap_km, loader=lambda: gazetteer).lookup_many([tuple(c) for c in coords])
    haversine = _haversine_km(gazetteer)
    within = 0
    for (lat, lon), place in zip(coords, places, strict=True):
        distances = haversine(lat, lon)
        best = int(np.argmin(distances))
        km = float(distances[best])
        within += km <= cap_km
        if km <= cap_km - 1e-6:
            assert place is not None and place.distance_km == pytest.approx(km, abs=1e-3)
            assert place.name == gazetteer.names[best] or place.distance_km == pytest.approx(km)
        else:
            assert place is None or place.name is None, (lat, lon, km)
    assert within >= 20  # the comparison is not vacuous


def test_sphere_grid_finds_every_pair_within_radius() -> None:
    rng = np.random.default_rng(3)
    lat = np.r_[rng.uniform(-90, 90, 400), [90, -90, 89.99, -89.99]]
    lon = np.r_[rng.uniform(-180, 180, 400), [0, 0, 179.999, -179.999]]
    points = unit_vectors(lat, lon)
    queries = unit_vectors(
        np.r_[rng.uniform(-90, 90, 50), 90.0], np.r_[rng.uniform(-180, 180, 50), 0]
    )
    radius = km_to_chord(1500)
    grid = SphereGrid(points, radius)
    found: set[tuple[int, int]] = set()
    for query, point, _ in grid.pairs_within(queries, radius):
        found |= set(zip(query.tolist(), point.tolist(), strict=True))
    distances = np.linalg.norm(queries[:, None, :] - points[None, :, :], axis=2)
    expected = {(int(q), int(p)) for q, p in zip(*np.nonzero(distances <= radius), strict=True)}
    assert found == expected and len(expected) > 50
    with pytest.raises(ValueError):
        next(grid.pairs_within(queries, radius * 2))


def test_city_rule_on_a_synthetic_map() -> None:
    """A metropolis, a ward, a town beyond its reach, a suburb across a regional border and a
    neighbouring city. While the metropolis has no city unit of its own, ward and neighbour
    join it; once it has one, both keep their own (they are big enough to be cities)."""
    lat = np.array([0.0, 0.05, 0.5, 0.06, 0.0])
    lon = np.array([0.0, 0.05, 0.0, -0.05, 0.08])
    population = np.array([9_000_000, 300_000, 150_000, 50_000, 800_000], dtype=np.int64)
    region = np.array([0, 0, 0, 1, 0], dtype=np.int32)
    county = np.array([-1, 5, -1, -1, 7], dtype=np.int32)
    city = assign_cities(unit_vectors(lat, lon), population, region, county)
    assert city.tolist() == [0, 0, 2, 3, 0]
    county[0] = 6  # now the metropolis has a unit of its own: the neighbours keep theirs
    city = assign_cities(unit_vectors(lat, lon), population, region, county)
    assert city.tolist() == [0, 1, 2, 3, 4]


def test_data_loads_once_across_threads(gazetteer: Gazetteer) -> None:
    calls: list[int] = []

    def counting_loader() -> Gazetteer:
        calls.append(1)
        return gazetteer

    geocoder = Geocoder(loader=counting_loader)
    assert calls == []  # nothing loads before the first lookup
    results: list[Place | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(geocoder.lookup(48.8867, 2.3431)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and len(results) == 8 and len(set(results)) == 1


def test_missing_or_broken_data_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelUnavailable) as missing:
        read_package_data("hachi_no_such_geodata")
    assert "pip install" in missing.value.detail["install"]
    package = tmp_path / "broken_geodata"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "geocode.gz").write_bytes(gzip.compress(b"{not json"))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelUnavailable):
        read_package_data("broken_geodata")


def test_place_terms_and_label() -> None:
    place = Place("Kabukicho", "Tokyo", "Tokyo", "Japan", "JP", 0.1)
    assert place.terms() == ["Kabukicho", "Tokyo", "Japan", "JP"]
    assert place.label() == "Kabukicho, Tokyo, Japan"
    same = Place("Paris", "Paris", "Île-de-France", "France", "FR", 0.0)
    assert same.terms() == ["Paris", "Île-de-France", "Ile-de-France", "France", "FR"]
    assert same.label() == "Paris, France"
    only_country = Place(None, None, None, "Australia", "AU", None)
    assert only_country.terms() == ["Australia", "AU"] and only_country.label() == "Australia"


def _degrees(values: list, ref: str) -> float:
    deg, minutes, seconds = (Fraction(v.num, v.den) for v in values)
    value = float(deg + minutes / 60 + seconds / 3600)
    return -value if ref in ("S", "W") else value


@pytest.mark.parametrize(
    ("name", "city", "code"),
    [
        ("GoPro.jpg", "New York City", "US"),
        ("Google.jpg", "Madrid", "ES"),
        ("Apple.jpg", "Sheffield", "GB"),
        ("GPS.jpg", None, "GB"),
    ],
)
def test_gps_of_real_photos(geocoder: Geocoder, name: str, city: str | None, code: str) -> None:
    require_corpus(CORPUS)
    with open(CORPUS / "exif" / name, "rb") as stream:
        tags = exifread.process_file(stream, details=False)
    lat = _degrees(tags["GPS GPSLatitude"].values, str(tags["GPS GPSLatitudeRef"]))
    lon = _degrees(tags["GPS GPSLongitude"].values, str(tags["GPS GPSLongitudeRef"]))
    place = lookup(geocoder, lat, lon)
    assert place.country_code == code and (city is None or place.city == city)


def test_unloaded_geocoder_loads_again_on_the_next_lookup(gazetteer: Gazetteer) -> None:
    loads = []

    def loader() -> Gazetteer:
        loads.append(1)
        return gazetteer

    geocoder = Geocoder(loader=loader)
    first = geocoder.lookup(35.6895, 139.6917)
    geocoder.unload()
    again = geocoder.lookup(35.6895, 139.6917)
    assert first is not None and again == first
    assert len(loads) == 2  # the data was really dropped, then read again


def test_names_read_back_as_given_with_empty_as_none() -> None:
    from hachi.media.geocode import Names

    names = Names(["Zürich", None, "São Paulo", "", "東京"])
    assert len(names) == 5
    assert [names[i] for i in range(5)] == ["Zürich", None, "São Paulo", None, "東京"]
    assert names[-1] == "東京" and names[np.int64(2)] == "São Paulo"
    assert names[1:3] == [None, "São Paulo"] and list(names) == names[:]
    with pytest.raises(IndexError):
        names[5]


def test_the_loaded_gazetteer_keeps_its_strings_packed(gazetteer: Gazetteer) -> None:
    """Kept as Python strings, the 155,000 names pinned ~100 MB of the parsed JSON."""
    from hachi.media.geocode import Names

    for table in (gazetteer.names, gazetteer.region_names, gazetteer.country_codes):
        assert isinstance(table, Names)
    assert len(gazetteer.names) == len(gazetteer.vectors) > 100_000
    assert "Paris" in {gazetteer.names[i] for i in range(len(gazetteer.names))}
