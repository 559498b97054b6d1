"""Every endpoint's error paths answer with the one error shape and the right status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hachi.config import Settings
from hachi.errors import Conflict
from hachi.server.errors import INTERNAL_MESSAGE
from tests.server_fixtures import ORIGIN, login, make_settings, running_app, set_password

BAD_IDS = ["abc", "0", "-1", "1.5", "99999999999999999999", "%C2%B2"]
MISSING_ID = "987654"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    settings: Settings = make_settings(tmp_path / "home")
    set_password(settings)
    with running_app(settings) as (app, _library):
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client).status_code == 200
    return client


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "detail"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return dict(error)


def api_routes(app: Flask) -> list[tuple[str, str, bool]]:
    """(rule, method, public) for every /api route and method a client may call."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        public = getattr(app.view_functions[rule.endpoint], "hachi_public", False)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.rule, method, public))
    return routes


def fill(rule: str, value: str) -> str:
    for name in (
        "folder_id",
        "job_id",
        "photo_id",
        "person_id",
        "face_id",
        "merge_id",
        "session_id",
        "token_id",
        "album_id",
    ):
        rule = rule.replace(f"<{name}>", value)
    return rule


def call(client: FlaskClient, method: str, url: str, **kwargs: Any) -> Any:
    headers = {"Origin": ORIGIN, **kwargs.pop("headers", {})}
    return client.open(url, method=method, headers=headers, **kwargs)


def test_routes_are_found(app: Flask) -> None:
    routes = api_routes(app)
    assert len(routes) >= 19
    assert {public for _, _, public in routes} == {True, False}


def test_every_private_route_is_401_without_credentials(app: Flask) -> None:
    anonymous = app.test_client()
    for rule, method, public in api_routes(app):
        if public:
            continue
        response = call(anonymous, method, fill(rule, "1"), json={})
        error = assert_error(response, 401, "unauthorized")
        assert error["detail"]["password_set"] is True


def test_every_id_route_rejects_bad_ids_with_400(app: Flask, client: FlaskClient) -> None:
    id_routes = [(r, m) for r, m, _ in api_routes(app) if "_id>" in r]
    assert len(id_routes) == 25
    for rule, method in id_routes:
        for bad in BAD_IDS:
            response = call(client, method, fill(rule, bad))
            error = assert_error(response, 400, "bad_request")
            assert "positive integer" in error["message"]


def test_every_id_route_is_404_for_a_missing_id(app: Flask, client: FlaskClient) -> None:
    for rule, method, _ in api_routes(app):
        if "_id>" in rule:
            assert_error(call(client, method, fill(rule, MISSING_ID)), 404, "not_found")


@pytest.mark.parametrize(
    "url",
    [
        "/api/search",
        "/api/search?q=dog&limit=0",
        "/api/search?q=dog&limit=-5",
        "/api/search?q=dog&limit=100000",
        "/api/search?q=dog&limit=ten",
        "/api/search?q=" + "x" * 2000,
        "/api/search?q=dog&cursor=not-a-cursor",
        "/api/search?q=dog%00",
        "/api/suggest?kind=weather",
        "/api/suggest?limit=0",
        "/api/suggest?limit=1e3",
        "/api/failed?limit=-1",
        "/api/failed?offset=-1",
        "/api/failed?folder_id=abc",
        "/api/failed?folder_id=0",
        "/api/photos/1/thumbnail?size=huge",
        "/api/search?q=dog&limit=",  # empty is not absent: the document says integer
        "/api/failed?offset=",
        "/api/suggest?kind=",
        "/api/people?all=",
    ],
)
def test_bad_query_parameters_are_400(client: FlaskClient, url: str) -> None:
    assert_error(client.get(url), 400)


def test_thumbnail_size_is_checked_before_the_photo(client: FlaskClient) -> None:
    error = assert_error(client.get("/api/photos/5/thumbnail?size=huge"), 400)
    assert error["detail"] == {"field": "size"}


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (None, None, "must be JSON"),
        ("{not json", "application/json", "not valid JSON"),
        ("[1, 2]", "application/json", "JSON object"),
        ("{}", "application/json", "'path' is required"),
        ('{"path": 12}', "application/json", "must be a string"),
        ('{"path": "a\\u0000b"}', "application/json", "NUL"),
        ('{"path": "relative/dir"}', "application/json", "absolute"),
        ('{"path": "/no/such/folder"}', "application/json", "does not exist"),
        ('{"path": "/etc"}', "application/json", "system folder"),
        ("path=/tmp", "application/x-www-form-urlencoded", "must be JSON"),
    ],
)
def test_bad_folder_payloads_are_400(
    client: FlaskClient, body: str | None, content_type: str | None, fragment: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = call(client, "POST", "/api/folders", data=body, headers=headers)
    assert fragment in assert_error(response, 400)["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"password": 5}, {"password": None}, {"password": "x" * 5000}, ["x"]],
)
def test_bad_login_payloads_are_400(app: Flask, body: Any) -> None:
    response = call(app.test_client(), "POST", "/api/login", json=body)
    assert_error(response, 400, "bad_request")


def test_malformed_query_is_400_naming_the_token(client: FlaskClient) -> None:
    error = assert_error(client.get("/api/search", query_string={"q": 'dog after:"2020'}), 400)
    assert error["code"] in ("bad_query", "bad_request")


def test_unknown_route_and_wrong_method(client: FlaskClient) -> None:
    assert_error(client.get("/api/nope"), 404, "not_found")
    assert_error(client.get("/api/folders/1/nope"), 404, "not_found")
    response = call(client, "PUT", "/api/folders")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unknown_route_without_credentials_is_401(app: Flask) -> None:
    assert_error(app.test_client().get("/api/nope"), 401)


def test_hachi_errors_and_bugs_use_the_same_shape(app: Flask, caplog: Any) -> None:
    def conflict() -> Any:
        raise Conflict("already there", {"id": 3})

    def bug() -> Any:
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom/conflict", view_func=conflict)
    app.add_url_rule("/boom/bug", view_func=bug)
    client = app.test_client()
    error = assert_error(client.get("/boom/conflict"), 409, "conflict")
    assert error["detail"] == {"id": 3}
    error = assert_error(client.get("/boom/bug"), 500, "internal")
    assert error["message"] == INTERNAL_MESSAGE
    assert "secret internals" not in client.get("/boom/bug").get_data(as_text=True)
    assert any("secret internals" in str(r.exc_info) for r in caplog.records)
