"""/api/models and PUT /api/models/active over a real library with the shapes CLIP model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from hachi.ml.store import install_model
from tests.photo_factory import write_photo
from tests.server_fixtures import create_token, make_settings, running_app, wait_for_job

MODEL_DIR = Path(__file__).parents[1] / "models" / "test" / "shapes-clip"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    settings = make_settings(tmp_path / "home", face_backend="none")
    with running_app(settings, background=True) as (app, library):
        for name in ("shapes", "other"):
            library.model_service.after_install(install_model(settings, MODEL_DIR, name=name))
        folder = tmp_path / "photos"
        folder.mkdir()
        write_photo(folder / "one.jpg")
        library.add_folder(str(folder))
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(settings)}"
        yield client


def test_models_lists_installed_clip_models_and_the_active_one(client: FlaskClient) -> None:
    body = client.get("/api/models").get_json()
    assert body["active"]["name"] == "shapes" and body["active"]["source"] == "library"
    assert [(m["name"], m["active"]) for m in body["installed"]] == [
        ("other", False),
        ("shapes", True),
    ]


def test_put_active_switches_and_queues_re_embedding(client: FlaskClient) -> None:
    answer = client.put("/api/models/active", json={"name": "other"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["active"]["name"] == "other" and body["job"]["kind"] == "embed"
    headers = {"Authorization": client.environ_base["HTTP_AUTHORIZATION"]}
    assert wait_for_job(client, body["job"]["id"], headers)["state"] == "done"
    status = client.get("/api/status").get_json()
    assert status["models"]["clip"]["name"] == "other"
    result = client.get("/api/search", query_string={"q": "a red circle"}).get_json()
    assert result["semantic"] is True and result["model"] == "other"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "nope"}, 404),
        ({"name": ""}, 400),
        ({}, 400),
        ({"name": 3}, 400),
    ],
)
def test_put_active_errors(client: FlaskClient, body: dict, code: int) -> None:
    answer = client.put("/api/models/active", json=body)
    assert answer.status_code == code
    assert set(answer.get_json()["error"]) == {"code", "message", "detail"}
    assert client.get("/api/models").get_json()["active"]["name"] == "shapes"
