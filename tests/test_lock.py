"""The lock files keep every install the same on any day: these checks keep them honest.

A dependency added to pyproject.toml but not to the locks, a lock that disagrees with
another, or an install rule that stops requiring hashes would each let a fresh machine
drift from what the tests passed on.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("run", "dev", "export", "build")
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def pins(lock: str) -> dict[str, set[str]]:
    """Package name -> the versions pinned (one per environment marker, usually one)."""
    found: dict[str, set[str]] = {}
    for line in (ROOT / "requirements" / f"{lock}.txt").read_text().splitlines():
        match = PIN.match(line)
        if match:
            found.setdefault(_name(match[1]), set()).add(match[2])
    return found


def test_every_pin_carries_hashes() -> None:
    for lock in LOCKS:
        text = (ROOT / "requirements" / f"{lock}.txt").read_text()
        entries = re.split(r"\n(?=[A-Za-z])", text.split("\n\n", 1)[-1])
        for entry in entries:
            if "==" in entry.split("\n", 1)[0]:
                assert "--hash=sha256:" in entry, f"{lock}.txt: no hash for {entry.split()[0]}"


def test_every_declared_dependency_is_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        "run": project["dependencies"],
        "dev": project["dependencies"] + project["optional-dependencies"]["dev"],
        "export": project["dependencies"] + project["optional-dependencies"]["export"],
    }
    for lock, requirements in wanted.items():
        locked = pins(lock)
        missing = {_name(r) for r in requirements} - set(locked)
        assert not missing, f"requirements/{lock}.txt lacks {sorted(missing)}: run make lock"


@pytest.mark.parametrize("other", ["dev", "export"])
def test_locks_agree_on_shared_packages(other: str) -> None:
    """One version of each runtime package everywhere: the tests run what users run."""
    run, theirs = pins("run"), pins(other)
    differ = {name: (run[name], theirs[name]) for name in run if run[name] != theirs.get(name)}
    assert not differ, f"run.txt and {other}.txt disagree: {differ}"


def test_installs_come_only_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    for line in installs:
        if "uv==" in line:  # `make lock` fetches the locking tool itself, pinned
            continue
        assert "$(PIP_LOCKED)" in line or "--no-deps" in line, f"unlocked install: {line.strip()}"
    assert "--require-hashes" in makefile
