"""The folder picker lists folders under home and indexed folders, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from hachi.errors import Forbidden, NotFound
from hachi.server.browse import browse


def test_lists_subfolders_of_home_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("Pictures", "b", ".hidden", "Pictures/2019"):
        (home / name).mkdir(parents=True)
    (home / "file.jpg").write_bytes(b"x")
    listing = browse(None, home, [])
    assert listing["path"] == str(home.resolve())
    assert [e["name"] for e in listing["entries"]] == ["b", "Pictures"]
    assert listing["parent"] is None, "the home folder's parent is out of bounds"
    inner = browse(str(home / "Pictures"), home, [home / "Pictures" / "2019"])
    assert inner["parent"] == str(home.resolve())
    assert inner["entries"] == [
        {"name": "2019", "path": str(home.resolve() / "Pictures" / "2019"), "indexed": True}
    ]


def test_refuses_everything_else(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (home / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(Forbidden):
        browse("/etc", home, [])
    with pytest.raises(Forbidden):
        browse(str(home / "escape"), home, [])
    with pytest.raises(Forbidden):
        browse("relative/path", home, [])
    with pytest.raises(NotFound):
        browse(str(home / "missing"), home, [])
    assert browse(str(outside), home, [outside])["path"] == str(outside.resolve())
