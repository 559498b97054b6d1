"""``/api/search?timeline=1`` counts the days of the search's own ranked, filtered and
stacked answer instead of planning and ranking the query again: its timeline must be what
``/api/timeline`` (the separate path, which plans and ranks on its own) says, and what
the search's own pages show, day by day, with stacking on and ``stack:off``. Real shapes
CLIP model, real dated photos, real copies for stacks."""

from __future__ import annotations

import itertools
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hachi.config import Settings
from hachi.ml.store import install_model
from tests.photo_factory import Shot, exif_for
from tests.server_fixtures import create_token, running_app

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from train_shapes_clip import draw_dataset  # noqa: E402

PHOTOS = 40
COPIES = 6
QUERIES = (
    "",
    "sort:oldest",
    "stack:off",
    "circle sort:date",
    "circle sort:oldest",
    "circle sort:date stack:off",
    "square year:2024 sort:date",
    "star sort:oldest stack:off",
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    base = tmp_path_factory.mktemp("timeline_once")
    settings = Settings.from_env(
        {}, home=base / "home", clip_model="shapes-clip", ocr=False, workers=2
    )
    settings.ensure_dirs()
    install_model(settings, ROOT / "models" / "test" / "shapes-clip")
    folder = base / "photos"
    folder.mkdir()
    images, _labels = draw_dataset(PHOTOS, seed=31)
    for i, image in enumerate(images):
        # a few photos a day over two years, some days shared, some undated
        taken = None if i % 13 == 5 else f"{2023 + i % 2}:0{1 + i % 7}:1{i % 4} 1{i % 9}:00:00"
        image.save(folder / f"img_{i:03d}.jpg", quality=92, exif=exif_for(Shot(taken=taken)))
    for i in range(COPIES):  # identical copies: stacked under their original
        shutil.copy(folder / f"img_{i:03d}.jpg", folder / f"copy_{i:03d}.jpg")
    with running_app(settings) as (app, library):
        library.add_folder(str(folder))
        library.index_pending()
        assert library.duplicates.groups()["groups"], "the copies are stacks"
        test_client = app.test_client()
        test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_token(settings)}"
        yield test_client


def _get(client: FlaskClient, path: str, **args: Any) -> dict[str, Any]:
    response = client.get(path, query_string=args)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def _days(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Days in the order the results show them, and how many results have no date."""
    dated = [hit["taken_at"][:10] for hit in results if hit["taken_at"]]
    counted = [{"day": day, "count": n} for day, n in Counter(dated).items()]
    return counted, sum(1 for hit in results if not hit["taken_at"])


@pytest.mark.parametrize("q", QUERIES)
def test_the_first_pages_timeline_is_the_separate_paths(client: FlaskClient, q: str) -> None:
    page = _get(client, "/api/search", q=q, limit=500, timeline=1)
    separate = _get(client, "/api/timeline", q=q)
    assert page["timeline"] == separate
    line = page["timeline"]
    assert line["order"] == page["order"] != "rank"
    days, undated = _days(page["results"])
    assert line["days"] == days and line["undated"] == undated
    assert line["total"] == page["total"] == len(page["results"]) > 0
    if "circle" in q or "square" in q or "star" in q:
        assert page["semantic"], "words ranked by the CLIP model, then sorted by date"


@pytest.mark.parametrize("q", ["circle sort:date", "", "circle sort:oldest stack:off"])
def test_each_days_offset_starts_that_day(client: FlaskClient, q: str) -> None:
    line = _get(client, "/api/search", q=q, limit=1, timeline=1)["timeline"]
    starts = itertools.accumulate([d["count"] for d in line["days"]], initial=0)
    for day, offset in zip(line["days"], starts, strict=False):
        hit = _get(client, "/api/search", q=q, offset=offset, limit=1)["results"]
        assert [h["taken_at"][:10] for h in hit] == [day["day"]]


def test_stacking_is_counted_once(client: FlaskClient) -> None:
    stacked = _get(client, "/api/search", q="sort:date", limit=1, timeline=1)
    every = _get(client, "/api/search", q="sort:date stack:off", limit=1, timeline=1)
    assert every["timeline"]["total"] - stacked["timeline"]["total"] == COPIES
    assert stacked["stacked"] == COPIES


def test_a_ranked_answer_brings_no_timeline(client: FlaskClient) -> None:
    page = _get(client, "/api/search", q="circle", timeline=1)
    assert page["order"] == "rank" and page["timeline"] is None
