"""One rule for where Hachi may read, whatever path leads there: real folders, real links.

The rule: a symlink is followed (by the scanner, the file server and the folder picker)
only when its real target could be added as a folder directly: not a system folder, not
Hachi's own data. Links to other allowed folders outside the indexed one are followed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from hachi.catalog import analyses
from hachi.catalog import jobs as jobs_db
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.errors import BadRequest, Forbidden
from hachi.indexer.extract import Extractor
from hachi.indexer.folder_rules import FolderRules
from hachi.indexer.passes import run_pass
from hachi.indexer.scan import walk_photos
from hachi.indexer.stages import Stage
from hachi.library import Library
from hachi.media.formats import is_photo_path
from hachi.paths import is_within
from hachi.server.browse import browse
from tests.photo_factory import Shot, write_photo
from tests.server_fixtures import create_token, running_app


def system_photo_folder() -> Path:
    """A real system folder holding at least one file with a photo's extension.

    A bare machine may have none under /usr/share; then (as root, as in CI) one is made
    there, so the test runs everywhere instead of skipping.
    """
    for folder, _dirs, files in os.walk("/usr/share"):
        if any(is_photo_path(Path(f)) for f in files):
            return Path(folder)
    if os.geteuid() != 0:
        pytest.skip("no photo-like file under /usr/share, and only root may make one")
    made = Path("/usr/share/hachi-test-photos")
    write_photo(made / "system.jpg")
    return made


def index(library: Library, folder: Path) -> dict:
    library.add_folder(str(folder))
    library.index_pending(with_models=False)
    job = library.current_job()
    assert job is not None
    return library.job_dict(job)


def indexed_paths(settings: Settings) -> list[str]:
    conn = connect(settings.catalog_path)
    try:
        rows = conn.execute("SELECT path FROM photos UNION ALL SELECT path FROM failed_files")
        return sorted(str(r[0]) for r in rows)
    finally:
        conn.close()


def get(client: FlaskClient, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
    """Buffer the body and close the response, as a WSGI server would (files get closed)."""
    response = client.get(url, headers=headers, **kwargs)
    response.get_data()
    response.close()
    return response


@pytest.fixture
def library(settings: Settings) -> Iterator[Library]:
    lib = Library(settings)
    yield lib
    lib.close()


@pytest.fixture
def api(library: Library) -> Iterator[tuple[FlaskClient, dict[str, str]]]:
    with running_app(library.settings) as (app, _lib):
        yield app.test_client(), {"Authorization": f"Bearer {create_token(library.settings)}"}


def test_is_within_compares_whole_components() -> None:
    assert is_within(Path("/a/b/c"), Path("/a/b"))
    assert is_within(Path("/a/b"), Path("/a/b"))
    assert not is_within(Path("/a/bc"), Path("/a/b"))
    assert not is_within(Path("/a"), Path("/a/b"))


def test_a_link_to_a_system_folder_is_not_indexed(library: Library, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(photos / "a.jpg")
    system = system_photo_folder()
    (photos / "system").symlink_to(system, target_is_directory=True)
    photo = next(f for f in system.iterdir() if is_photo_path(f))
    (photos / f"one{photo.suffix}").symlink_to(photo)
    job = index(library, photos)
    assert job["found"] == 1
    assert indexed_paths(library.settings) == [str(photos.resolve() / "a.jpg")]


def test_a_watched_change_through_a_link_obeys_the_same_rule(
    library: Library, tmp_path: Path
) -> None:
    """The folder watcher's scoped jobs walk with the scanner's rule: a link to a system
    folder, or to Hachi's data, made after indexing is not followed either."""
    photos = tmp_path / "photos"
    write_photo(photos / "a.jpg")
    index(library, photos)
    system = system_photo_folder()
    (photos / "system").symlink_to(system, target_is_directory=True)
    (photos / "hachi").symlink_to(library.settings.home, target_is_directory=True)
    photo = next(f for f in system.iterdir() if is_photo_path(f))
    (photos / f"one{photo.suffix}").symlink_to(photo)
    write_photo(photos / "b.jpg", Shot(seed=5))
    changed = [
        str(photos.resolve() / n) for n in ("system", "hachi", f"one{photo.suffix}", "b.jpg")
    ]
    conn = connect(library.settings.catalog_path)
    try:
        folder_id = library.list_folders()[0].id
        jobs_db.queue_changes(conn, [folder_id], changed)
    finally:
        conn.close()
    library.index_pending(with_models=False)
    expected = sorted(str(photos.resolve() / n) for n in ("a.jpg", "b.jpg"))
    assert indexed_paths(library.settings) == expected


def test_a_link_to_hachis_home_is_not_followed_and_rescans_do_not_grow(
    library: Library, settings: Settings, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    for i in range(3):
        write_photo(photos / f"p{i}.jpg", Shot(seed=i))
    (photos / "hachi").symlink_to(settings.home, target_is_directory=True)
    (photos / "thumbs").symlink_to(settings.thumbs_dir, target_is_directory=True)
    counts = []
    for _ in range(3):
        index(library, photos)
        if _ == 0:
            assert list(settings.thumbs_dir.rglob("*.webp")), "the thumbnails are there to find"
        library.rescan()
        index(library, photos)
        counts.append(len(indexed_paths(settings)))
    assert counts == [3, 3, 3]


def test_a_folder_containing_hachis_home_is_indexed_without_it(
    library: Library, settings: Settings, tmp_path: Path
) -> None:
    """`hachi index ~` with the default data folder under ~ (10.6)."""
    assert is_within(settings.home, tmp_path)
    write_photo(tmp_path / "pics" / "a.jpg")
    index(library, tmp_path)
    library.rescan()
    index(library, tmp_path)
    assert indexed_paths(settings) == [str(tmp_path.resolve() / "pics" / "a.jpg")]
    for inside in (settings.home, settings.thumbs_dir, settings.home / "new"):
        inside.mkdir(exist_ok=True)
        with pytest.raises(BadRequest, match="own data"):
            library.add_folder(str(inside))


def test_a_separate_models_folder_is_hachis_own_data_too(tmp_path: Path) -> None:
    models = tmp_path / "models-elsewhere"
    settings = Settings(home=tmp_path / "home", models_dir=models, workers=1)
    settings.ensure_dirs()
    write_photo(models / "sample.jpg")
    write_photo(tmp_path / "a.jpg")
    rules = FolderRules.for_settings(settings)
    assert [Path(f.path).name for f in walk_photos(tmp_path, rules)] == ["a.jpg"]
    with pytest.raises(BadRequest, match="own data"):
        rules.check_root(str(models))


def test_link_loops_end(library: Library, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(photos / "a" / "1.jpg")
    write_photo(photos / "b" / "2.jpg", Shot(seed=2))
    (photos / "a" / "to_b").symlink_to(photos / "b", target_is_directory=True)
    (photos / "b" / "to_a").symlink_to(photos / "a", target_is_directory=True)
    (photos / "b" / "self").symlink_to(photos / "b" / "self")  # ELOOP on stat
    (photos / "up").symlink_to(tmp_path, target_is_directory=True)
    job = index(library, photos)
    assert (job["state"], job["found"], job["done"]) == ("done", 2, 2)


def test_a_link_to_another_allowed_folder_is_followed_and_served(
    library: Library, api: tuple[FlaskClient, dict[str, str]], tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    write_photo(photos / "a.jpg")
    elsewhere = write_photo(tmp_path / "elsewhere" / "b.jpg", Shot(seed=5))
    (photos / "more").symlink_to(elsewhere.parent, target_is_directory=True)
    (photos / "best.jpg").symlink_to(elsewhere)
    index(library, photos)
    root = photos.resolve()
    assert indexed_paths(library.settings) == [
        str(root / "a.jpg"),
        str(root / "best.jpg"),
        str(root / "more" / "b.jpg"),
    ]
    client, headers = api
    ids = {r["name"]: r["id"] for r in library.search("file:b.jpg")["results"]}
    response = get(client, f"/api/photos/{ids['b.jpg']}/original", headers)
    assert response.status_code == 200
    assert response.data == elsewhere.read_bytes()


@pytest.mark.parametrize("target", ["/etc/passwd", "system photo"])
def test_an_original_swapped_for_a_link_out_is_not_served(
    library: Library, api: tuple[FlaskClient, dict[str, str]], tmp_path: Path, target: str
) -> None:
    photos = tmp_path / "photos"
    victim = write_photo(photos / "a.jpg")
    index(library, photos)
    (photo_id,) = (r["id"] for r in library.search("file:a.jpg")["results"])
    if target == "system photo":
        system = system_photo_folder()
        target = str(next(f for f in system.iterdir() if is_photo_path(f)))
    victim.unlink()
    victim.symlink_to(target)
    client, headers = api
    for url in (f"/api/photos/{photo_id}/original", f"/api/photos/{photo_id}/thumbnail"):
        response = get(client, url + "?size=preview", headers)
        assert response.status_code == 404, url
        error = response.get_json()["error"]
        assert (error["code"], set(error)) == ("not_found", {"code", "message", "detail"})


def test_the_folder_picker_applies_the_same_rule(settings: Settings, tmp_path: Path) -> None:
    home = tmp_path / "user"
    (home / "Pictures").mkdir(parents=True)
    (home / "system").symlink_to("/usr/share", target_is_directory=True)
    (home / "hachi").symlink_to(settings.home, target_is_directory=True)
    rules = FolderRules.for_settings(settings)
    listing = browse(None, home, [], rules)
    assert [e["name"] for e in listing["entries"]] == ["Pictures"]
    for refused in (home / "system", home / "system" / "doc", home / "hachi"):
        with pytest.raises(Forbidden):
            browse(str(refused), home, [], rules)
    # Hachi's data under an indexed folder is not listed there either.
    inside = browse(str(tmp_path), home, [tmp_path], rules)
    assert "home" not in [e["name"] for e in inside["entries"]]
    assert "user" in [e["name"] for e in inside["entries"]]


def test_the_folder_picker_does_not_tell_what_exists_outside_its_bounds(
    api: tuple[FlaskClient, dict[str, str]], tmp_path: Path
) -> None:
    """10.7: 403 with the same body for paths that exist and for paths that do not."""
    client, headers = api
    outside = tmp_path / "not-home"
    outside.mkdir()
    answers = []
    for path in ("/etc", "/etc/no-such-folder", "/no/such/folder", str(outside), "~nobody-x/y"):
        response = get(client, "/api/browse", headers, query_string={"path": path})
        answers.append((response.status_code, response.get_json()))
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][0] == 403 and answers[0][1]["error"]["code"] == "forbidden"


def test_a_file_swapped_for_a_link_after_the_walk_is_not_read(
    settings: Settings, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    victim = write_photo(photos / "a.jpg")
    (found,) = walk_photos(photos, FolderRules.for_settings(settings))
    victim.unlink()
    victim.symlink_to(next(f for f in system_photo_folder().iterdir() if is_photo_path(f)))
    extracted = Extractor(settings).extract(found, 1, str(photos))
    assert extracted.record is None
    assert "replaced while indexing" in (extracted.error or "")


class SizeStage(Stage):
    """A real stage that records the size of each photo it reads."""

    task = "size"
    model = "size-1"
    min_side = 16

    def prepare(self, image: Image.Image) -> Any:
        return image.size

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        return list(prepared)

    def store(self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Any) -> None:
        for pid in photo_ids:
            analyses.record_analysis(conn, pid, self.task, self.model)


def test_a_model_pass_does_not_read_an_original_swapped_for_a_link_out(
    library: Library, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    victim = write_photo(photos / "a.jpg")
    write_photo(photos / "b.jpg", Shot(seed=1))
    index(library, photos)
    victim.unlink()
    victim.symlink_to(next(f for f in system_photo_folder().iterdir() if is_photo_path(f)))
    conn = connect(library.settings.catalog_path)
    try:
        run_pass(conn, library.rescan().id, SizeStage(), 1, library.rules)
        got = conn.execute(
            "SELECT p.name, a.status, a.error FROM analyses a JOIN photos p ON p.id = a.photo_id"
            " ORDER BY p.name"
        ).fetchall()
    finally:
        conn.close()
    assert [tuple(r)[:2] for r in got] == [("a.jpg", "failed"), ("b.jpg", "ok")]
    assert "system folder" in got[0]["error"]
