"""GET /api/search/points: every geotagged result of a query, past the search page limit,
only for a signed-in caller, with the query language's errors as 400s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from hachi.server.routes.search import MAX_SEARCH_LIMIT
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import create_token, make_settings, running_app

GEOTAGGED = 12


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, dict[str, str]]]:
    base = tmp_path_factory.mktemp("points")
    settings = make_settings(base / "home")
    for i in range(GEOTAGGED):  # a line of photos across the antimeridian
        lon = 179.5 + i * 0.1
        lon = lon - 360 if lon > 180 else lon
        make = "Canon" if i % 2 else "SONY"
        write_photo(base / "photos" / f"p{i:02d}.jpg", Shot(lat=-17.0, lon=lon, seed=i, make=make))
    write_photo(base / "photos" / "nowhere.jpg", Shot(seed=50))
    with running_app(settings) as (app, library):
        library.add_folder(str(base / "photos"))
        library.index_pending(with_models=False)
        yield app.test_client(), {"Authorization": f"Bearer {create_token(settings)}"}


def _get(api: tuple[FlaskClient, dict[str, str]], q: str, **headers: str) -> Any:
    client, auth = api
    return client.get("/api/search/points", query_string={"q": q}, headers=headers or auth)


def test_points_are_every_geotagged_result(api: tuple[FlaskClient, dict[str, str]]) -> None:
    body = _get(api, "").get_json()
    assert body["total"] == GEOTAGGED + 1 and body["geotagged"] == GEOTAGGED
    assert len(body["points"]) == GEOTAGGED
    for pid, lat, lon in body["points"]:
        assert isinstance(pid, int) and lat == pytest.approx(-17.0, abs=1e-4)
        assert -180 <= lon <= 180


def test_points_follow_the_filters(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, auth = api
    box = _get(api, "within:-18,179.75,-16,-179.75 camera:canon").get_json()
    search = client.get(
        "/api/search",
        query_string={"q": "within:-18,179.75,-16,-179.75 camera:canon"},
        headers=auth,
    ).get_json()
    assert [p[0] for p in box["points"]] == [r["id"] for r in search["results"]]
    assert 0 < len(box["points"]) < GEOTAGGED
    assert all(p[2] >= 179.75 or p[2] <= -179.75 for p in box["points"])


def test_points_have_no_page_limit(api: tuple[FlaskClient, dict[str, str]]) -> None:
    """The map shows every result, however many; the search page stops at its limit."""
    assert GEOTAGGED < MAX_SEARCH_LIMIT  # the library is small; the route takes no limit
    body = _get(api, "near:-17,180,100km").get_json()
    assert len(body["points"]) == body["total"] == GEOTAGGED


def test_points_need_a_caller(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, _ = api
    response = client.get("/api/search/points", query_string={"q": ""})
    assert response.status_code == 401


@pytest.mark.parametrize("q", ["near:1,2", "within:1,2,3", "near:95,0,1km", "near:1,2,3"])
def test_bad_queries_are_400(api: tuple[FlaskClient, dict[str, str]], q: str) -> None:
    response = _get(api, q)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["code"] == "bad_query"
    assert body["error"]["detail"]["token"]


def test_a_missing_query_is_400(api: tuple[FlaskClient, dict[str, str]]) -> None:
    client, auth = api
    assert client.get("/api/search/points", headers=auth).status_code == 400
