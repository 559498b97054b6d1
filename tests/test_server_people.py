"""People, faces and search by photo over the REST API, on the labelled face corpus."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from tests.photo_factory import CORPUS, require_corpus
from tests.server_fixtures import (
    ORIGIN,
    login,
    make_settings,
    running_app,
    set_password,
    wait_for_job,
)

pytestmark = pytest.mark.slow
H = {"Origin": ORIGIN}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    require_corpus(CORPUS / "faces")
    base = tmp_path_factory.mktemp("api-people")
    folder = base / "photos"
    shutil.copytree(CORPUS / "faces", folder)
    settings = make_settings(base / "home")
    set_password(settings)
    with running_app(settings, background=True) as (app, _library):
        client = app.test_client()
        assert login(client).status_code == 200
        job = client.post("/api/folders", json={"path": str(folder)}, headers=H).get_json()["job"]
        assert wait_for_job(client, job["id"], H)["state"] == "done"
        yield client


def _people(client: FlaskClient) -> list[dict[str, Any]]:
    return client.get("/api/people").get_json()["people"]


def test_people_name_search_and_photo_details(client: FlaskClient) -> None:
    people = _people(client)
    assert len(people) == 5 and all(p["name"] is None for p in people)
    biggest = people[0]
    response = client.patch(f"/api/people/{biggest['id']}", json={"name": "Barack"}, headers=H)
    assert response.status_code == 200 and response.get_json()["name"] == "Barack"
    # stack:off: a person's count is of photos, and two of Barack's are copies (one tile).
    hits = client.get("/api/search?q=person:barack+stack:off&limit=100").get_json()
    assert hits["total"] == biggest["photos"]
    photo = client.get(f"/api/photos/{hits['results'][0]['id']}").get_json()
    assert any(f["person_name"] == "Barack" for f in photo["faces"])
    face = photo["faces"][0]
    with client.get(face["thumbnail_url"]) as thumb:
        assert thumb.status_code == 200 and thumb.mimetype == "image/webp"
        assert Image.open(io.BytesIO(thumb.data)).size[0] > 0


def test_reject_assign_merge_hide(client: FlaskClient) -> None:
    people = _people(client)
    a, b = people[1], people[2]
    faces = client.get(f"/api/people/{a['id']}/faces").get_json()["faces"]
    rejected = client.post(f"/api/faces/{faces[0]['id']}/reject", headers=H).get_json()
    assert rejected["rejected_person_id"] == a["id"]
    assigned = client.post(
        f"/api/faces/{faces[0]['id']}/assign", json={"name": "Someone New"}, headers=H
    ).get_json()
    assert assigned["name"] == "Someone New" and assigned["faces"] == 1
    merged = client.post(f"/api/people/{b['id']}/merge", json={"into": a["id"]}, headers=H)
    assert merged.status_code == 200
    assert merged.get_json()["faces"] == a["faces"] - 1 + b["faces"]
    assert client.get(f"/api/people/{b['id']}").status_code == 404
    hidden = client.patch(f"/api/people/{a['id']}", json={"hidden": True}, headers=H).get_json()
    assert hidden["hidden"] is True
    assert a["id"] not in {p["id"] for p in _people(client)}
    assert a["id"] in {p["id"] for p in client.get("/api/people?all=1").get_json()["people"]}


def test_undo_a_merge_and_a_rejection(client: FlaskClient) -> None:
    people = _people(client)
    a, b = people[-2], people[-1]
    b_faces = {f["id"] for f in client.get(f"/api/people/{b['id']}/faces").get_json()["faces"]}
    merged = client.post(f"/api/people/{b['id']}/merge", json={"into": a["id"]}, headers=H)
    merge_id = merged.get_json()["merge_id"]
    undone = client.post(f"/api/people/merges/{merge_id}/undo", headers=H)
    assert undone.status_code == 200, undone.get_data(as_text=True)
    body = undone.get_json()
    assert body["restored"]["id"] == b["id"] and body["restored"]["faces"] == b["faces"]
    assert body["target"]["faces"] == a["faces"]
    back = {f["id"] for f in client.get(f"/api/people/{b['id']}/faces").get_json()["faces"]}
    assert back == b_faces
    again = client.post(f"/api/people/merges/{merge_id}/undo", headers=H)
    assert again.status_code == 404
    face = min(b_faces)
    rejected = client.post(f"/api/faces/{face}/reject", headers=H).get_json()
    assert client.get(f"/api/people/{b['id']}").get_json()["faces"] == b["faces"] - 1
    restored = client.post(
        f"/api/faces/{face}/unreject",
        json={"person_id": b["id"], "was_locked": rejected["was_locked"]},
        headers=H,
    )
    assert restored.status_code == 200 and restored.get_json()["faces"] == b["faces"]
    twice = client.post(f"/api/faces/{face}/unreject", json={"person_id": b["id"]}, headers=H)
    assert twice.status_code == 409


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("patch", "/api/people/{p}", {"name": 5}, 400),
        ("patch", "/api/people/{p}", {"hidden": "yes"}, 400),
        ("patch", "/api/people/{p}", {"colour": "red"}, 400),
        ("post", "/api/people/{p}/merge", {"into": "x"}, 400),
        ("post", "/api/people/{p}/merge", {"into": 99999}, 404),
        ("post", "/api/people/{p}/merge", {"into": "{p}"}, 409),
        ("post", "/api/people/{p}/merge", {"into": 0}, 400),
        ("post", "/api/people/{p}/merge", {"into": 2**63}, 400),
        ("patch", "/api/people/{p}", {}, 400),
        ("patch", "/api/people/{p}", {"name": "ok", "hidden": "yes"}, 400),
        ("patch", "/api/people/{p}", {"name": "tab\there"}, 400),
        ("post", "/api/faces/1/assign", {"person_id": True}, 400),
        ("post", "/api/faces/1/assign", {"person_id": 1, "name": "\x01"}, 400),
        ("post", "/api/faces/1/assign", {}, 400),
        ("post", "/api/faces/1/unreject", {}, 400),
        ("post", "/api/faces/1/unreject", {"person_id": "{p}", "was_locked": "no"}, 400),
        ("post", "/api/people/merges/0/undo", {}, 400),
        ("post", "/api/people/merges/99999/undo", {}, 404),
    ],
)
def test_bad_people_payloads(
    client: FlaskClient, method: str, url: str, body: Any, status: int
) -> None:
    pid = _people(client)[0]["id"]
    body = {k: pid if v == "{p}" else v for k, v in body.items()}
    response = getattr(client, method)(url.format(p=pid), json=body, headers=H)
    assert response.status_code == status, response.get_data(as_text=True)
    assert set(response.get_json()["error"]) == {"code", "message", "detail"}


def test_search_by_image_without_a_model_says_how_to_get_one(client: FlaskClient) -> None:
    data = (CORPUS / "faces" / "obama_1.jpg").read_bytes()
    response = client.post(
        "/api/search/image", data=data, headers=H, content_type="application/octet-stream"
    )
    assert response.status_code == 503
    assert "hachi models pull" in str(response.get_json()["error"]["detail"])
    empty = client.post("/api/search/image", data=b"", headers=H)
    assert empty.status_code == 400
    assert Path(CORPUS).is_dir()
