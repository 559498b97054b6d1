"""What the CLI prints for scripts: one JSON document per command."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """``data`` as one line of JSON on stdout (non-ASCII kept as is), then a newline."""
    json.dump(data, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
