"""Where Hachi may read: one rule for adding a folder, scanning, serving and browsing.

A place may be read when its real path (every symlink resolved) is not a system folder
and is not inside Hachi's own data (HACHI_HOME with its catalog, thumbnails and vectors,
and the models folder). The rule is applied to the real path, so a symlink is never a way
around it: the scanner follows a link only to where the user could have added a folder
directly, and an original is served from its real path only after that path passed the
rule (a link swapped after indexing to point at /etc serves nothing). A folder that
*contains* Hachi's data may be indexed; the walk passes over the data folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hachi.config import Settings
from hachi.errors import BadRequest
from hachi.media.formats import is_media_path
from hachi.paths import is_within, real_path

SYSTEM_DIRS = tuple(
    Path(p)
    for p in (
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
)
ROOT = Path("/")


def is_system(real: Path) -> bool:
    return real == ROOT or any(is_within(real, d) for d in SYSTEM_DIRS)


@dataclass(frozen=True)
class FolderRules:
    """The rule, with the real paths of Hachi's own data it keeps out of every walk."""

    private: tuple[Path, ...] = ()

    @classmethod
    def for_settings(cls, settings: Settings) -> FolderRules:
        places = {real_path(settings.home), real_path(settings.models_path)}
        return cls(tuple(sorted(places)))

    def refusal(self, real: Path) -> str | None:
        """Why nothing at or below ``real`` (a real path) may be read; None when it may."""
        if is_system(real):
            return "a system folder"
        if any(is_within(real, p) for p in self.private):
            return "Hachi's own data folder"
        return None

    def may_enter(self, real: Path) -> bool:
        """A folder the walk may list: allowed by the rule and readable."""
        return self.refusal(real) is None and os.access(real, os.R_OK | os.X_OK)

    def check_root(self, raw: str) -> Path:
        """The real path of a folder to add, or a BadRequest saying plainly why not."""
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
        reason = self.refusal(resolved)
        if reason is not None:
            raise BadRequest(f"refusing to index {reason}: {resolved}", {"path": str(resolved)})
        if not os.access(resolved, os.R_OK | os.X_OK):
            raise BadRequest(f"folder is not readable: {resolved}", {"path": str(resolved)})
        return resolved

    def readable_original(self, path: Path, roots: Iterable[Path]) -> Path | None:
        """The real file behind an indexed ``path``, or None when it may not be served.

        ``path`` must lie in one of the (real) indexed ``roots``; the file it leads to
        now, read through every link, must pass the rule, be a regular file and have a
        photo or video extension. Callers open the returned real path, not ``path``.
        """
        if not any(is_within(path, root) for root in roots):
            return None
        real = real_path(path)
        if self.refusal(real) is not None or not is_media_path(real):
            return None
        return real if os.path.isfile(real) else None
