"""Path comparisons every layer needs, on real paths (links resolved), and nothing else.

They sit below the data flow (like ``textnorm``) so that the catalog, the indexer's folder
rules and the server's folder picker share one containment check without importing each
other.
"""

from __future__ import annotations

import os
from pathlib import Path


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or lies below it; both must already be real paths."""
    return path == root or root in path.parents


def real_path(path: str | Path) -> Path:
    """``path`` with every symlink resolved, as far as it exists; never raises on loops."""
    return Path(os.path.realpath(path))
