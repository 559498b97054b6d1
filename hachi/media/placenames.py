"""Offline forward geocoding: a place name typed in ``near:`` to a point on the map.

The same GeoNames populated places the reverse geocoder (``hachi.media.geocode``) reads, so
``near:`` knows exactly the places photos are labelled with, and nothing leaves the machine.
A name may carry a qualifier after a comma ("Paris, US", "Springfield, Illinois"): a country
code, a country name or a first-level region. Many places share a name; the most populous
one is chosen and the caller is told which, and how many others there were.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hachi.media.geocode import read_package_data
from hachi.textnorm import fold


@dataclass(frozen=True)
class NamedPlace:
    """One populated place: where it is and what it is called."""

    name: str
    region: str | None
    country: str
    country_code: str
    latitude: float
    longitude: float
    population: int

    def label(self) -> str:
        return ", ".join(dict.fromkeys(p for p in (self.name, self.region, self.country) if p))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "country": self.country,
            "country_code": self.country_code,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "population": self.population,
            "label": self.label(),
        }


Loader = Callable[[], tuple[list[dict[str, Any]], dict[str, str]]]


class PlaceNames:
    """Places by folded name, most populous first. Loads (about a second) on first use."""

    def __init__(self, loader: Loader = read_package_data) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._by_name: dict[str, list[NamedPlace]] | None = None

    def _index(self) -> dict[str, list[NamedPlace]]:
        if self._by_name is None:
            with self._lock:
                if self._by_name is None:
                    self._by_name = _build(*self._loader())
        return self._by_name

    def find(self, typed: str) -> list[NamedPlace]:
        """Every place the typed name may mean, most populous first; [] when none."""
        name, _, qualifier = typed.partition(",")
        found = self._index().get(fold(name).strip(), [])
        wanted = fold(qualifier).strip()
        if wanted:
            found = [p for p in found if wanted in _qualifiers(p)]
        return found


def _qualifiers(place: NamedPlace) -> set[str]:
    return {fold(place.country_code), fold(place.country), fold(place.region or "")} - {""}


def _build(records: list[dict[str, Any]], countries: dict[str, str]) -> dict[str, list[NamedPlace]]:
    by_name: dict[str, list[NamedPlace]] = defaultdict(list)
    for rec in records:
        code = rec["country_code"]
        place = NamedPlace(
            name=rec["city"],
            region=rec.get("state"),
            country=countries.get(code, code),
            country_code=code,
            latitude=float(rec["latitude"]),
            longitude=float(rec["longitude"]),
            population=int(rec["population"]),
        )
        by_name[fold(place.name)].append(place)
    for places in by_name.values():
        places.sort(key=lambda p: -p.population)
    return dict(by_name)


_DEFAULT: PlaceNames | None = None
_DEFAULT_LOCK = threading.Lock()


def default_place_names() -> PlaceNames:
    """The process-wide index, so the data is read once however many searches ask."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = PlaceNames()
        return _DEFAULT
