"""`hachi people ...` and `hachi faces`: naming and correcting who is who from a terminal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from hachi.cli.library_command import with_library
from hachi.cli.output import print_json
from hachi.library import Library


@with_library
def cmd_people_list(library: Library, args: argparse.Namespace) -> int:
    people = library.people.listed(include_hidden=args.all, min_faces=1 if args.all else 2)
    if args.json:
        print_json(people)
        return 0
    for p in people:
        hidden = " (hidden)" if p["hidden"] else ""
        print(
            f"{p['id']}\t{p['name'] or '(unnamed)'}{hidden}\t"
            f"{p['faces']} faces in {p['photos']} photos"
        )
    return 0


@with_library
def cmd_people_name(library: Library, args: argparse.Namespace) -> int:
    person = library.people.rename(args.id, " ".join(args.name))
    print(f"Person {person['id']} is now {person['name']!r}.", file=sys.stderr)
    return 0


@with_library
def cmd_people_merge(library: Library, args: argparse.Namespace) -> int:
    person = library.people.merge(args.id, args.into_id)
    print(f"Merged {args.id} into {person['id']} ({person['name'] or 'unnamed'}).", file=sys.stderr)
    return 0


@with_library
def cmd_people_hide(library: Library, args: argparse.Namespace) -> int:
    library.people.hide(args.id, not args.show)
    return 0


@with_library
def cmd_people_recluster(library: Library, args: argparse.Namespace) -> int:
    changed = library.people.update(full=True)
    print(f"Re-clustered: {changed} faces changed person.", file=sys.stderr)
    return 0


@with_library
def cmd_faces(library: Library, args: argparse.Namespace) -> int:
    faces = library.people.faces(person_id=args.person)
    rows = [
        {k: f[k] for k in ("id", "photo_id", "path", "box", "score", "person_id", "person_name")}
        for f in faces
    ]
    if args.json:
        print_json(rows)
        return 0
    for f in rows:
        print(f"{f['id']}\t{f['path']}\t{f['box']}\t{f['person_name'] or f['person_id'] or '-'}")
    return 0


@with_library
def cmd_face_not(library: Library, args: argparse.Namespace) -> int:
    library.people.reject_face(args.face_id)
    return 0


@with_library
def cmd_face_is(library: Library, args: argparse.Namespace) -> int:
    target = " ".join(args.person)
    if target.isdigit():
        library.people.assign_face(args.face_id, person_id=int(target))
    else:
        library.people.assign_face(args.face_id, name=target)
    return 0


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    people = sub.add_parser("people", help="List, name, merge and hide people.")
    people_sub = people.add_subparsers(dest="people_command", required=True)

    def command(parent: Any, name: str, handler: Callable[..., int], text: str) -> Any:
        p = parent.add_parser(name, help=text, description=text)
        add_common(p)
        p.set_defaults(func=handler)
        return p

    p = command(people_sub, "list", cmd_people_list, "People with two or more faces, or named.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include hidden people and single faces")
    p = command(people_sub, "name", cmd_people_name, "Name (or rename) a person.")
    p.add_argument("id", type=int)
    p.add_argument("name", nargs="+")
    p = command(people_sub, "merge", cmd_people_merge, "Merge person ID into INTO_ID.")
    p.add_argument("id", type=int)
    p.add_argument("into_id", type=int)
    p = command(people_sub, "hide", cmd_people_hide, "Hide a person from the people list.")
    p.add_argument("id", type=int)
    p.add_argument("--show", action="store_true", help="show a hidden person again")
    command(
        people_sub,
        "recluster",
        cmd_people_recluster,
        "Re-cluster every face the user has not placed (names and decisions are kept).",
    )

    p = sub.add_parser("faces", help="Every face with its box and person.")
    add_common(p)
    p.set_defaults(func=cmd_faces)
    p.add_argument("--json", action="store_true")
    p.add_argument("--person", type=int, default=None, help="only this person's faces")
    face = sub.add_parser("face", help="Correct one face: `not` this person, or `is` someone.")
    face_sub = face.add_subparsers(dest="face_command", required=True)
    p = command(face_sub, "not", cmd_face_not, "This face is not its current person.")
    p.add_argument("face_id", type=int)
    p = command(face_sub, "is", cmd_face_is, "This face is PERSON (an id or a name).")
    p.add_argument("face_id", type=int)
    p.add_argument("person", nargs="+")
