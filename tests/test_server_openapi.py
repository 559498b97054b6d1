"""The OpenAPI document and the route table describe the same API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hachi.server.openapi import openapi_document
from tests.server_fixtures import create_token, make_settings, running_app

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    with running_app(make_settings(tmp_path / "home")) as (app, _library):
        yield app


def flask_operations(app: Flask) -> dict[tuple[str, str], bool]:
    """{(openapi path, method): public} from the live route table."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        public = getattr(app.view_functions[rule.endpoint], "hachi_public", False)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found[(path, method.lower())] = public
    return found


def documented_operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_refs(item)


def test_every_route_is_documented_and_every_documented_path_exists(app: Flask) -> None:
    live = flask_operations(app)
    documented = documented_operations(openapi_document())
    assert set(live) - set(documented) == set(), "routes missing from the OpenAPI document"
    assert set(documented) - set(live) == set(), "documented operations with no route"


def test_public_routes_are_exactly_the_ones_documented_without_security(app: Flask) -> None:
    live = flask_operations(app)
    for key, op in documented_operations(openapi_document()).items():
        assert (op.get("security") == []) == live[key], key


def test_document_is_well_formed() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["components"]["securitySchemes"]) == {"cookieAuth", "bearerAuth"}
    for ref in all_refs(doc):
        resolve(doc, ref)
    ops = documented_operations(doc)
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    for (path, _method), op in ops.items():
        assert op["responses"] and op["summary"]
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([a-z_]+)}", path)), path


def test_every_error_response_uses_the_error_schema() -> None:
    doc = openapi_document()
    for (path, method), op in documented_operations(doc).items():
        for status, response in op["responses"].items():
            if int(status) >= 400:
                body = resolve(doc, response["$ref"]) if "$ref" in response else response
                schema = body["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


def test_openapi_json_is_served(app: Flask, tmp_path: Path) -> None:
    settings = app.extensions["hachi"].settings
    headers = {"Authorization": f"Bearer {create_token(settings)}"}
    response = app.test_client().get("/api/openapi.json", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == openapi_document()


def body_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/api/people/{person_id}", "patch", {}),
        ("/api/people/{person_id}", "patch", {"colour": "red"}),
        ("/api/people/{person_id}", "patch", {"name": "tab\there"}),
        ("/api/people/{person_id}/merge", "post", {"into": 0}),
        ("/api/people/{person_id}/merge", "post", {"into": 2**63}),
        ("/api/faces/{face_id}/assign", "post", {}),
        ("/api/faces/{face_id}/assign", "post", {"name": "   "}),
        ("/api/folders", "post", {"path": "/a\x00b"}),
    ],
)
def test_the_document_refuses_bodies_the_server_refuses(
    path: str, method: str, body: dict[str, Any]
) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis's validator
    validator = jsonschema_rs.Draft202012Validator(body_schema(openapi_document(), path, method))
    assert not validator.is_valid(body)


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/api/people/{person_id}", "patch", {"name": None}),
        ("/api/people/{person_id}", "patch", {"name": "Ada", "hidden": True}),
        ("/api/people/{person_id}/merge", "post", {"into": 2**63 - 1}),
        ("/api/faces/{face_id}/assign", "post", {"person_id": 3}),
        ("/api/faces/{face_id}/assign", "post", {"name": " Ada "}),
    ],
)
def test_the_document_accepts_bodies_the_server_accepts(
    path: str, method: str, body: dict[str, Any]
) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis's validator
    validator = jsonschema_rs.Draft202012Validator(body_schema(openapi_document(), path, method))
    assert validator.is_valid(body)


def test_path_ids_are_bounded_to_64_bits() -> None:
    """Path parameters are ids, but for file names (a thumbnail's, a moment picture's)."""
    for op in documented_operations(openapi_document()).values():
        for param in op.get("parameters", []):
            if param["in"] == "path" and param["name"] != "name":
                assert param["schema"]["maximum"] == 2**63 - 1
            elif param["in"] == "path":
                assert param["schema"]["pattern"].endswith("\\.webp$")


def test_the_original_is_documented_with_image_types() -> None:
    op = openapi_document()["paths"]["/api/photos/{photo_id}/original"]["get"]
    assert set(op["responses"]["200"]["content"]) == {"image/*", "application/octet-stream"}


def test_links_name_existing_operations_and_parameters() -> None:
    doc = openapi_document()
    ops = {op["operationId"]: op for op in documented_operations(doc).values()}
    links = [
        link
        for op in ops.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 10
    for link in links:
        target = ops[link["operationId"]]
        names = {p["name"] for p in target.get("parameters", [])}
        assert set(link["parameters"]) <= names, link


def test_conflicts_are_documented_where_they_happen() -> None:
    ops = documented_operations(openapi_document())
    with_409 = {key for key, op in ops.items() if "409" in op["responses"]}
    assert {
        ("/api/people/{person_id}/merge", "post"),
        ("/api/faces/{face_id}/reject", "post"),
    } <= with_409
    assert ("/api/people/{person_id}", "get") not in with_409
