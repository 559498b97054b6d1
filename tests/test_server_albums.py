"""The albums API and acting on a selection (paths, zip download), over a real Library of
real photos, through the Flask test client with a logged-in session."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hachi.library import Library
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import ORIGIN, login, make_settings, running_app, set_password

FILES = ("a/IMG_0001.jpg", "b/IMG_0001.jpg", "b/img_0001.JPG", "c/beach.jpg", "c/city.jpg")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Flask, Library, Path]]:
    photos = tmp_path / "photos"
    for i, name in enumerate(FILES):
        make = "Nikon" if "city" in name else "Canon"
        write_photo(photos / name, Shot(make=make, model=f"{make} Q", seed=i))
    settings = make_settings(tmp_path / "home")
    set_password(settings)
    with running_app(settings) as (app, library):
        library.add_folder(str(photos))
        library.index_pending(with_models=False)
        yield app, library, photos


@pytest.fixture
def client(served: tuple[Flask, Library, Path]) -> FlaskClient:
    client = served[0].test_client()
    assert login(client).status_code == 200
    return client


def call(client: FlaskClient, method: str, url: str, **kwargs: Any) -> Any:
    return client.open(url, method=method, headers={"Origin": ORIGIN}, **kwargs)


def ids(client: FlaskClient) -> dict[str, int]:
    found = client.get("/api/search?q=&limit=100").get_json()["results"]
    return {r["path"].split("photos/")[1]: r["id"] for r in found}


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    return dict(response.get_json()["error"])


def test_album_crud(client: FlaskClient) -> None:
    photo = ids(client)
    made = call(client, "POST", "/api/albums", json={"name": "  Holiday "})
    assert made.status_code == 201
    album = made.get_json()
    assert (album["name"], album["kind"], album["photos"]) == ("Holiday", "plain", 0)
    url = f"/api/albums/{album['id']}"
    added = call(client, "POST", f"{url}/photos", json={"ids": [photo["c/beach.jpg"]]})
    assert added.get_json()["added"] == 1
    by_query = call(client, "POST", f"{url}/photos", json={"query": "camera:nikon"})
    assert (by_query.get_json()["added"], by_query.get_json()["photos"]) == (1, 2)
    found = client.get('/api/search?q=album:"holiday"').get_json()
    assert {r["id"] for r in found["results"]} == {photo["c/beach.jpg"], photo["c/city.jpg"]}
    removed = call(client, "POST", f"{url}/photos/remove", json={"ids": [photo["c/city.jpg"]]})
    assert removed.get_json()["removed"] == 1
    renamed = call(client, "PATCH", url, json={"name": "Summer"})
    assert renamed.get_json()["name"] == "Summer"
    assert client.get(url).get_json()["photos"] == 1
    smart = call(client, "POST", "/api/albums", json={"name": "Canons", "query": "camera:canon"})
    assert smart.get_json()["kind"] == "smart"
    listed = client.get("/api/albums").get_json()["albums"]
    assert [a["name"] for a in listed] == ["Canons", "Summer"]
    assert call(client, "DELETE", url).status_code == 204
    assert client.get(url).status_code == 404
    assert len(ids(client)) == len(FILES)  # the photos stay


def test_bad_names_and_duplicates(client: FlaskClient) -> None:
    for body in (
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": 5},
        {},
        {"name": "a\u0007"},
    ):
        error = error_of(call(client, "POST", "/api/albums", json=body), 400)
        assert error["detail"]["field"] == "name"
    assert call(client, "POST", "/api/albums", json={"name": "x" * 200}).status_code == 201
    assert call(client, "POST", "/api/albums", json={"name": "Trip"}).status_code == 201
    error = error_of(call(client, "POST", "/api/albums", json={"name": "TRIP"}), 409)
    assert "Trip" in error["message"]
    other = call(client, "POST", "/api/albums", json={"name": "Other"}).get_json()
    error_of(call(client, "PATCH", f"/api/albums/{other['id']}", json={"name": "trip"}), 409)
    error_of(call(client, "POST", "/api/albums", json={"name": "N", "colour": "red"}), 400)
    error_of(call(client, "POST", "/api/albums", json={"name": "N", "query": None}), 400)
    error_of(call(client, "PATCH", f"/api/albums/{other['id']}", json={"name": None}), 400)


def test_smart_queries_are_parsed(client: FlaskClient) -> None:
    error = error_of(
        call(client, "POST", "/api/albums", json={"name": "Bad", "query": "dog camra:x"}), 400
    )
    assert error["code"] == "bad_query"
    assert (error["detail"]["start"], error["detail"]["end"]) == (4, 10)  # "camra:"
    loop = call(client, "POST", "/api/albums", json={"name": "Loop", "query": "album:Loop"})
    assert "itself" in error_of(loop, 400)["message"]
    assert client.get("/api/albums").get_json()["albums"] == []


def test_unknown_ids_are_named(client: FlaskClient) -> None:
    photo = ids(client)
    album = call(client, "POST", "/api/albums", json={"name": "Some"}).get_json()
    body = {"ids": [photo["c/beach.jpg"], 987654, 987655]}
    error = error_of(call(client, "POST", f"/api/albums/{album['id']}/photos", json=body), 404)
    assert error["detail"]["missing"] == [987654, 987655]
    assert "987654" in error["message"] and "987655" in error["message"]
    assert client.get(f"/api/albums/{album['id']}").get_json()["photos"] == 0
    error_of(call(client, "POST", "/api/selection/paths", json=body), 404)
    error_of(call(client, "POST", "/api/selection/download", json=body), 404)
    for bad in (
        {"ids": []},
        {"ids": ["1"]},
        {"ids": [0]},
        {"ids": True},
        {},
        {"ids": [1], "query": "x"},
    ):
        error_of(call(client, "POST", f"/api/albums/{album['id']}/photos", json=bad), 400)


def test_smart_albums_refuse_chosen_photos(client: FlaskClient) -> None:
    photo = ids(client)
    smart = call(client, "POST", "/api/albums", json={"name": "S", "query": "camera:canon"})
    url = f"/api/albums/{smart.get_json()['id']}/photos"
    error_of(call(client, "POST", url, json={"ids": [photo["c/beach.jpg"]]}), 409)


def test_selection_paths(client: FlaskClient, served: tuple[Flask, Library, Path]) -> None:
    photo = ids(client)
    chosen = [photo["c/city.jpg"], photo["a/IMG_0001.jpg"]]
    got = call(client, "POST", "/api/selection/paths", json={"ids": chosen}).get_json()
    assert [p["id"] for p in got["photos"]] == chosen
    assert got["photos"][0]["path"] == str(served[2] / "c" / "city.jpg")
    every = call(client, "POST", "/api/selection/paths", json={"query": "camera:canon"})
    assert len(every.get_json()["photos"]) == 4


def read_zip(response: Any) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/zip"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def test_download_a_zip(client: FlaskClient, served: tuple[Flask, Library, Path]) -> None:
    photos = served[2]
    archive = read_zip(call(client, "POST", "/api/selection/download", json={"query": ""}))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == len(FILES) == len({n.casefold() for n in names})
    assert sorted(n.casefold() for n in names) == [
        "beach.jpg", "city.jpg", "img_0001 (2).jpg", "img_0001 (3).jpg", "img_0001.jpg",
    ]  # fmt: skip
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    wanted = sorted((photos / f).read_bytes() for f in FILES)
    assert sorted(archive.read(n) for n in names) == wanted


def test_download_by_link_as_a_browser_saves_it(client: FlaskClient) -> None:
    photo = ids(client)
    wanted = f"{photo['c/city.jpg']},{photo['c/beach.jpg']}"
    archive = read_zip(client.get(f"/api/selection/download?ids={wanted}"))
    assert archive.namelist() == ["city.jpg", "beach.jpg"]
    every = read_zip(client.get("/api/selection/download?query=camera:nikon"))
    assert every.namelist() == ["city.jpg"]
    for bad in ("ids=1;2", "ids=", "what=x", "ids=1&query=x", "", "ids=1,,2"):
        error_of(client.get(f"/api/selection/download?{bad}"), 400)
    error_of(client.get("/api/selection/download?ids=987654"), 404)


def test_all_of_a_query_but_the_photos_unselected_since(client: FlaskClient) -> None:
    """ "Select all N" then unselect some: every action takes the other N - k photos,
    results never loaded in the browser included."""
    photo = ids(client)
    left_out = [photo["a/IMG_0001.jpg"], photo["c/beach.jpg"]]
    every = {p["id"] for p in call(client, "POST", "/api/selection/paths", json={"query": ""})
             .get_json()["photos"]}  # fmt: skip
    wanted = every - set(left_out)
    body = {"query": "", "except": left_out}
    paths = call(client, "POST", "/api/selection/paths", json=body).get_json()["photos"]
    assert {p["id"] for p in paths} == wanted and len(paths) == len(FILES) - 2
    archive = read_zip(call(client, "POST", "/api/selection/download", json=body))
    assert len(archive.namelist()) == len(FILES) - 2 and "beach.jpg" not in archive.namelist()
    link = read_zip(
        client.get(f"/api/selection/download?query=&except={left_out[0]},{left_out[1]}")
    )
    assert sorted(link.namelist()) == sorted(archive.namelist())
    album = call(client, "POST", "/api/albums", json={"name": "Most"}).get_json()
    added = call(client, "POST", f"/api/albums/{album['id']}/photos", json=body).get_json()
    assert added["added"] == len(FILES) - 2
    found = client.get("/api/search?q=album:Most&limit=100").get_json()["results"]
    assert {r["id"] for r in found} == wanted


@pytest.mark.parametrize(
    "body",
    [
        {"ids": [1], "except": [2]},  # unselecting goes with "all of a query" only
        {"query": "", "except": []},
        {"query": "", "except": [0]},
        {"query": "", "except": "1,2"},
    ],
)
def test_except_is_checked(client: FlaskClient, body: dict[str, Any]) -> None:
    assert error_of(call(client, "POST", "/api/selection/paths", json=body), 400)["detail"] == {
        "field": "except"
    }


def test_except_in_a_link_is_checked(client: FlaskClient) -> None:
    for bad in ("query=&except=", "query=&except=1;2", "ids=1&except=2"):
        assert error_of(client.get(f"/api/selection/download?{bad}"), 400)["detail"] == {
            "field": "except"
        }


def test_a_file_gone_from_disk_is_named_in_the_zip(
    client: FlaskClient, served: tuple[Flask, Library, Path]
) -> None:
    photo = ids(client)
    (served[2] / "c" / "beach.jpg").unlink()
    body = {"ids": [photo["c/beach.jpg"], photo["c/city.jpg"]]}
    archive = read_zip(call(client, "POST", "/api/selection/download", json=body))
    assert archive.namelist() == ["city.jpg", "hachi-missing.txt"]
    assert str(photo["c/beach.jpg"]) in archive.read("hachi-missing.txt").decode()


def test_albums_need_a_login(served: tuple[Flask, Library, Path]) -> None:
    anonymous = served[0].test_client()
    assert anonymous.get("/api/albums").status_code == 401
    response = call(anonymous, "POST", "/api/selection/download", json={"query": ""})
    assert response.status_code == 401
