"""Walking folders and telling new, changed, unchanged and vanished files apart.

The walk skips hidden entries (dot-files, dot-folders: caches, trash, sidecar stores),
follows folder symlinks but visits each real folder once (so a link loop ends), and
yields only files with a photo extension: everything else in a photo folder (videos,
sidecars, documents) is passed over quietly.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hachi.errors import BadRequest
from hachi.media.formats import is_photo_path

SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
    "/snap",
    "/System",
    "/Library",
    "/private/etc",
    "/private/var",
    "/Applications",
)


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


def validate_folder(raw: str, forbidden: tuple[Path, ...] = ()) -> Path:
    """The resolved folder, or a BadRequest saying plainly why it cannot be indexed."""
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise BadRequest("folder path must be a non-empty string")
    path = Path(raw.strip()).expanduser()
    if not path.is_absolute():
        raise BadRequest(f"folder path must be absolute: {raw}")
    try:
        resolved = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise BadRequest(f"folder does not exist: {raw}", {"path": raw}) from None
    except OSError as exc:
        raise BadRequest(f"cannot open folder {raw}: {exc.strerror}", {"path": raw}) from None
    if not resolved.is_dir():
        raise BadRequest(f"not a folder: {raw}", {"path": raw})
    text = str(resolved)
    if text == "/" or any(text == d or text.startswith(d + "/") for d in SYSTEM_DIRS):
        raise BadRequest(f"refusing to index a system folder: {text}", {"path": text})
    for bad in forbidden:
        if text == str(bad) or text.startswith(str(bad) + "/") or str(bad).startswith(text + "/"):
            raise BadRequest(f"refusing to index Hachi's own data folder: {text}", {"path": text})
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise BadRequest(f"folder is not readable: {text}", {"path": text})
    return resolved


def walk_photos(root: Path) -> Iterator[FoundFile]:
    """Photo files under root, depth first, each real folder visited once."""
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        subdirs, files = _list_dir(folder)
        stack.extend(reversed(sorted(subdirs)))
        yield from sorted(files, key=lambda f: f.path)


def _list_dir(folder: str) -> tuple[list[str], list[FoundFile]]:
    subdirs: list[str] = []
    files: list[FoundFile] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return subdirs, files
    for entry in entries:
        if is_skipped_name(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=True)
        except OSError:
            # Dangling links and unreadable entries: an unreadable photo is still reported.
            if is_photo_path(Path(entry.name)) and not entry.is_symlink():
                files.append(FoundFile(entry.path, -1, -1))
            continue
        if stat.S_ISDIR(st.st_mode):
            subdirs.append(entry.path)
        elif stat.S_ISREG(st.st_mode) and is_photo_path(Path(entry.name)):
            files.append(FoundFile(entry.path, st.st_size, st.st_mtime_ns))
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


def walk_scope(root: Path, paths: Iterable[str]) -> Iterator[FoundFile]:
    """Photo files at these paths under root (folders walked whole), as walk_photos would
    find them, for the jobs a folder watcher queues: each path's folder is listed with
    the same rules, and a path below a hidden or temporary name is passed over."""
    top = str(root)
    scope = narrow_scope(paths)
    if top in scope:
        yield from walk_photos(root)
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
        subdirs, files = _list_dir(parent)
        yield from sorted(
            (f for f in files if os.path.basename(f.path) in names), key=lambda f: f.path
        )
        for sub in sorted(subdirs):
            if os.path.basename(sub) in names:
                yield from walk_photos(Path(sub))
