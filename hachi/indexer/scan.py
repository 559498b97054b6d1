"""Walking folders and telling new, changed, unchanged and vanished files apart.

The walk skips hidden entries (dot-files, dot-folders: caches, trash, sidecar stores),
follows folder symlinks but visits each real folder once (so a link loop ends), and
yields only files with a photo extension: everything else in a photo folder (videos,
sidecars, documents) is passed over quietly.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
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
        if entry.name.startswith("."):
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
