"""`hachi albums ...` and `hachi search --format/--print0` as a user runs them: a real
process over a real catalog of real photos."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from tests.photo_factory import Shot, write_photo
from tests.test_cli import hachi

NAMES = ("a b.jpg", 'comma,quote".jpg', "plain.jpg", "nikon.jpg")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli_albums")
    for i, name in enumerate(NAMES):
        make = "Nikon" if name.startswith("nikon") else "Canon"
        write_photo(base / "photos" / name, Shot(make=make, model=f"{make} Z", seed=i))
    run = hachi(base / "home", "index", "--quiet", str(base / "photos"))
    assert run.returncode == 0, run.stderr
    return base / "home"


def ids_by_name(home: Path) -> dict[str, int]:
    found = json.loads(hachi(home, "search", "--json").stdout)
    return {Path(r["path"]).name: r["id"] for r in found["results"]}


def test_search_formats(home: Path) -> None:
    text = hachi(home, "search", "camera:canon")
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 3
    assert all("\t" in line for line in text.stdout.splitlines())  # the default is unchanged
    paths = hachi(home, "search", "camera:canon", "--format", "paths").stdout.splitlines()
    assert sorted(Path(p).name for p in paths) == sorted(NAMES[:3])
    assert all(Path(p).is_file() for p in paths)
    zero = hachi(home, "search", "--print0", "camera:canon").stdout
    assert zero.endswith("\0") and sorted(zero[:-1].split("\0")) == sorted(paths)
    rows = list(csv.DictReader(io.StringIO(hachi(home, "search", "--format", "csv").stdout)))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(NAMES)
    assert {r["camera"] for r in rows} == {"Canon Z", "Nikon Z"}
    assert all(r["id"].isdigit() for r in rows)
    as_json = json.loads(hachi(home, "search", "--format", "json", "camera:nikon").stdout)
    assert [Path(r["path"]).name for r in as_json["results"]] == ["nikon.jpg"]
    assert hachi(home, "search", "--format", "xml").returncode == 2


def test_print0_feeds_xargs(home: Path) -> None:
    """Names with spaces, commas and quotes reach the command whole."""
    listed = hachi(home, "search", "--print0")
    counted = subprocess.run(
        ["xargs", "-0", "-n", "1", "stat", "-c", "%n"],
        input=listed.stdout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sorted(Path(p).name for p in counted.stdout.splitlines()) == sorted(NAMES)


def test_albums_from_the_command_line(home: Path) -> None:
    ids = ids_by_name(home)
    assert hachi(home, "albums", "create", "Trip 2019").returncode == 0
    made = hachi(home, "albums", "create", "Nikons", "--query", "camera:nikon", "--json")
    assert json.loads(made.stdout)["kind"] == "smart"
    add = hachi(home, "albums", "add", "trip 2019", str(ids["a b.jpg"]), str(ids["plain.jpg"]))
    assert add.returncode == 0, add.stderr
    listed = json.loads(hachi(home, "albums", "list", "--json").stdout)
    assert [(a["name"], a["kind"], a["photos"]) for a in listed] == [
        ("Nikons", "smart", None),
        ("Trip 2019", "plain", 2),
    ]
    shown = hachi(home, "albums", "show", "TRIP 2019", "--format", "paths").stdout.splitlines()
    assert sorted(Path(p).name for p in shown) == ["a b.jpg", "plain.jpg"]
    both = hachi(home, "search", 'album:nikons,"trip 2019"', "--format", "paths").stdout
    assert len(both.splitlines()) == 3
    assert hachi(home, "albums", "remove", "Trip 2019", str(ids["plain.jpg"])).returncode == 0
    assert hachi(home, "albums", "rename", "Trip 2019", "Best trip").returncode == 0
    text = hachi(home, "albums", "list").stdout
    assert "Best trip\t1 photos" in text and "Nikons\tsmart: camera:nikon" in text
    assert hachi(home, "albums", "delete", "best trip").returncode == 0
    assert hachi(home, "albums", "delete", "Nikons").returncode == 0
    assert json.loads(hachi(home, "albums", "list", "--json").stdout) == []


def test_album_mistakes_are_clear(home: Path) -> None:
    hachi(home, "albums", "create", "Mine")
    try:
        duplicate = hachi(home, "albums", "create", "MINE")
        assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
        empty = hachi(home, "albums", "create", "  ")
        assert empty.returncode == 2 and "empty" in empty.stderr
        long = hachi(home, "albums", "create", "x" * 201)
        assert long.returncode == 2 and "200" in long.stderr
        bad_query = hachi(home, "albums", "create", "Bad", "--query", "camra:canon")
        assert bad_query.returncode == 2 and "camra" in bad_query.stderr
        missing = hachi(home, "albums", "add", "Mine", "987654", "987655")
        assert missing.returncode == 2
        assert "987654" in missing.stderr and "987655" in missing.stderr
        nowhere = hachi(home, "albums", "add", "Nowhere", "1")
        assert nowhere.returncode == 2 and "Nowhere" in nowhere.stderr
        loop = hachi(home, "albums", "create", "Loop", "--query", "album:loop")
        assert loop.returncode == 2 and "itself" in loop.stderr
    finally:
        hachi(home, "albums", "delete", "Mine")
