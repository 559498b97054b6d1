"""`hachi albums ...`: smart albums (saved queries) and plain albums (chosen photos).

Albums are named on the command line by their name (any case), photos by id (the ``id``
of ``hachi search --json`` or ``--format csv``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hachi.cli.library_command import with_library
from hachi.cli.output import print_json
from hachi.cli.results import add_result_format, print_results
from hachi.library import Library


def _describe(album: dict[str, Any]) -> str:
    if album["kind"] == "smart":
        return f"smart: {album['query']}"
    return f"{album['photos']} photos"


@with_library
def cmd_albums_list(library: Library, args: argparse.Namespace) -> int:
    albums = library.albums.listed()
    if args.json:
        print_json(albums)
        return 0
    for album in albums:
        print(f"{album['name']}\t{_describe(album)}")
    return 0


@with_library
def cmd_albums_create(library: Library, args: argparse.Namespace) -> int:
    album = library.albums.create(args.name, args.query)
    if args.json:
        print_json(album)
    print(f"Created album {album['name']!r} ({_describe(album)}).", file=sys.stderr)
    return 0


@with_library
def cmd_albums_add(library: Library, args: argparse.Namespace) -> int:
    album = library.albums.named(args.name)
    done = library.albums.add(album["id"], args.ids)
    print(
        f"Added {done['added']} photos to {done['name']!r} ({done['photos']} now).", file=sys.stderr
    )
    return 0


@with_library
def cmd_albums_remove(library: Library, args: argparse.Namespace) -> int:
    album = library.albums.named(args.name)
    done = library.albums.remove(album["id"], args.ids)
    print(
        f"Removed {done['removed']} photos from {done['name']!r} ({done['photos']} left).",
        file=sys.stderr,
    )
    return 0


@with_library
def cmd_albums_rename(library: Library, args: argparse.Namespace) -> int:
    album = library.albums.named(args.name)
    renamed = library.albums.update(album["id"], name=args.new_name)
    print(f"Renamed {album['name']!r} to {renamed['name']!r}.", file=sys.stderr)
    return 0


@with_library
def cmd_albums_delete(library: Library, args: argparse.Namespace) -> int:
    album = library.albums.named(args.name)
    library.albums.delete(album["id"])
    print(f"Deleted album {album['name']!r} (its photos stay).", file=sys.stderr)
    return 0


@with_library
def cmd_albums_show(library: Library, args: argparse.Namespace) -> int:
    """The album's photos, printed as `hachi search album:"NAME"` prints them."""
    album = library.albums.named(args.name)
    name = album["name"].replace("\\", "\\\\").replace('"', '\\"')
    result = library.search(f'album:"{name}"', limit=1_000_000)
    print_results(result, "json" if args.json else args.format, args.print0)
    return 0


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    albums = sub.add_parser("albums", help="Smart albums (saved queries) and plain albums.")
    albums_sub = albums.add_subparsers(dest="albums_command", required=True)

    def command(name: str, handler: Callable[..., int], text: str) -> Any:
        p = albums_sub.add_parser(name, help=text, description=text)
        add_common(p)
        p.set_defaults(func=handler)
        return p

    p = command("list", cmd_albums_list, "Every album: smart ones with their query.")
    p.add_argument("--json", action="store_true")
    p = command(
        "create", cmd_albums_create,
        "Create a plain album, or a smart one with --query (a search that stays live).",
    )  # fmt: skip
    p.add_argument("name")
    p.add_argument("--query", default=None, help="the saved query of a smart album")
    p.add_argument("--json", action="store_true", help="print the new album as JSON")
    for name, handler, text in (
        ("add", cmd_albums_add, "Add photos (by id) to a plain album."),
        ("remove", cmd_albums_remove, "Remove photos (by id) from a plain album."),
    ):
        p = command(name, handler, text)
        p.add_argument("name")
        p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p = command("rename", cmd_albums_rename, "Rename an album.")
    p.add_argument("name")
    p.add_argument("new_name")
    p = command("delete", cmd_albums_delete, "Delete an album (never its photos).")
    p.add_argument("name")
    p = command("show", cmd_albums_show, "The photos of an album, as `hachi search` prints them.")
    p.add_argument("name")
    add_result_format(p)
