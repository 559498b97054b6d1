"""GET /api/photos/<id>/moments/<n>.webp on a real indexed video: the picture of each
moment, kept on disk after the first view, cached for good by its versioned URL, and
Hachi's own errors for what is not there or cannot be decoded."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from hachi.config import Settings
from hachi.library import Library
from hachi.media.thumbnails import MOMENT_SIDE
from hachi.ml.store import install_model
from tests.server_fixtures import login, running_app, set_password
from tests.test_media_video_stills import colour_of
from tests.video_factory import ROOT, shape_frame, shapes_video

SHOTS = [("red", "circle", 3.0), ("blue", "square", 3.0)]


@dataclass
class Indexed:
    settings: Settings
    folder: Path
    ids: dict[str, int]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    base = tmp_path_factory.mktemp("moments")
    settings = Settings.from_env(
        {}, home=base / "home", clip_model="shapes-clip", ocr=False, face_backend="none"
    )
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    folder = base / "library"
    folder.mkdir()
    for name, width in (("shots.mp4", 256), ("spoilt.mp4", 240), ("gone.mp4", 224)):
        shapes_video(folder / name, SHOTS, size=(width, 144))  # three contents, three hashes
    shape_frame("red", "circle", (192, 144), 9).save(folder / "photo.jpg", quality=92)
    with Library(settings) as library:
        library.add_folder(str(folder))
        library.index_pending()
        ids = {hit["name"]: hit["id"] for hit in library.search("stack:off", limit=100)["results"]}
    set_password(settings)
    yield Indexed(settings, folder, ids)


@pytest.fixture
def client(indexed: Indexed) -> Iterator[FlaskClient]:
    with running_app(indexed.settings) as (app, _library):
        client = app.test_client()
        assert login(client).status_code == 200
        yield client


def fetch(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


def page(client: FlaskClient, photo_id: int) -> dict[str, object]:
    body = client.get(f"/api/photos/{photo_id}").get_json()
    assert isinstance(body, dict)
    return body


def assert_error(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


def test_each_moment_has_its_own_picture(indexed: Indexed, client: FlaskClient) -> None:
    details = page(client, indexed.ids["shots.mp4"])
    moments, urls = details["moments"], details["moment_urls"]
    assert isinstance(moments, list) and isinstance(urls, list)
    assert len(moments) >= 2 and len(urls) == len(moments)
    colours = []
    for url in urls:
        response = fetch(client, url)
        assert response.status_code == 200 and response.mimetype == "image/webp"
        picture = Image.open(io.BytesIO(response.data))
        assert max(picture.size) == MOMENT_SIDE and picture.size[0] > picture.size[1]
        colours.append(colour_of(picture))
    assert colours[0] == "red" and colours[-1] == "blue"
    assert "moment_urls" not in page(client, indexed.ids["photo.jpg"])


def test_the_versioned_url_is_cached_for_good(indexed: Indexed, client: FlaskClient) -> None:
    url = page(client, indexed.ids["shots.mp4"])["moment_urls"][1]  # type: ignore[index]
    versioned = fetch(client, url)
    assert versioned.cache_control.immutable and versioned.cache_control.private
    assert versioned.cache_control.max_age and versioned.cache_control.max_age > 86400
    bare = fetch(client, url.split("?")[0])
    assert bare.cache_control.no_cache and not bare.cache_control.immutable
    stale = fetch(client, url.split("?")[0] + "?v=0123456789ab-1")
    assert not stale.cache_control.immutable
    again = fetch(client, url, **{"If-None-Match": versioned.headers["ETag"]})
    assert again.status_code == 304


def test_a_revisit_reads_the_kept_picture_not_the_video(
    indexed: Indexed, client: FlaskClient
) -> None:
    """Once made, the picture outlives the video being unreadable: nothing is decoded."""
    video = indexed.folder / "spoilt.mp4"
    url = page(client, indexed.ids["spoilt.mp4"])["moment_urls"][1]  # type: ignore[index]
    first = fetch(client, url)
    assert first.status_code == 200
    kept = list(indexed.settings.thumbs_dir.rglob("*.moment-*.webp"))
    assert kept
    backup = video.with_suffix(".bak")
    shutil.copy2(video, backup)
    video.write_bytes(b"\x00" * video.stat().st_size)  # same size: no rescan is needed
    try:
        assert fetch(client, url).data == first.data
    finally:
        shutil.move(backup, video)


def test_an_unreadable_video_is_our_error_not_a_500(indexed: Indexed, client: FlaskClient) -> None:
    video = indexed.folder / "spoilt.mp4"
    url = page(client, indexed.ids["spoilt.mp4"])["moment_urls"][0]  # type: ignore[index]
    for kept in indexed.settings.thumbs_dir.rglob("*.moment-*.webp"):
        kept.unlink()
    backup = video.with_suffix(".bak")
    shutil.copy2(video, backup)
    video.write_bytes(b"\x00" * video.stat().st_size)
    try:
        assert_error(fetch(client, url), 422, "unreadable_file")
    finally:
        shutil.move(backup, video)


def test_a_video_gone_from_disk_is_a_404(indexed: Indexed, client: FlaskClient) -> None:
    url = page(client, indexed.ids["gone.mp4"])["moment_urls"][0]  # type: ignore[index]
    (indexed.folder / "gone.mp4").unlink()
    assert_error(fetch(client, url), 404, "not_found")


@pytest.mark.parametrize("name", ["99.webp", "01.webp", "-1.webp", "1.jpg", "x.webp", "1"])
def test_no_such_moment_is_a_404(indexed: Indexed, client: FlaskClient, name: str) -> None:
    url = f"/api/photos/{indexed.ids['shots.mp4']}/moments/{name}"
    assert_error(fetch(client, url), 404, "not_found")


def test_a_photo_has_no_moments(indexed: Indexed, client: FlaskClient) -> None:
    url = f"/api/photos/{indexed.ids['photo.jpg']}/moments/0.webp"
    assert_error(fetch(client, url), 404, "not_found")
