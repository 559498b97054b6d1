"""The Years and Places cards over the REST API: every count is what the card's search
finds, covers belong to the card's group, and places drill down country → region → city."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import (
    ORIGIN,
    login,
    make_settings,
    running_app,
    set_password,
    wait_for_job,
)

H = {"Origin": ORIGIN}
PARIS = (48.8566, 2.3522)
LYON = (45.7640, 4.8357)
TOKYO = (35.6762, 139.6503)
SHOTS = (
    *(Shot(taken=f"2019:06:0{d} 10:00:00", lat=PARIS[0], lon=PARIS[1], seed=d) for d in (1, 2, 3)),
    Shot(taken="2020:02:02 10:00:00", lat=LYON[0], lon=LYON[1], seed=7),
    *(Shot(taken=f"2021:03:1{d} 09:00:00", lat=TOKYO[0], lon=TOKYO[1], seed=d) for d in (4, 5)),
    Shot(taken=None, seed=30),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    base = tmp_path_factory.mktemp("overview")
    for i, shot in enumerate(SHOTS):
        write_photo(base / "photos" / f"p{i}.jpg", shot)
    settings = make_settings(base / "home")
    set_password(settings)
    with running_app(settings, background=True) as (app, _library):
        client = app.test_client()
        assert login(client).status_code == 200
        body = {"path": str(base / "photos")}
        job = client.post("/api/folders", json=body, headers=H).get_json()["job"]
        assert wait_for_job(client, job["id"], H)["state"] == "done"
        yield client


def _found(client: FlaskClient, q: str) -> tuple[int, set[int]]:
    page = client.get("/api/search", query_string={"q": q, "limit": 500}).get_json()
    return page["total"], {hit["id"] for hit in page["results"]}


def _check_cards(client: FlaskClient, cards: list[dict[str, Any]], key: str) -> None:
    for card in cards:
        total, ids = _found(client, f'{key}:"{card["value"]}"')
        assert card["count"] == total, card
        assert card["cover_id"] in ids, card
        assert card["cover_url"].startswith("/api/thumbs/")
        with client.get(card["cover_url"]) as thumb:
            assert thumb.status_code == 200


def test_years_newest_first_with_honest_counts_and_covers(client: FlaskClient) -> None:
    years = client.get("/api/years").get_json()["years"]
    values = [y["value"] for y in years]
    assert values == sorted(values, reverse=True)
    counts = {y["value"]: y["count"] for y in years}
    assert {k: counts.get(k) for k in ("2021", "2020", "2019")} == {"2021": 2, "2020": 1, "2019": 3}
    assert sum(counts.values()) == len(SHOTS)  # an undated photo counts by its file's date
    _check_cards(client, years, "year")


def test_places_drill_down_from_countries_to_cities(client: FlaskClient) -> None:
    top = client.get("/api/places").get_json()
    assert top["level"] == "country"
    countries = {c["value"]: c for c in top["places"]}
    assert {"France", "Japan"} <= set(countries), countries
    assert countries["France"]["count"] == 4
    _check_cards(client, top["places"], "place")
    regions = client.get("/api/places", query_string={"country": "France"}).get_json()
    assert regions["level"] in ("region", "city") and regions["places"]
    _check_cards(client, regions["places"], "place")
    if regions["level"] == "region":
        first = regions["places"][0]["value"]
        query = {"country": "France", "region": first}
        cities = client.get("/api/places", query_string=query).get_json()
        assert cities["level"] == "city" and cities["places"]
        _check_cards(client, cities["places"], "place")
        assert sum(c["count"] for c in cities["places"]) <= regions["places"][0]["count"]


def test_places_ignore_a_region_without_its_country_and_need_a_login(client: FlaskClient) -> None:
    alone = client.get("/api/places", query_string={"region": "Kanto"}).get_json()
    assert alone["level"] == "country" and alone["region"] is None
    too_long = client.get("/api/places", query_string={"country": "x" * 201})
    assert too_long.status_code == 400
    none = client.get("/api/places", query_string={"country": "Atlantis"}).get_json()
    assert none["places"] == []
    anonymous = client.application.test_client()
    assert anonymous.get("/api/years").status_code == 401
    assert anonymous.get("/api/places").status_code == 401
