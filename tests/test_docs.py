"""The README is part of the product: every setting and CLI command is documented there."""

from __future__ import annotations

import re
from pathlib import Path

from hachi.cli import build_parser
from hachi.config import settings_help

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(HACHI_[A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
    assert {name for name, _default, _help in settings_help()} <= documented


def test_every_cli_command_is_in_the_readme() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"`hachi {name}" in README, f"hachi {name} is not documented"


def test_the_two_setup_commands_are_there() -> None:
    assert "make run PHOTOS=/some/folder" in README
    assert "make test" in README
