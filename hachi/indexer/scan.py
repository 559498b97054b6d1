"""Walking folders and telling new, changed, unchanged and vanished files apart.

The walk skips hidden entries (dot-files, dot-folders: caches, trash, sidecar stores),
and yields only files with a photo or video extension: everything else in a photo folder
(sidecars, documents, audio) is passed over quietly. Every folder and every symlink is judged by
its real path through ``FolderRules``: a link is followed only where a folder could be
added directly (never into a system folder or Hachi's own data, which is also passed
over when it lies inside the walked folder), and each real folder is visited once, so
a link loop ends.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hachi.indexer.folder_rules import FolderRules
from hachi.media.formats import is_media_path
from hachi.paths import real_path

# Names that downloads, sync clients and editors write under until a file is complete;
# dot-names (Syncthing's .syncthing.x.tmp, rsync's .x.XXXXXX) are hidden anyway.
TEMPORARY_PREFIXES = (".", "~$")
TEMPORARY_SUFFIXES = (
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".tmp",
    ".temp",
    ".!sync",
    ".!qb",
    ".swp",
    "~",
)
SETTLE_NS = 2_000_000_000  # a file modified more recently than this may still be written


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int
    identity: tuple[int, int] | None = None  # (device, inode) of the file the rules passed


def walk_photos(root: Path, rules: FolderRules | None = None) -> Iterator[FoundFile]:
    """Photo files under root, depth first, each real folder visited once.

    Paths are reported as found under ``root`` (through links), but every folder is
    listed and every file stat'ed at the real path the rules passed, and each file
    carries the identity of what was judged, so a link swapped meanwhile is not read.
    """
    rules = rules or FolderRules()
    seen: set[tuple[int, int]] = set()
    start = real_path(root)
    stack = [(str(root), start)] if rules.may_enter(start) else []
    while stack:
        folder, real = stack.pop()
        try:
            info = os.stat(real, follow_symlinks=False)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen or not stat.S_ISDIR(info.st_mode):
            continue
        seen.add((info.st_dev, info.st_ino))
        subdirs, files = _list_dir(folder, real, rules)
        stack.extend(reversed(sorted(subdirs)))
        yield from sorted(files, key=lambda f: f.path)


def _list_dir(
    folder: str, real: Path, rules: FolderRules
) -> tuple[list[tuple[str, Path]], list[FoundFile]]:
    """Sub-folders (path, real path) to walk and photo files, of one folder."""
    subdirs: list[tuple[str, Path]] = []
    files: list[FoundFile] = []
    try:
        entries = list(os.scandir(real))
    except OSError:
        return subdirs, files
    for entry in entries:
        if is_skipped_name(entry.name):
            continue
        path = os.path.join(folder, entry.name)
        linked = entry.is_symlink()
        target = real_path(entry.path) if linked else Path(entry.path)
        if rules.refusal(target) is not None:
            continue
        try:
            st = os.stat(target, follow_symlinks=False)
        except OSError:
            # Dangling links and unreadable entries: an unreadable photo is still reported.
            if is_media_path(Path(entry.name)) and not linked:
                files.append(FoundFile(path, -1, -1))
            continue
        if stat.S_ISDIR(st.st_mode):
            subdirs.append((path, target))
        elif stat.S_ISREG(st.st_mode) and is_media_path(Path(entry.name)) and is_media_path(target):
            files.append(FoundFile(path, st.st_size, st.st_mtime_ns, (st.st_dev, st.st_ino)))
    return subdirs, files


def is_skipped_name(name: str) -> bool:
    """Hidden, or a temporary name that downloads and sync clients write under (`x.jpg.part`,
    `~$x.jpg`): never indexed, whatever its extension."""
    lower = name.lower()
    return lower.startswith(TEMPORARY_PREFIXES) or lower.endswith(TEMPORARY_SUFFIXES)


def is_settled(mtime_ns: int, now_ns: int) -> bool:
    """False while a file's last change is under SETTLE_NS old: it may be half-written."""
    return abs(now_ns - mtime_ns) >= SETTLE_NS


def narrow_scope(paths: Iterable[str]) -> list[str]:
    """The outermost of these paths, sorted: a folder in the list covers what it holds."""
    chosen = set(paths)
    return sorted(p for p in chosen if not any(a in chosen for a in _ancestors(p)))


def _ancestors(path: str) -> Iterator[str]:
    parent = os.path.dirname(path)
    while parent != path:
        yield parent
        path, parent = parent, os.path.dirname(parent)


def walk_scope(
    root: Path, paths: Iterable[str], rules: FolderRules | None = None
) -> Iterator[FoundFile]:
    """Photo files at these paths under root (folders walked whole), as walk_photos would
    find them, for the jobs a folder watcher queues: each path's folder is listed with
    the same rules, and a path below a hidden or temporary name is passed over."""
    rules = rules or FolderRules()
    top = str(root)
    scope = narrow_scope(paths)
    if top in scope:
        yield from walk_photos(root, rules)
        return
    wanted: dict[str, set[str]] = {}
    for path in scope:
        if not path.startswith(top + "/"):
            continue
        if any(is_skipped_name(part) for part in path[len(top) + 1 :].split("/")):
            continue
        parent, name = os.path.split(path)
        wanted.setdefault(parent, set()).add(name)
    for parent, names in sorted(wanted.items()):
        real = real_path(parent)
        if not rules.may_enter(real):
            continue
        subdirs, files = _list_dir(parent, real, rules)
        yield from sorted(
            (f for f in files if os.path.basename(f.path) in names), key=lambda f: f.path
        )
        for sub, _real in sorted(subdirs):
            if os.path.basename(sub) in names:
                yield from walk_photos(Path(sub), rules)
