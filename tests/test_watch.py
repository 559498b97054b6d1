"""Folder watching on real files: a real Library, the real watchfiles watcher, real jobs.

Every change is made on disk the way a user or a sync client makes it (copy, move,
delete, a slow write, a temporary name), and checked through search, as a user sees it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hachi.catalog import jobs as jobs_db
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.indexer.fs_events import filesystem_type, inotify_watches
from hachi.indexer.runner import run_next_job
from hachi.indexer.scan import narrow_scope, walk_scope
from hachi.library import Library
from tests.photo_factory import Shot, jpeg_bytes, write_photo

PROMISE_S = 10.0  # a change reaches search within this long of the file being complete


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"workers": 2, "ocr": False, "face_backend": "none"}
    return Settings(home=home, **{**values, **overrides})


def wait_until(condition: Callable[[], Any], timeout: float = PROMISE_S) -> float:
    """Seconds until condition() holds; fails the test after timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true after {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def ids_named(library: Library, name: str) -> list[int]:
    results = library.search(f"file:{name}")["results"]
    return [r["id"] for r in results if r["path"].endswith("/" + name)]


def idle(library: Library) -> bool:
    conn = connect(library.settings.catalog_path, migrate_schema=False)
    try:
        return not jobs_db.active_jobs(conn)
    finally:
        conn.close()


def jobs_of_kind(library: Library, kind: str) -> list[jobs_db.Job]:
    conn = connect(library.settings.catalog_path, migrate_schema=False)
    try:
        rows = conn.execute("SELECT id FROM jobs WHERE kind = ? ORDER BY id", (kind,))
        return [jobs_db.get_job(conn, int(r[0])) for r in rows.fetchall()]
    finally:
        conn.close()


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hachi-watch")]


@contextmanager
def serving(settings: Settings, *folders: Path) -> Iterator[Library]:
    """A library with these folders indexed and its background indexer (and watcher) on."""
    library = Library(settings)
    try:
        for folder in folders:
            library.add_folder(str(folder))
        library.start_background()
        wait_until(lambda: idle(library) and library.status()["watch"]["running"], 30)
        time.sleep(0.3)  # the catch-up rescan queued at start has been claimed and done
        wait_until(lambda: idle(library), 30)
        yield library
    finally:
        library.close()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_photo(folder / "old.jpg", Shot(seed=1))
    return folder


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    """Photos made outside the indexed folder, to be copied or moved in."""
    folder = tmp_path / "staging"
    folder.mkdir()
    return folder


def test_a_copied_photo_is_searchable_within_seconds(
    tmp_path: Path, photos: Path, staging: Path
) -> None:
    source = write_photo(staging / "beach.jpg", Shot(seed=2))
    with serving(make_settings(tmp_path / "home"), photos) as library:
        shutil.copy(source, photos / "beach.jpg")
        took = wait_until(lambda: ids_named(library, "beach.jpg"))
    assert took < PROMISE_S


def test_a_deleted_photo_leaves_search(tmp_path: Path, photos: Path) -> None:
    with serving(make_settings(tmp_path / "home"), photos) as library:
        assert ids_named(library, "old.jpg")
        (photos / "old.jpg").unlink()
        wait_until(lambda: not ids_named(library, "old.jpg"))
        assert library.status()["photos"] == 0


def test_moved_photos_and_folders_keep_their_ids(tmp_path: Path, photos: Path) -> None:
    write_photo(photos / "trip" / "day1.jpg", Shot(seed=3))
    with serving(make_settings(tmp_path / "home"), photos) as library:
        [old_id] = ids_named(library, "old.jpg")
        [day_id] = ids_named(library, "day1.jpg")
        (photos / "kept").mkdir()
        os.rename(photos / "old.jpg", photos / "kept" / "renamed.jpg")
        os.rename(photos / "trip", photos / "journey")
        wait_until(lambda: ids_named(library, "renamed.jpg") == [old_id])
        wait_until(lambda: library.photo(day_id)["path"].endswith("/journey/day1.jpg"))
        assert library.status()["photos"] == 2
        assert not ids_named(library, "old.jpg")


def test_a_slowly_written_photo_is_never_failed_and_is_indexed_once_complete(
    tmp_path: Path, photos: Path
) -> None:
    data = jpeg_bytes(Shot(seed=4, size=(640, 480)))
    chunks = [data[i : i + len(data) // 12 + 1] for i in range(0, len(data), len(data) // 12 + 1)]
    failures: list[Any] = []
    with serving(make_settings(tmp_path / "home"), photos) as library:
        with open(photos / "slow.jpg", "wb") as out:
            for number, chunk in enumerate(chunks):
                out.write(chunk)
                out.flush()
                # Longer than the watcher's quiet period once, and longer than its
                # longest gathering in all: a watcher without a settle rule queues it.
                time.sleep(1.5 if number == 3 else 0.45)
                failures += library.failed_files(None, 10, 0)
        assert jobs_of_kind(library, jobs_db.WATCH) == []  # it has not settled yet
        took = wait_until(lambda: ids_named(library, "slow.jpg"))
        failures += library.failed_files(None, 10, 0)
    assert failures == []
    assert took < PROMISE_S


@pytest.mark.parametrize("temporary", ["~$party.jpg", ".party.jpg", "party.jpg.crdownload"])
def test_a_temporary_name_is_passed_over_until_renamed(
    tmp_path: Path, photos: Path, temporary: str
) -> None:
    with serving(make_settings(tmp_path / "home"), photos) as library:
        write_photo(photos / temporary, Shot(seed=5))
        time.sleep(4.0)  # settled and gathered: had it been taken, it would be in by now
        assert not library.search("file:party")["results"]
        assert library.failed_files(None, 10, 0) == []
        assert jobs_of_kind(library, jobs_db.WATCH) == []
        os.rename(photos / temporary, photos / "party.jpg")
        wait_until(lambda: ids_named(library, "party.jpg"))


def test_a_copy_of_300_photos_is_one_job_or_very_few(
    tmp_path: Path, photos: Path, staging: Path
) -> None:
    sources = [write_photo(staging / f"burst_{i:03}.jpg", Shot(seed=100 + i)) for i in range(300)]
    with serving(make_settings(tmp_path / "home"), photos) as library:
        for source in sources:
            shutil.copy(source, photos / source.name)
        wait_until(lambda: library.status()["photos"] == 301, 60)
        watch_jobs = jobs_of_kind(library, jobs_db.WATCH)
    assert 1 <= len(watch_jobs) <= 3
    assert sum(job.done for job in watch_jobs) == 300


def test_watch_off_means_no_watcher(tmp_path: Path, photos: Path, staging: Path) -> None:
    source = write_photo(staging / "ignored.jpg", Shot(seed=6))
    settings = Settings.from_env(
        {"HACHI_WATCH": "false"}, home=tmp_path / "home", ocr=False, face_backend="none"
    )
    with serving(settings, photos) as library:
        assert [t.name for t in watch_threads()] == ["hachi-watch"]  # the rescan schedule
        shutil.copy(source, photos / "ignored.jpg")
        time.sleep(4.0)
        assert not ids_named(library, "ignored.jpg")
        watch = library.status()["watch"]
        assert watch["enabled"] is False and watch["folders"] == []


def test_polling_is_reported_in_status_and_finds_changes(
    tmp_path: Path, photos: Path, staging: Path
) -> None:
    source = write_photo(staging / "polled.jpg", Shot(seed=7))
    settings = make_settings(tmp_path / "home", watch_polling=True, watch_poll_seconds=1)
    with serving(settings, photos) as library:
        status = library.status()
        assert [f["mode"] for f in status["watch"]["folders"]] == ["polling"]
        assert any("is polled every 1 s" in notice for notice in status["notices"])
        shutil.copy(source, photos / "polled.jpg")
        wait_until(lambda: ids_named(library, "polled.jpg"))


def test_hachi_status_in_another_process_says_what_is_watched(tmp_path: Path, photos: Path) -> None:
    settings = make_settings(tmp_path / "home")
    env = {**os.environ, "HACHI_HOME": str(settings.home)}
    command = [sys.executable, "-m", "hachi.cli", "status"]
    with serving(settings, photos):
        text = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        data = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=60)
    assert "folders kept current: 1 watched" in text.stdout
    watch = json.loads(data.stdout)["watch"]
    assert watch["running"] is True
    assert watch["folders"] == [{"path": str(photos), "mode": "events", "reason": None}]
    after = Library(settings)
    try:
        assert after.status()["watch"]["running"] is False  # stopped: the state is gone
    finally:
        after.close()


def test_folders_added_and_removed_while_running(
    tmp_path: Path, photos: Path, staging: Path
) -> None:
    second = tmp_path / "second"
    second.mkdir()
    source = write_photo(staging / "later.jpg", Shot(seed=8))
    with serving(make_settings(tmp_path / "home"), photos) as library:
        folder, _job = library.add_folder(str(second))
        wait_until(lambda: len(watch_threads()) == 3)  # the watcher and one per folder
        shutil.copy(source, second / "later.jpg")
        wait_until(lambda: ids_named(library, "later.jpg"))
        library.remove_folder(folder.id)
        wait_until(lambda: len(watch_threads()) == 2, 5)


def test_stop_is_prompt_and_quiet(
    tmp_path: Path, photos: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    library = Library(make_settings(tmp_path / "home"))
    library.add_folder(str(photos))
    library.start_background()
    wait_until(lambda: len(watch_threads()) == 2)
    wait_until(lambda: idle(library), 30)
    start = time.monotonic()
    library.close()
    assert time.monotonic() - start < 2.0
    assert watch_threads() == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_scheduled_rescan_rescans_a_stale_folder(tmp_path: Path, photos: Path) -> None:
    settings = make_settings(tmp_path / "home", watch=False, rescan_hours=1)
    with serving(settings, photos) as library:
        before = len(jobs_of_kind(library, jobs_db.INDEX))
        library.close()  # stop, age the last scan by two hours, start again
        conn = connect(settings.catalog_path)
        conn.execute("UPDATE folders SET last_scan_at = '2000-01-01T00:00:00.000000Z'")
        conn.commit()
        conn.close()
        library.start_background()
        wait_until(lambda: len(jobs_of_kind(library, jobs_db.INDEX)) == before + 1, 5)


# -- scoped scans, without a watcher --------------------------------------------------


def test_a_scoped_job_sees_only_its_paths_and_finds_moves_and_removals(
    tmp_path: Path, photos: Path
) -> None:
    settings = make_settings(tmp_path / "home")
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_photo(photos / "x" / name, Shot(seed=ord(name[0])))
    library = Library(settings)
    try:
        folder, _job = library.add_folder(str(photos))
        library.index_pending(with_models=False)
        [moved_id] = ids_named(library, "b.jpg")
        scanned_at = library.list_folders()[0].last_scan_at
        (photos / "x" / "a.jpg").unlink()
        os.rename(photos / "x" / "b.jpg", photos / "moved.jpg")
        (photos / "old.jpg").unlink()  # outside the scope: stays until a whole rescan
        write_photo(photos / "x" / "new.jpg", Shot(seed=9))
        changed = [str(photos / "x"), str(photos / "moved.jpg")]
        conn = connect(settings.catalog_path)
        job = jobs_db.queue_changes(conn, [folder.id], changed)
        conn.close()
        done, _progress = run_next_job(settings, library.extractor) or (None, None)
        assert done is not None and done.id == job.id and done.kind == jobs_db.WATCH
        assert (done.found, done.done, done.moved, done.removed) == (3, 1, 1, 1)
        assert ids_named(library, "moved.jpg") == [moved_id]
        assert ids_named(library, "old.jpg")
        assert library.list_folders()[0].last_scan_at == scanned_at  # not a whole scan
    finally:
        library.close()


def test_watch_requests_join_a_queued_job_never_a_running_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    Library(settings).close()
    conn = connect(settings.catalog_path)
    try:
        first = jobs_db.queue_changes(conn, [1], ["/p/a.jpg"])
        again = jobs_db.queue_changes(conn, [1], ["/p/b.jpg"])
        assert again.id == first.id and again.paths == ["/p/a.jpg", "/p/b.jpg"]
        assert jobs_db.claim_next_job(conn) is not None  # now running
        later = jobs_db.queue_changes(conn, [1], ["/p/c.jpg"])
        assert later.id != first.id and later.paths == ["/p/c.jpg"]
        whole = jobs_db.create_job(conn, [1, 2])  # a queued rescan of whole folders...
        assert jobs_db.queue_changes(conn, [2], ["/q/d.jpg"]).id in (later.id, whole.id)
    finally:
        conn.close()


def test_walk_scope_follows_the_scanner_rules(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_photo(root / "d" / "in.jpg")
    write_photo(root / "d" / "sub" / "deep.jpg")
    write_photo(root / ".hidden" / "h.jpg")
    write_photo(root / "d" / "~$lock.jpg")
    (root / "d" / "notes.txt").write_text("not a photo")
    asked = [str(root / "d"), str(root / "d" / "in.jpg"), str(root / ".hidden" / "h.jpg")]
    asked += [str(root / "d" / "~$lock.jpg"), str(root / "gone.jpg")]
    assert narrow_scope(asked) == sorted([str(root / "d"), asked[2], asked[4]])
    found = sorted(Path(f.path).relative_to(root).as_posix() for f in walk_scope(root, asked))
    assert found == ["d/in.jpg", "d/sub/deep.jpg"]
    only = [f.path for f in walk_scope(root, [str(root / "d" / "in.jpg")])]
    assert only == [str(root / "d" / "in.jpg")]


def test_network_mounts_are_recognised_for_polling() -> None:
    mountinfo = (
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "40 22 0:45 / /mnt/nas rw,relatime - nfs4 nas:/photos rw\n"
        "41 22 0:46 / /mnt/my\\040share rw - cifs //pc/share rw\n"
    )
    assert filesystem_type("/home/me/Pictures", mountinfo) == "ext4"
    assert filesystem_type("/mnt/nas/2019/a.jpg", mountinfo) == "nfs4"
    assert filesystem_type("/mnt/my share", mountinfo) == "cifs"
    assert filesystem_type("/mnt/nasty", mountinfo) == "ext4"


def test_a_folder_that_is_not_there_is_not_emptied_by_a_rescan(
    tmp_path: Path, photos: Path
) -> None:
    """Rescans now run by themselves (at start, daily): an unplugged drive or unmounted
    share must not cost its photos, faces and names."""
    settings = make_settings(tmp_path / "home")
    library = Library(settings)
    try:
        library.add_folder(str(photos))
        library.index_pending(with_models=False)
        os.rename(photos, tmp_path / "unplugged")
        library.rescan()
        library.index_pending(with_models=False)
        assert library.status()["photos"] == 1
        os.rename(tmp_path / "unplugged", photos)
        (photos / "old.jpg").unlink()
        library.rescan()
        library.index_pending(with_models=False)
        assert library.status()["photos"] == 0  # back, and the deletion is seen
    finally:
        library.close()


def test_a_rescan_during_a_slow_copy_records_no_failure(tmp_path: Path, photos: Path) -> None:
    """The same rule without a watcher: a file that cannot be read while it changes is
    read again once settled, and left alone while it still grows."""
    settings = make_settings(tmp_path / "home")
    data = jpeg_bytes(Shot(seed=11, size=(640, 480)))
    step = len(data) // 10 + 1

    def copy_slowly() -> None:
        with open(photos / "copying.jpg", "wb") as out:
            for start in range(0, len(data), step):
                out.write(data[start : start + step])
                out.flush()
                time.sleep(0.4)

    library = Library(settings)
    try:
        library.add_folder(str(photos))
        library.index_pending(with_models=False)
        writer = threading.Thread(target=copy_slowly)
        writer.start()
        rescans = 0
        while writer.is_alive():
            library.rescan()
            library.index_pending(with_models=False)
            rescans += 1
            assert library.failed_files(None, 10, 0) == []
        library.rescan()
        library.index_pending(with_models=False)
        assert rescans >= 2
        assert library.failed_files(None, 10, 0) == []
        assert ids_named(library, "copying.jpg")
    finally:
        library.close()


def test_a_folder_that_goes_and_comes_back_is_watched_again(
    tmp_path: Path, photos: Path, staging: Path
) -> None:
    source = write_photo(staging / "after.jpg", Shot(seed=12))
    with serving(make_settings(tmp_path / "home"), photos) as library:
        os.rename(photos, tmp_path / "unplugged")
        wait_until(lambda: any("is not there" in n for n in library.status()["notices"]), 5)
        assert [f["mode"] for f in library.status()["watch"]["folders"]] == ["unwatched"]
        assert library.status()["photos"] == 1  # kept while it is away
        os.rename(tmp_path / "unplugged", photos)
        wait_until(lambda: library.status()["watch"]["folders"][0]["mode"] == "events", 5)
        shutil.copy(source, photos / "after.jpg")
        wait_until(lambda: ids_named(library, "after.jpg"))
        assert ids_named(library, "old.jpg")


def test_the_inotify_watches_of_a_watched_tree_are_counted(tmp_path: Path, photos: Path) -> None:
    for name in ("a", "b", "c/d"):
        (photos / name).mkdir(parents=True)
    before = inotify_watches()
    if before is None:
        pytest.skip("no inotify here")
    with serving(make_settings(tmp_path / "home"), photos):
        during = inotify_watches()
    assert during is not None and during[0] >= before[0] + 5  # photos, a, b, c, c/d
    assert during[1] == before[1] > 0


def test_a_scoped_job_over_two_folders_keeps_each_to_its_own(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    first, second = tmp_path / "first", tmp_path / "second"
    write_photo(first / "keep1.jpg", Shot(seed=21))
    write_photo(second / "keep2.jpg", Shot(seed=22))
    write_photo(second / "gone.jpg", Shot(seed=23))
    library = Library(settings)
    try:
        ids = [library.add_folder(str(f))[0].id for f in (first, second)]
        library.index_pending(with_models=False)
        write_photo(first / "new.jpg", Shot(seed=24))
        (second / "gone.jpg").unlink()
        conn = connect(settings.catalog_path)
        changed = [first / "new.jpg", second / "gone.jpg", second / "keep2.jpg"]
        jobs_db.queue_changes(conn, ids, [str(path) for path in changed])
        conn.close()
        done, _progress = run_next_job(settings, library.extractor) or (None, None)
        assert done is not None
        assert (done.found, done.done, done.unchanged, done.removed) == (2, 1, 1, 1)
        names = sorted(Path(r["path"]).name for r in library.search("file:jpg")["results"])
        assert names == ["keep1.jpg", "keep2.jpg", "new.jpg"]
    finally:
        library.close()
