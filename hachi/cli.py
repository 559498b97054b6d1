"""The `hachi` command. Thin: parse arguments, call Library, print, map errors to exit codes.

Exit codes: 0 success, 1 something fatal, 2 a user error (bad query, bad folder, ...).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hachi.config import Settings
from hachi.errors import BadRequest, HachiError, NotFound
from hachi.library import Library

Handler = Callable[[argparse.Namespace, Settings], int]


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="data directory (default: $HACHI_HOME, else the platform's data dir)",
    )


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=None)
    sys.stdout.write("\n")


# -- index ------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.cli_progress import run_jobs_in_foreground

    library = Library(settings)
    try:
        job_ids = [
            library.add_folder(str(Path(p).expanduser().absolute()))[1].id for p in args.paths
        ]
        results = run_jobs_in_foreground(library, set(job_ids), quiet=args.quiet)
    finally:
        library.close()
    return 0 if all(r.state == "done" for r in results) else 1


# -- search -----------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    library = Library(settings)
    try:
        limit = args.limit if args.limit is not None else 1_000_000
        result = library.search(" ".join(args.query), limit=limit)
    finally:
        library.close()
    if args.json:
        _print_json(result)
        return 0
    for notice in result["notices"]:
        print(f"note: {notice}", file=sys.stderr)
    for hit in result["results"]:
        when = (hit["taken_at"] or "")[:16].replace("T", " ")
        extras = " · ".join(x for x in (when, hit["camera"], hit["place"]) if x)
        print(f"{hit['path']}\t{extras}")
    print(f"{result['total']} photos, {result['took_ms']:.1f} ms", file=sys.stderr)
    return 0


# -- status, folders --------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    library = Library(settings)
    try:
        status = library.status()
        status["folders_list"] = [f.to_dict() for f in library.list_folders()]
    finally:
        library.close()
    if args.json:
        _print_json(status)
        return 0
    print(f"Library: {status['home']}")
    print(f"  {status['photos']} photos in {status['folders']} folders, {status['failed']} failed")
    job = status["job"]
    if job:
        print(
            f"  last job #{job['id']}: {job['state']}, {job['done']} indexed, "
            f"{job['unchanged']} unchanged, {job['failed']} failed of {job['found']} found"
        )
    print(f"  {_watch_line(status['watch'])}")
    for notice in status["notices"]:
        print(f"  note: {notice}")
    return 0


def _watch_line(watch: dict[str, Any]) -> str:
    if not watch["enabled"]:
        return "folder watching is off (HACHI_WATCH=false)"
    if not watch["running"]:
        return "folders are watched while `hachi serve` runs"
    modes = [f["mode"] for f in watch["folders"]]
    labels = {"events": "watched", "polling": "polled", "unwatched": "neither"}
    counts = [f"{modes.count(mode)} {label}" for mode, label in labels.items() if mode in modes]
    return f"folders kept current: {', '.join(counts) or 'none yet'}"


def cmd_folders(args: argparse.Namespace, settings: Settings) -> int:
    library = Library(settings)
    try:
        if args.remove is not None:
            library.remove_folder(args.remove)
        folders = library.list_folders()
    finally:
        library.close()
    if args.json:
        _print_json([f.to_dict() for f in folders])
        return 0
    for f in folders:
        print(
            f"{f.id}\t{f.path}\t{f.photos} photos, {f.failed} failed, "
            f"scanned {f.last_scan_at or 'never'}"
        )
    return 0


# -- credentials ------------------------------------------------------------------------


def cmd_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.catalog import auth
    from hachi.catalog.db import connect

    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise BadRequest("the two passwords differ")
    if len(password) < 8:
        raise BadRequest("the password must have at least 8 characters")
    settings.ensure_dirs()
    conn = connect(settings.catalog_path)
    try:
        auth.set_password(conn, password)
        auth.rotate_session_secret(conn)  # log out every existing session
    finally:
        conn.close()
    print("Password set. Existing sessions were logged out.", file=sys.stderr)
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.catalog import auth
    from hachi.catalog.db import connect

    settings.ensure_dirs()
    conn = connect(settings.catalog_path)
    try:
        if args.list:
            for t in auth.list_tokens(conn):
                print(f"{t.id}\t{t.name}\tcreated {t.created_at}")
            return 0
        if args.revoke is not None:
            if not auth.revoke_token(conn, args.revoke):
                raise NotFound(f"no token with id {args.revoke}")
            print(f"Token {args.revoke} revoked.", file=sys.stderr)
            return 0
        token = auth.create_token(conn, args.name)
    finally:
        conn.close()
    print(token)
    print(
        "Use it as: curl -H 'Authorization: Bearer <token>' ... (shown only once)", file=sys.stderr
    )
    return 0


# -- serve ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.cli_serve import serve_command

    return serve_command(args, settings)


# -- wiring -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hachi", description="Search your own photos.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_common(p)
        p.set_defaults(func=handler)
        return p

    p = command("index", cmd_index, "Add folders and index them to completion.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = command("search", cmd_search, "Search the library.")
    p.add_argument("query", nargs="*", default=[])
    p.add_argument("--limit", type=int, default=None, help="at most N results (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = command("status", cmd_status, "Library size, folders, job state.")
    p.add_argument("--json", action="store_true")
    p = command("folders", cmd_folders, "List indexed folders.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--remove", type=int, metavar="ID", help="forget a folder (files are kept)")
    p = command("passwd", cmd_passwd, "Set the password of the web UI and API.")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p = command("token", cmd_token, "Create an API token for scripts.")
    p.add_argument("--name", default="script", help="a label to recognise it by")
    p.add_argument("--list", action="store_true", help="list tokens")
    p.add_argument("--revoke", type=int, metavar="ID", help="revoke a token")
    p = command("serve", cmd_serve, "Run the web server and background indexer.")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--index", action="append", metavar="PATH", help="add and index a folder")
    p.add_argument("--caddy", action="store_true", help="put Caddy (HTTPS) in front, on localhost")
    p.add_argument("--lan", action="store_true", help="serve HTTPS on the LAN through Caddy")
    p.add_argument("--ui-port", type=int, default=8443, help="Caddy's HTTPS port (8443)")
    _register_optional(sub)
    return parser


def _register_optional(sub: Any) -> None:
    from hachi import cli_models, cli_people

    cli_models.register(sub, add_common)
    cli_people.register(sub, add_common)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(home=args.home, port=getattr(args, "port", None))
        code = int(args.func(args, settings))
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return code
    except HachiError as exc:
        print(f"hachi: {exc.message}", file=sys.stderr)
        hint = exc.detail.get("install") if isinstance(exc.detail, dict) else None
        if hint:
            print(f"hachi: to fix it, run: {hint}", file=sys.stderr)
        return 2 if 400 <= exc.status < 500 else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `hachi search ... | head`: the reader left; say nothing more, and keep Python's
        # final flush of stdout from raising again at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
