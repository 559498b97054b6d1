"""A URL answers exactly the methods the OpenAPI document gives it, in Allow and in 405s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from hachi.server.openapi import openapi_document
from tests.server_fixtures import create_token, make_settings, running_app

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
ALWAYS_ALLOWED = {"HEAD", "OPTIONS"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    with running_app(make_settings(tmp_path / "home")) as (app, _library):
        yield app


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(app.extensions['hachi'].settings)}"}


def documented_methods() -> dict[str, set[str]]:
    """{concrete path (ids set to 1): methods} for every documented path."""
    return {
        re.sub(r"{[a-z_]+}", "1", path): {m.upper() for m in item if m in HTTP_METHODS}
        for path, item in openapi_document()["paths"].items()
    }


def allowed(header: str | None) -> set[str]:
    return {m.strip() for m in (header or "").split(",") if m.strip()} - ALWAYS_ALLOWED


def test_options_lists_exactly_the_documented_methods(app: Flask, auth: dict[str, str]) -> None:
    client = app.test_client()
    for path, methods in documented_methods().items():
        response = client.options(path, headers=auth)
        assert response.status_code == 200, path
        assert allowed(response.headers.get("Allow")) == methods, path


def test_an_undocumented_method_is_a_json_405(app: Flask, auth: dict[str, str]) -> None:
    client = app.test_client()
    for path, methods in documented_methods().items():
        for method in sorted({"GET", "POST", "PATCH", "DELETE"} - methods):
            response = client.open(path, method=method, headers=auth)
            assert response.status_code == 405, (method, path, response.get_data(as_text=True))
            assert response.get_json()["error"]["code"] == "method_not_allowed"
            assert allowed(response.headers.get("Allow")) == methods, (method, path)


def test_a_fixed_path_beside_an_id_route_answers_405_not_not_an_id(
    app: Flask, auth: dict[str, str]
) -> None:
    for method in ("GET", "PATCH"):
        response = app.test_client().open("/api/people/recluster", method=method, headers=auth)
        assert response.status_code == 405
        assert response.headers["Allow"] == "OPTIONS, POST"


def test_a_wrong_method_is_405_even_without_credentials(app: Flask) -> None:
    client = app.test_client()
    assert client.open("/api/health", method="TRACE").status_code == 405
    assert client.get("/api/login").status_code == 405
    assert client.get("/api/nope").status_code == 401  # unknown paths stay private


def test_ids_that_are_not_ids_are_still_400(app: Flask, auth: dict[str, str]) -> None:
    client = app.test_client()
    for path in ("/api/photos/abc", "/api/people/0", f"/api/folders/{2**63}"):
        response = client.get(path, headers=auth)
        if path.startswith("/api/folders"):
            response = client.delete(path, headers=auth)
        assert response.status_code == 400, path
