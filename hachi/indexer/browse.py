"""The server-side folder picker: sub-folders of the user's home and of indexed folders.

A browser cannot pick a server folder by itself, so the UI asks the server; this lists
directories only, never files, and never outside the home directory or the folders the
user already chose, so the API does not become a way to map the whole disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hachi.errors import Forbidden, NotFound

MAX_ENTRIES = 1000


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def browse(raw: str | None, home: Path, indexed: list[Path]) -> dict[str, Any]:
    roots = [home.resolve(), *(p.resolve() for p in indexed)]
    target = Path(raw).expanduser() if raw else home
    if not target.is_absolute():
        raise Forbidden("give an absolute folder path")
    try:
        resolved = target.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"no such folder: {raw}") from None
    if not any(_inside(resolved, root) for root in roots):
        raise Forbidden("only your home folder and the indexed folders can be browsed")
    if not resolved.is_dir():
        raise NotFound(f"not a folder: {raw}")
    names = _subfolders(resolved)
    parent = resolved.parent
    entries = [
        {
            "name": name,
            "path": str(resolved / name),
            "indexed": any(_inside(resolved / name, p.resolve()) for p in indexed),
        }
        for name in names[:MAX_ENTRIES]
    ]
    return {
        "path": str(resolved),
        "parent": str(parent)
        if parent != resolved and any(_inside(parent, r) for r in roots)
        else None,
        "entries": entries,
        "truncated": len(names) > MAX_ENTRIES,
    }


def _subfolders(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.name.startswith(".") and _is_dir(e)]
    except PermissionError:
        raise Forbidden(f"cannot read {folder}: permission denied") from None
    return sorted(names, key=str.casefold)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
