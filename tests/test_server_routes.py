"""The API end to end on a real library: add a folder, index it, search, fetch files."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hachi.catalog.analyses import store_ocr
from hachi.catalog.db import connect, transaction
from tests.photo_factory import CORPUS, Shot, require_corpus, write_photo
from tests.server_fixtures import (
    create_token,
    make_settings,
    running_app,
    wait_for_job,
)

ODD_NAME = 'sun "set"; day.jpg'


@dataclass
class Indexed:
    client: FlaskClient
    headers: dict[str, str]
    photos: Path
    folder: dict[str, Any]
    job: dict[str, Any]

    def get(self, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.call("GET", url, headers=headers, **kwargs)

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        """Buffer the body and close the response, as a WSGI server would (files get closed)."""
        kwargs.setdefault("headers", self.headers)
        response = self.client.open(url, method=method, **kwargs)
        response.get_data()
        response.close()
        return response

    def photo_id(self, name: str) -> int:
        results = self.get("/api/search", query_string={"q": f"file:{name}"}).get_json()
        return int(next(r["id"] for r in results["results"] if r["name"] == name))


def write_folder(root: Path) -> Path:
    write_photo(root / "IMG_0001.jpg", Shot(seed=1, make="Canon", model="Canon EOS R5"))
    write_photo(root / "IMG_0002.jpg", Shot(seed=2, make="NIKON CORPORATION", model="NIKON D850"))
    write_photo(root / "trip" / "beach.jpg", Shot(seed=3, taken="2021:07:04 10:00:00"))
    write_photo(root / ODD_NAME, Shot(seed=4))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """One indexed library for the module: indexing is the slow part, reading is not."""
    base = tmp_path_factory.mktemp("routes")
    settings = make_settings(base / "home")
    photos = write_folder(base / "photos")
    with running_app(settings, background=True) as (app, _library):
        headers = {"Authorization": f"Bearer {create_token(settings)}"}
        client = app.test_client()
        response = client.post("/api/folders", json={"path": str(photos)}, headers=headers)
        assert response.status_code == 201, response.get_json()
        added = response.get_json()
        job = wait_for_job(client, added["job"]["id"], headers)
        yield Indexed(client, headers, photos, added["folder"], job)


def test_adding_a_folder_indexes_it(indexed: Indexed) -> None:
    assert indexed.folder["path"] == str(indexed.photos.resolve())
    assert indexed.job["state"] == "done"
    assert {"rate", "eta_s", "found", "done", "failed"} <= set(indexed.job)
    folders = indexed.get("/api/folders").get_json()["folders"]
    assert [(f["id"], f["photos"], f["failed"]) for f in folders] == [(indexed.folder["id"], 4, 1)]


def test_status_and_current_job(indexed: Indexed) -> None:
    status = indexed.get("/api/status").get_json()
    assert status["photos"] == 4 and status["failed"] == 1 and status["folders"] == 1
    current = indexed.get("/api/jobs/current").get_json()["job"]
    assert current["id"] == indexed.job["id"]
    assert indexed.get(f"/api/jobs/{indexed.job['id']}").get_json()["state"] == "done"


def test_failed_files_are_listed_with_their_error(indexed: Indexed) -> None:
    failed = indexed.get("/api/failed").get_json()
    assert failed["limit"] == 100 and failed["offset"] == 0
    assert [Path(f["path"]).name for f in failed["failed"]] == ["broken.jpg"]
    assert failed["failed"][0]["error"]
    by_folder = indexed.get(f"/api/failed?folder_id={indexed.folder['id']}&limit=1").get_json()
    assert len(by_folder["failed"]) == 1
    assert indexed.get("/api/failed?offset=1").get_json()["failed"] == []


def test_search_pages_with_a_cursor(indexed: Indexed) -> None:
    first = indexed.get("/api/search?q=&limit=3").get_json()
    assert first["total"] == 4 and len(first["results"]) == 3
    assert first["next_cursor"]
    rest = indexed.get("/api/search", query_string={"q": "", "cursor": first["next_cursor"]})
    names = {r["name"] for r in first["results"] + rest.get_json()["results"]}
    assert names == {"IMG_0001.jpg", "IMG_0002.jpg", "beach.jpg", ODD_NAME}
    hit = indexed.get("/api/search?q=camera:nikon").get_json()["results"]
    assert [r["name"] for r in hit] == ["IMG_0002.jpg"]
    assert re.fullmatch(r"/api/thumbs/[0-9a-f]{32}\.grid\.webp", hit[0]["thumbnail_url"])
    assert hit[0]["preview_url"] == hit[0]["thumbnail_url"].replace(".grid.", ".preview.")


def test_a_query_needing_a_missing_model_is_503(indexed: Indexed) -> None:
    photo_id = indexed.photo_id("beach.jpg")
    response = indexed.get(f"/api/search?q=similar:{photo_id}")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"


def test_photo_details(indexed: Indexed) -> None:
    photo_id = indexed.photo_id("beach.jpg")
    photo = indexed.get(f"/api/photos/{photo_id}").get_json()
    assert photo["id"] == photo_id and photo["name"] == "beach.jpg"
    assert photo["taken_at"].startswith("2021-07-04")
    assert photo["original_url"] == f"/api/photos/{photo_id}/original"


def test_thumbnails_are_webp_with_etag(indexed: Indexed) -> None:
    photo_id = indexed.photo_id("IMG_0001.jpg")
    url = f"/api/photos/{photo_id}/thumbnail"
    response = indexed.get(url)
    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert response.data[:4] == b"RIFF" and response.data[8:12] == b"WEBP"
    assert response.cache_control.private and response.cache_control.no_cache
    assert "no-store" not in response.headers["Cache-Control"]
    versioned = indexed.get(url + "?v=1a2b")
    assert versioned.cache_control.max_age == 365 * 24 * 60 * 60
    assert versioned.cache_control.immutable
    etag = response.headers["ETag"]
    again = indexed.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    preview = indexed.get(url + "?size=preview")
    assert preview.status_code == 200 and preview.mimetype == "image/webp"


def test_thumbnails_by_content_are_cached_for_good(indexed: Indexed) -> None:
    """The grid's URLs name the content: the browser keeps them and never asks again;
    private, because they are one person's photos behind a login."""
    hit = indexed.get("/api/search?q=file:IMG_0001").get_json()["results"][0]
    response = indexed.get(hit["thumbnail_url"])
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert response.data == indexed.get(f"/api/photos/{hit['id']}/thumbnail").data
    control = response.cache_control
    assert control.private and control.immutable and control.max_age == 365 * 24 * 60 * 60
    assert not control.public and "sandbox" in response.headers["Content-Security-Policy"]
    again = indexed.get(hit["thumbnail_url"], headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    details = indexed.get(f"/api/photos/{hit['id']}").get_json()
    assert details["preview_url"] == hit["preview_url"]
    preview = indexed.get(hit["preview_url"])  # made on first view, from the photo
    assert preview.status_code == 200 and preview.mimetype == "image/webp"
    assert indexed.client.get(hit["thumbnail_url"]).status_code == 401


@pytest.mark.parametrize(
    "name",
    [
        "../catalog.db",
        "..%2f..%2fcatalog.db",
        "9F65A43E536BD4323934CC5F10745580.grid.webp",  # upper case: not a name we make
        "9f65a43e536bd4323934cc5f1074558.grid.webp",  # 31 digits
        "9f65a43e536bd4323934cc5f10745580.huge.webp",
        "9f65a43e536bd4323934cc5f10745580.grid.webp.tmp",
        "00000000000000000000000000000000.grid.webp",  # well formed, no such photo
    ],
)
def test_thumbnails_by_content_take_only_hashes(indexed: Indexed, name: str) -> None:
    response = indexed.get(f"/api/thumbs/{name}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_original_is_the_untouched_file_with_a_safe_name(indexed: Indexed) -> None:
    photo_id = indexed.photo_id(ODD_NAME)
    response = indexed.get(f"/api/photos/{photo_id}/original")
    assert response.status_code == 200
    assert response.data == (indexed.photos / ODD_NAME).read_bytes()
    assert response.mimetype == "image/jpeg"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert ";" not in disposition.split("filename=", 1)[1].strip('"')
    assert '"set"' not in disposition and "sandbox" in response.headers["Content-Security-Policy"]


def test_a_vanished_original_is_404(indexed: Indexed, tmp_path: Path) -> None:
    path = indexed.photos / "IMG_0002.jpg"
    photo_id = indexed.photo_id("IMG_0002.jpg")
    kept = shutil.copy2(path, tmp_path / "kept.jpg")
    path.unlink()
    try:
        response = indexed.get(f"/api/photos/{photo_id}/original")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    finally:
        shutil.copy2(kept, path)


def test_photo_text_leaves_out_ocr_noise(indexed: Indexed) -> None:
    """Text read before the noise filter existed (still in older catalogs) is shown
    without its one- and two-character specks."""
    photo_id = indexed.photo_id("IMG_0002.jpg")
    conn = connect(indexed.photos.parent / "home" / "catalog.db")
    try:
        with transaction(conn):
            store_ocr(conn, photo_id, ":\nV\nHAPPY BIRTHDAY")
    finally:
        conn.close()
    assert indexed.get(f"/api/photos/{photo_id}").get_json()["text"] == "HAPPY BIRTHDAY"


def test_suggest(indexed: Indexed) -> None:
    found = indexed.get("/api/suggest?prefix=nik&kind=camera").get_json()["suggestions"]
    assert [s["kind"] for s in found] == ["camera"]
    assert "nikon" in found[0]["label"].lower()
    assert indexed.get("/api/suggest?prefix=zzzz").get_json()["suggestions"] == []
    among = indexed.get("/api/suggest?prefix=nik&kind=camera&q=camera:nikon")
    assert among.get_json()["suggestions"] == found
    none = indexed.get("/api/suggest?prefix=nik&kind=camera&q=file:nothing-has-this-name")
    assert none.get_json()["suggestions"] == []
    half_typed = indexed.get('/api/suggest?prefix=nik&kind=camera&q=place:"unclosed')
    assert half_typed.get_json()["suggestions"] == found, "a bar that does not parse is ignored"
    limited = indexed.get("/api/suggest?prefix=&limit=1").get_json()["suggestions"]
    assert len(limited) <= 1


def test_rescan_and_cancel(indexed: Indexed) -> None:
    response = indexed.call("POST", f"/api/folders/{indexed.folder['id']}/rescan")
    assert response.status_code == 202
    job = response.get_json()["job"]
    assert job["folder_ids"] == [indexed.folder["id"]]
    cancelled = indexed.call("POST", f"/api/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["id"] == job["id"]
    final = wait_for_job(indexed.client, job["id"], indexed.headers)
    assert final["state"] in ("cancelled", "done")


def test_adding_a_folder_twice_or_inside_another_is_harmless(indexed: Indexed) -> None:
    again = indexed.call("POST", "/api/folders", json={"path": str(indexed.photos)})
    assert again.get_json()["folder"]["id"] == indexed.folder["id"]
    wait_for_job(indexed.client, again.get_json()["job"]["id"], indexed.headers)
    nested = indexed.call("POST", "/api/folders", json={"path": str(indexed.photos / "trip")})
    assert nested.status_code == 409
    assert nested.get_json()["error"]["code"] == "conflict"


def test_a_corpus_photo_round_trips(indexed: Indexed, tmp_path: Path) -> None:
    require_corpus(CORPUS)
    source = sorted((CORPUS / "faces").glob("*.jpg"))[0]
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy2(source, folder / source.name)
    added = indexed.call("POST", "/api/folders", json={"path": str(folder)}).get_json()
    wait_for_job(indexed.client, added["job"]["id"], indexed.headers)
    photo_id = indexed.photo_id(source.name)
    original = indexed.get(f"/api/photos/{photo_id}/original")
    assert original.data == source.read_bytes()
    thumb = indexed.get(f"/api/photos/{photo_id}/thumbnail?size=preview")
    assert thumb.status_code == 200
    removed = indexed.call("DELETE", f"/api/folders/{added['folder']['id']}")
    assert removed.status_code == 204
    assert indexed.get(f"/api/photos/{photo_id}").status_code == 404
