"""`hachi duplicates`: near-duplicate groups and the suggested keeper of each, for a person
or a clean-up script (Hachi itself never deletes or changes an original)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hachi.catalog.duplicates import KINDS
from hachi.cli.output import print_json
from hachi.config import Settings
from hachi.library import Library


def cmd_duplicates(args: argparse.Namespace, settings: Settings) -> int:
    library = Library(settings)
    try:
        library.duplicates.update()
        found = library.duplicates.groups(args.kind)
    finally:
        library.close()
    if args.json:
        print_json(found)
        return 0
    for group in found["groups"]:
        print(f"{group['kind']} group of {len(group['photos'])}: keep {group['why_keep']}")
        for photo in group["photos"]:
            mark = "keep" if photo["keep"] else "    "
            size = f"{photo['width']}x{photo['height']}" if photo["width"] else "?"
            print(f"  {mark}\t{photo['path']}\t{size}\t{photo['size']} bytes")
    print(
        f"{len(found['groups'])} groups, {found['redundant']} redundant photos "
        "(nothing was changed)"
    )
    return 0


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    text = "Near-duplicate groups (identical, edited copies, bursts) and which photo to keep."
    p = sub.add_parser("duplicates", help=text, description=text)
    add_common(p)
    p.set_defaults(func=cmd_duplicates)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--kind", default=None, help=f"only groups of this kind: {', '.join(KINDS)}")
