"""The server-side folder picker: sub-folders of the user's home and of indexed folders.

A browser cannot pick a server folder by itself, so the UI asks the server; this lists
directories only, never files, and never outside the home directory or the folders the
user already chose, so the API does not become a way to map the whole disk. Bounds are
checked on real paths (links resolved) and the folder rules apply inside them: a system
folder or Hachi's own data is neither listed nor opened. Outside the bounds every path
gets the same answer whether it exists or not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hachi.errors import Forbidden, NotFound
from hachi.indexer.folder_rules import FolderRules
from hachi.paths import is_within, real_path

MAX_ENTRIES = 1000
OUT_OF_BOUNDS = "only your home folder and the indexed folders can be browsed"


def browse(
    raw: str | None, home: Path, indexed: list[Path], rules: FolderRules | None = None
) -> dict[str, Any]:
    rules = rules or FolderRules()
    roots = [real_path(home), *(real_path(p) for p in indexed)]
    folder = _folder_in_bounds(raw, home, roots, rules)
    if not os.path.isdir(folder):
        raise NotFound(f"no such folder: {raw}")
    names = _subfolders(folder, rules)
    indexed_roots = [real_path(p) for p in indexed]
    entries = [
        {
            "name": name,
            "path": str(folder / name),
            "indexed": any(is_within(real_path(folder / name), p) for p in indexed_roots),
        }
        for name in names[:MAX_ENTRIES]
    ]
    parent = folder.parent
    return {
        "path": str(folder),
        "parent": str(parent) if parent != folder and _in_bounds(parent, roots, rules) else None,
        "entries": entries,
        "truncated": len(names) > MAX_ENTRIES,
    }


def _folder_in_bounds(raw: str | None, home: Path, roots: list[Path], rules: FolderRules) -> Path:
    """The real path asked for, or Forbidden, the same for paths that exist and do not."""
    if raw is not None and "\x00" in raw:
        raise Forbidden(OUT_OF_BOUNDS)
    try:
        target = Path(raw).expanduser() if raw else home
    except RuntimeError:  # ~user of an unknown user
        raise Forbidden(OUT_OF_BOUNDS) from None
    if not target.is_absolute():
        raise Forbidden("give an absolute folder path")
    folder = real_path(target)
    if not _in_bounds(folder, roots, rules):
        raise Forbidden(OUT_OF_BOUNDS)
    return folder


def _in_bounds(folder: Path, roots: list[Path], rules: FolderRules) -> bool:
    return any(is_within(folder, r) for r in roots) and rules.refusal(folder) is None


def _subfolders(folder: Path, rules: FolderRules) -> list[str]:
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.name.startswith(".") and _may_list(e, rules)]
    except PermissionError:
        raise Forbidden(f"cannot read {folder}: permission denied") from None
    return sorted(names, key=str.casefold)


def _may_list(entry: os.DirEntry[str], rules: FolderRules) -> bool:
    """A folder (or link to one) that the rules would let the user add."""
    try:
        return entry.is_dir() and rules.refusal(real_path(entry.path)) is None
    except OSError:
        return False
