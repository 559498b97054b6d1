"""The timeline (photos per day, in the search's order), jumping into a search at a day's
offset, the ``day:`` filter behind "On this day", and the sharp (2x) grid tiles."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from hachi.library import Library
from hachi.media.thumbnails import GRID, GRID_2X, thumbnail_path
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import create_token, make_settings, running_app

# (EXIF date, size[, EXIF orientation]): several photos on some days, days in several
# months and years, one stored on its side (width and height are the upright photo's).
SHOTS: list[tuple[str, tuple[int, int]] | tuple[str, tuple[int, int], int]] = [
    ("2024:07:14 09:00:00", (96, 64)),
    ("2024:07:14 18:30:00", (64, 96)),
    ("2024:07:14 20:00:00", (96, 64), 6),
    ("2024:07:02 12:00:00", (96, 64)),
    ("2024:03:01 08:00:00", (80, 80)),
    ("2023:07:14 10:00:00", (96, 64)),
    ("2023:12:31 23:59:00", (96, 64)),
    ("2021:07:14 07:00:00", (96, 64)),
    ("2021:02:28 07:00:00", (96, 64)),
    ("2020:02:29 07:00:00", (96, 64)),
]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Any]]:
    base = tmp_path_factory.mktemp("timeline")
    settings = make_settings(base / "home")
    for i, (taken, size, *turn) in enumerate(SHOTS):
        shot = Shot(taken=taken, size=size, seed=i, orientation=turn[0] if turn else None)
        write_photo(base / "photos" / f"p{i:02d}.jpg", shot)
    with running_app(settings) as (app, library):
        library.add_folder(str(base / "photos"))
        library.index_pending(with_models=False)
        headers = {"Authorization": f"Bearer {create_token(settings)}"}
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = headers["Authorization"]
        yield client, library


def _dates(result: dict[str, Any]) -> list[str]:
    return [hit["taken_at"][:10] for hit in result["results"]]


def test_days_count_the_search_in_its_order(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    for q, order in (("", "date_desc"), ("sort:oldest", "date_asc"), ("year:2024", "date_desc")):
        found = client.get("/api/search", query_string={"q": q, "limit": 100}).get_json()
        line = client.get("/api/timeline", query_string={"q": q}).get_json()
        assert found["order"] == line["order"] == order
        expected = [{"day": d, "count": n} for d, n in Counter(_dates(found)).items()]
        assert line["days"] == expected  # Counter keeps first-seen order: the search's
        assert line["total"] == found["total"] == sum(d["count"] for d in line["days"])
        assert line["undated"] == 0


def test_offsets_from_the_timeline_start_each_day(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    line = client.get("/api/timeline", query_string={"q": ""}).get_json()
    starts = itertools.accumulate([d["count"] for d in line["days"]], initial=0)
    for day, offset in zip(line["days"], starts, strict=False):
        page = client.get("/api/search", query_string={"q": "", "offset": offset, "limit": 1})
        assert _dates(page.get_json()) == [day["day"]]


def test_offset_and_cursor_do_not_mix(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    first = client.get("/api/search", query_string={"q": "", "limit": 2}).get_json()
    both = {"q": "", "offset": 2, "cursor": first["next_cursor"]}
    assert client.get("/api/search", query_string=both).status_code == 400
    bad = client.get("/api/search", query_string={"q": "", "offset": -1})
    assert bad.status_code == 400 and bad.get_json()["error"]["detail"]["field"] == "offset"
    same = client.get("/api/search", query_string={"q": "", "offset": 2, "limit": 2})
    by_cursor = client.get("/api/search", query_string={"q": "", "cursor": first["next_cursor"]})
    assert same.get_json()["results"] == by_cursor.get_json()["results"][:2]


def test_ranked_answers_have_no_timeline(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    line = client.get("/api/timeline", query_string={"q": "p01"}).get_json()
    assert line["order"] == "rank" and line["days"] == [] and line["total"] is None
    dated = client.get("/api/timeline", query_string={"q": "p01 sort:date"}).get_json()
    assert dated["order"] == "date_desc" and dated["total"] == 1


def test_timeline_needs_a_login_and_a_good_query(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    stranger = client.application.test_client()
    assert stranger.get("/api/timeline?q=").status_code == 401
    bad = client.get("/api/timeline", query_string={"q": "after:2019-13"})
    assert bad.status_code == 400 and "error" in bad.get_json()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("day:07-14", {"2024-07-14", "2023-07-14", "2021-07-14"}),
        ("day:7-14 before:2024", {"2023-07-14", "2021-07-14"}),
        ("day:02-29", {"2020-02-29"}),
        ("day:12-31,03-01", {"2023-12-31", "2024-03-01"}),
    ],
)
def test_day_finds_a_day_of_the_year_in_every_year(
    app_client: tuple[FlaskClient, Library], q: str, expected: set[str]
) -> None:
    client, _ = app_client
    found = client.get("/api/search", query_string={"q": q, "limit": 100}).get_json()
    assert set(_dates(found)) == expected
    assert found["total"] == sum(d in expected for d, _ in SHOTS_BY_DAY)


SHOTS_BY_DAY = [(shot[0][:10].replace(":", "-"), shot[1]) for shot in SHOTS]


def test_not_day_keeps_every_other_day(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    found = client.get("/api/search", query_string={"q": "-day:07-14", "limit": 100}).get_json()
    assert sorted(_dates(found)) == sorted(d for d, _ in SHOTS_BY_DAY if d[5:] != "07-14")


@pytest.mark.parametrize("value", ["13-01", "02-30", "0714", "07-14-2020", "x"])
def test_a_bad_day_points_at_the_value(app_client: tuple[FlaskClient, Library], value: str) -> None:
    client, _ = app_client
    answer = client.get("/api/search", query_string={"q": f"day:{value}"})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["detail"]["token"] == value and "MM-DD" in error["message"]


def test_hits_carry_the_upright_shape_and_both_tiles(
    app_client: tuple[FlaskClient, Library],
) -> None:
    client, library = app_client
    found = client.get("/api/search", query_string={"q": "year:2024-07-14"}).get_json()
    shapes = sorted((hit["width"], hit["height"]) for hit in found["results"])
    assert shapes == [(64, 96), (64, 96), (96, 64)]  # the turned one upright
    for hit in found["results"]:
        for kind, url in ((GRID, hit["thumbnail_url"]), (GRID_2X, hit["thumbnail_2x_url"])):
            assert url == f"/api/thumbs/{hit['content_hash']}.{kind}.webp"
            path = thumbnail_path(library.settings.thumbs_dir, hit["content_hash"], kind)
            assert path.is_file(), "made while indexing"
            answer = client.get(url)
            assert answer.status_code == 200 and answer.mimetype == "image/webp"
            answer.close()


def test_a_big_photo_gets_a_sharper_2x_tile(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    photo = tmp_path / "photos" / "big.jpg"
    photo.parent.mkdir(parents=True)
    Image.new("RGB", (2000, 1500), "orange").save(photo)
    with Library(settings) as library:
        library.add_folder(str(photo.parent))
        library.index_pending(with_models=False)
        content_hash = library.search("")["results"][0]["content_hash"]
        sizes = {}
        for kind in (GRID, GRID_2X):
            with Image.open(thumbnail_path(settings.thumbs_dir, content_hash, kind)) as tile:
                sizes[kind] = tile.size
    assert sizes == {GRID: (320, 240), GRID_2X: (640, 480)}


def test_a_library_without_2x_tiles_gets_them_on_first_ask(tmp_path: Path) -> None:
    """Libraries indexed before the 2x size existed are not re-indexed: each 2x tile is
    made from the original the first time a browser asks for it."""
    settings = make_settings(tmp_path / "home")
    write_photo(tmp_path / "photos" / "old.jpg", Shot(size=(96, 64)))
    with Library(settings) as library:
        library.add_folder(str(tmp_path / "photos"))
        library.index_pending(with_models=False)
        content_hash = library.search("")["results"][0]["content_hash"]
        sharp = thumbnail_path(settings.thumbs_dir, content_hash, GRID_2X)
        sharp.unlink()  # as an older release left it
        assert library.thumbnail_by_hash(content_hash, GRID_2X) == sharp
        assert sharp.is_file() and sharp.stat().st_size > 0


def test_the_first_page_can_bring_the_timeline(app_client: tuple[FlaskClient, Library]) -> None:
    client, _ = app_client
    for q in ("", "sort:oldest", "year:2024"):
        page = client.get("/api/search", query_string={"q": q, "timeline": "1"}).get_json()
        line = client.get("/api/timeline", query_string={"q": q}).get_json()
        assert page["timeline"] == line and line["days"]
    plain = client.get("/api/search", query_string={"q": ""}).get_json()
    assert "timeline" not in plain
    ranked = client.get("/api/search", query_string={"q": "p01", "timeline": "true"})
    assert ranked.get_json()["timeline"] is None
    bad = client.get("/api/search", query_string={"q": "", "timeline": "yes"})
    assert bad.status_code == 400 and bad.get_json()["error"]["detail"]["field"] == "timeline"
