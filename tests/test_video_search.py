"""Videos end to end: indexed through the whole pipeline with the shapes CLIP model,
found by what happens in them (at the right moment), filtered, served in byte ranges.

Two videos of two shots each, a photo, and the bad inputs a folder of phone videos holds.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hachi.catalog import analyses
from hachi.config import Settings
from hachi.errors import BadRequest
from hachi.indexer.compaction import compact
from hachi.library import Library
from hachi.ml.store import install_model
from hachi.search.ranking import MAX_MORE
from tests.server_fixtures import ORIGIN, login, running_app, set_password
from tests.video_factory import ROOT, shape_frame, shapes_video

SHOT_S = 3.0


@dataclass
class Indexed:
    library: Library
    settings: Settings
    folder: Path
    ids: dict[str, int]


def _bad_inputs(folder: Path, good: Path) -> None:
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "noise.mkv").write_bytes(np.random.default_rng(3).bytes(4096))
    data = good.read_bytes()
    (folder / "cut.mov").write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    base = tmp_path_factory.mktemp("videos")
    settings = Settings.from_env(
        {},
        home=base / "home",
        clip_model="shapes-clip",
        ocr=False,
        workers=2,
        face_backend="none",
    )
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    folder = base / "library"
    folder.mkdir()
    shots = shapes_video(
        folder / "shots.mp4", [("red", "circle", SHOT_S), ("blue", "square", SHOT_S)]
    )
    shapes_video(folder / "garden.mov", [("green", "triangle", SHOT_S), ("yellow", "star", SHOT_S)])
    shape_frame("red", "circle", (192, 144), 9).save(folder / "photo.jpg", quality=92)
    _bad_inputs(folder, shots)
    library = Library(settings)
    library.add_folder(str(folder))
    library.index_pending()
    ids = {hit["name"]: hit["id"] for hit in library.search("", limit=100)["results"]}
    yield Indexed(library, settings, folder, ids)
    library.close()


def hits(indexed: Indexed, query: str) -> list[dict[str, Any]]:
    return list(indexed.library.search(query, limit=100, more=MAX_MORE)["results"])


def test_videos_and_photos_are_indexed_and_bad_files_listed_with_reasons(
    indexed: Indexed,
) -> None:
    assert set(indexed.ids) == {"shots.mp4", "garden.mov", "photo.jpg"}
    failed = {Path(f["path"]).name: f["error"] for f in indexed.library.failed_files(None, 50, 0)}
    assert failed == {
        "empty.mp4": "zero-byte file",
        "noise.mkv": failed["noise.mkv"],
        "cut.mov": failed["cut.mov"],
    }
    assert failed["noise.mkv"].startswith("not a readable video container")
    assert failed["cut.mov"].startswith("truncated video")


def test_video_details(indexed: Indexed) -> None:
    details = indexed.library.photo(indexed.ids["shots.mp4"])
    assert details["kind"] == "video"
    assert details["mime"] == "video/mp4"
    assert (details["width"], details["height"]) == (192, 144)
    assert details["duration_s"] == pytest.approx(2 * SHOT_S, abs=0.15)
    assert details["codec"] == "h264" and details["frame_rate"] == pytest.approx(10)
    assert details["moments"][0] == 0.0
    assert any(abs(t - SHOT_S) <= 0.2 for t in details["moments"])
    photo = indexed.library.photo(indexed.ids["photo.jpg"])
    assert (photo["kind"], photo["duration_s"], photo["moments"]) == ("photo", None, [])


@pytest.mark.parametrize(
    ("query", "name", "shot"),
    [
        ("a blue square", "shots.mp4", 1),
        ("a yellow star", "garden.mov", 1),
        ("a green triangle", "garden.mov", 0),
    ],
)
def test_a_moment_finds_its_video_and_when(
    indexed: Indexed, query: str, name: str, shot: int
) -> None:
    top = hits(indexed, query)[0]
    assert top["name"] == name
    assert top["kind"] == "video"
    assert top["duration_s"] == pytest.approx(2 * SHOT_S, abs=0.15)
    assert shot * SHOT_S - 0.2 <= top["at_s"] < (shot + 1) * SHOT_S


def test_the_later_shot_decides_although_the_poster_shows_the_first(indexed: Indexed) -> None:
    """Without moments the video would be its poster (the red circle) and lose."""
    found = [h["name"] for h in hits(indexed, "a blue square")]
    assert found.index("shots.mp4") < found.index("photo.jpg")


def test_photos_carry_kind_and_no_time(indexed: Indexed) -> None:
    photo = next(h for h in hits(indexed, "a red circle") if h["name"] == "photo.jpg")
    assert (photo["kind"], photo["duration_s"], photo["at_s"]) == ("photo", None, None)


def test_type_video_filter(indexed: Indexed) -> None:
    assert {h["name"] for h in hits(indexed, "type:video")} == {"shots.mp4", "garden.mov"}
    assert {h["name"] for h in hits(indexed, "-type:video")} == {"photo.jpg"}
    assert {h["name"] for h in hits(indexed, "type:mov")} == {"garden.mov"}
    assert [h["name"] for h in hits(indexed, "a blue square -type:video")] == ["photo.jpg"]


def test_similar_to_a_photo_reaches_a_video_moment(indexed: Indexed) -> None:
    found = hits(indexed, f"similar:{indexed.ids['photo.jpg']}")
    top = found[0]
    assert top["name"] == "shots.mp4"
    assert top["at_s"] < SHOT_S


def test_compaction_keeps_moments_and_their_times(indexed: Indexed, tmp_path: Path) -> None:
    conn = indexed.library.conn
    model = "shapes-clip"
    dim = analyses.vector_dim(conn, model)
    committed = analyses.committed_rows(conn, model, dim)
    owners = analyses.vector_owners(conn, model)
    before = _moments(conn, model)
    compact(conn, indexed.settings.vectors_dir, model, dim, committed, owners)
    after = _moments(conn, model)
    assert [(pid, at) for pid, _row, at in after] == [(pid, at) for pid, _row, at in before]
    live = [row for _owner, row in analyses.vector_owners(conn, model)]
    assert live == list(range(len(owners)))
    top = hits(indexed, "a blue square")[0]
    assert top["name"] == "shots.mp4" and top["at_s"] >= SHOT_S - 0.2


def _moments(conn: sqlite3.Connection, model: str) -> list[tuple[int, int, float]]:
    rows = conn.execute(
        "SELECT photo_id, row, at_s FROM video_moments WHERE model = ? ORDER BY photo_id, at_s",
        (model,),
    )
    return [(int(a), int(b), float(c)) for a, b, c in rows]


def test_a_video_own_vector_is_its_poster_moment(indexed: Indexed) -> None:
    conn = indexed.library.conn
    pid = indexed.ids["shots.mp4"]
    own = analyses.vector_row_of(conn, "shapes-clip", pid)
    rows = conn.execute(
        "SELECT row FROM video_moments WHERE photo_id = ? ORDER BY at_s", (pid,)
    ).fetchall()
    assert own == rows[0][0]


def test_catch_up_pass_embeds_moments_of_videos_indexed_without_the_model(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(
        {}, home=tmp_path / "home", clip_model="shapes-clip", ocr=False, workers=1,
        face_backend="none",
    )  # fmt: skip
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    folder = tmp_path / "videos"
    folder.mkdir()
    shapes_video(folder / "late.mp4", [("green", "circle", SHOT_S), ("red", "star", SHOT_S)])
    library = Library(settings)
    try:
        library.add_folder(str(folder))
        library.index_pending(with_models=False)
        assert library.search("type:video")["results"][0]["at_s"] == 0.0  # no moments yet
        library.rescan()
        library.index_pending()
        top = library.search("a red star", more=MAX_MORE)["results"][0]
        assert top["name"] == "late.mp4" and top["at_s"] >= SHOT_S - 0.2
    finally:
        library.close()


# -- playback: byte ranges over HTTP --------------------------------------------------------


@pytest.fixture(scope="module")
def client(indexed: Indexed) -> Iterator[FlaskClient]:
    set_password(indexed.settings)
    with running_app(indexed.settings) as (app, _library):
        client = app.test_client()
        assert login(client).status_code == 200
        yield client


def fetch(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    """A response read to the end and closed (a file response holds the file open)."""
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


def video_url(indexed: Indexed) -> str:
    return f"/api/photos/{indexed.ids['shots.mp4']}/video"


def test_the_whole_video(indexed: Indexed, client: FlaskClient) -> None:
    response = fetch(client, video_url(indexed))
    data = (indexed.folder / "shots.mp4").read_bytes()
    assert response.status_code == 200
    assert response.mimetype == "video/mp4"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.data == data
    assert "attachment" not in response.headers.get("Content-Disposition", "")


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=1000-1999", (1000, 2000)),
        ("bytes=-500", (-500, None)),
        ("bytes=5000-", (5000, None)),
    ],
)
def test_ranges(
    indexed: Indexed, client: FlaskClient, header: str, span: tuple[int, int | None]
) -> None:
    data = (indexed.folder / "shots.mp4").read_bytes()
    response = fetch(client, video_url(indexed), Range=header)
    assert response.status_code == 206
    expected = data[span[0] : span[1]]
    assert response.data == expected
    first = span[0] % len(data)
    assert response.headers["Content-Range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )
    assert response.mimetype == "video/mp4"


def test_a_range_past_the_end_is_416_in_our_error_shape(
    indexed: Indexed, client: FlaskClient
) -> None:
    size = (indexed.folder / "shots.mp4").stat().st_size
    response = fetch(client, video_url(indexed), Range=f"bytes={size + 10}-")
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert set(response.get_json()["error"]) == {"code", "message", "detail"}


def test_a_photo_is_not_served_as_a_video(indexed: Indexed, client: FlaskClient) -> None:
    response = client.get(f"/api/photos/{indexed.ids['photo.jpg']}/video")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_video_route_needs_a_login(indexed: Indexed) -> None:
    with running_app(indexed.settings) as (app, _library):
        response = app.test_client().get(video_url(indexed), headers={"Origin": ORIGIN})
    assert response.status_code == 401


def test_photo_page_links_the_video(indexed: Indexed, client: FlaskClient) -> None:
    page = client.get(f"/api/photos/{indexed.ids['shots.mp4']}").get_json()
    assert page["video_url"] == video_url(indexed)
    assert page["kind"] == "video" and page["moments"][0] == 0.0
    photo = client.get(f"/api/photos/{indexed.ids['photo.jpg']}").get_json()
    assert "video_url" not in photo


def test_duration_filter(indexed: Indexed) -> None:
    videos = {"shots.mp4", "garden.mov"}
    assert {h["name"] for h in hits(indexed, "duration:>5s")} == videos
    assert {h["name"] for h in hits(indexed, "duration:<1m")} == videos
    assert {h["name"] for h in hits(indexed, "duration:<5s")} == set()
    assert {h["name"] for h in hits(indexed, "duration:>=0.1min duration:<=7")} == videos
    assert {h["name"] for h in hits(indexed, "-duration:>5s")} == set()  # photos have no length
    assert {h["name"] for h in hits(indexed, "-duration:<5s")} == videos


@pytest.mark.parametrize("value", ["30s", ">", ">x", ">5y", "=5s"])
def test_duration_filter_refuses_what_is_not_a_comparison(indexed: Indexed, value: str) -> None:
    with pytest.raises(BadRequest):
        indexed.library.search(f"duration:{value}")


def test_best_moment_per_video_is_a_maximum_per_group() -> None:
    from hachi.search.semantic import Moments

    # rows 0-1: photos; video at position 2 owns rows 2, 3, 4; video at position 5 rows 5, 6
    moments = Moments.grouped(
        np.asarray([5, 2, 2, 5, 2]),
        np.asarray([6, 4, 2, 5, 3]),
        np.asarray([2.0, 4.0, 0.0, 0.0, 2.0], np.float32),
    )
    every = np.asarray([0.9, 0.1, 0.2, 0.7, 0.7, 0.3, 0.1], np.float32)
    videos, best = moments.best(every)
    assert videos.tolist() == [2, 5]
    assert moments.rows[best].tolist() == [3, 5]  # a tie goes to the earlier moment
    assert moments.at_s[best].tolist() == [2.0, 0.0]


def test_a_video_preview_is_made_from_its_poster(indexed: Indexed, client: FlaskClient) -> None:
    pid = indexed.ids["shots.mp4"]
    response = fetch(client, f"/api/photos/{pid}/thumbnail?size=preview")
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert response.data[:4] == b"RIFF"


def test_the_cli_prints_a_video_with_its_length_and_moment(indexed: Indexed) -> None:
    env = {
        **os.environ,
        "HACHI_HOME": str(indexed.settings.home),
        "HACHI_CLIP_MODEL": "shapes-clip",
        "HACHI_FACE_BACKEND": "none",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hachi.cli", "search", "type:video", "file:shots"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(str(indexed.folder / "shots.mp4") + "\t")
    assert "video 0:06 from 0:00" in first  # no words: no moment to start from
