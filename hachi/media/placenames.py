"""Offline forward geocoding: a place name typed in ``near:`` to a point on the map.

The same GeoNames populated places the reverse geocoder (``hachi.media.geocode``) reads, so
``near:`` knows exactly the places photos are labelled with, and nothing leaves the machine.
A name may carry a qualifier after a comma ("Paris, US", "Springfield, Illinois"): a country
code, a country name or a first-level region. Many places share a name; the most populous
one is chosen and the caller is told which, and how many others there were.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from hachi.media.geocode import Names, read_package_data
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
        self._table: _Table | None = None

    def _index(self) -> _Table:
        if self._table is None:
            with self._lock:
                if self._table is None:
                    self._table = _Table.build(*self._loader())
        return self._table

    def find(self, typed: str) -> list[NamedPlace]:
        """Every place the typed name may mean, most populous first; [] when none."""
        name, _, qualifier = typed.partition(",")
        found = self._index().named(fold(name).strip())
        wanted = fold(qualifier).strip()
        if wanted:
            found = [p for p in found if wanted in _qualifiers(p)]
        return found


def _qualifiers(place: NamedPlace) -> set[str]:
    return {fold(place.country_code), fold(place.country), fold(place.region or "")} - {""}


@dataclass(frozen=True)
class _Table:
    """Every place as one row of packed columns, sorted by folded name and then by
    population (largest first), so the places of a name are one run found by bisection.
    A dict of 155,000 place objects, kept by a server after its first ``near:`` query,
    held ~140 MB for good; these columns hold under 20."""

    keys: Names  # folded names, sorted
    names: Names
    regions: Names
    country: NDArray[np.int32]
    countries: Names
    country_codes: Names
    latitude: NDArray[np.float64]
    longitude: NDArray[np.float64]
    population: NDArray[np.int64]

    @classmethod
    def build(cls, records: list[dict[str, Any]], countries: dict[str, str]) -> _Table:
        keyed = [(key, rec) for rec in records if (key := fold(rec["city"]))]
        keyed.sort(key=lambda item: (item[0], -int(item[1]["population"])))
        codes: dict[str, int] = {}
        for _, rec in keyed:
            codes.setdefault(rec["country_code"], len(codes))
        rows = [rec for _, rec in keyed]
        return cls(
            keys=Names(key for key, _ in keyed),
            names=Names(rec["city"] for rec in rows),
            regions=Names(rec.get("state") for rec in rows),
            country=np.fromiter((codes[r["country_code"]] for r in rows), np.int32, len(rows)),
            countries=Names(countries.get(code, code) for code in codes),
            country_codes=Names(codes),
            latitude=np.fromiter((float(r["latitude"]) for r in rows), np.float64, len(rows)),
            longitude=np.fromiter((float(r["longitude"]) for r in rows), np.float64, len(rows)),
            population=np.fromiter((int(r["population"]) for r in rows), np.int64, len(rows)),
        )

    def named(self, key: str) -> list[NamedPlace]:
        if not key:
            return []
        keys = cast(Sequence[str], self.keys)  # records with an empty key were left out
        first = bisect.bisect_left(keys, key)
        last = bisect.bisect_right(keys, key, lo=first)
        return [self._place(row) for row in range(first, last)]

    def _place(self, row: int) -> NamedPlace:
        code = int(self.country[row])
        return NamedPlace(
            name=self.names[row] or "",
            region=self.regions[row],
            country=self.countries[code] or "",
            country_code=self.country_codes[code] or "",
            latitude=float(self.latitude[row]),
            longitude=float(self.longitude[row]),
            population=int(self.population[row]),
        )


_DEFAULT: PlaceNames | None = None
_DEFAULT_LOCK = threading.Lock()


def default_place_names() -> PlaceNames:
    """The process-wide index, so the data is read once however many searches ask."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = PlaceNames()
        return _DEFAULT
