"""The `hachi` command. Thin: parse arguments, call Library, print, map errors to exit codes.

Exit codes: 0 success, 1 something fatal, 2 a user error (bad query, bad folder, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hachi.cli.output import print_json
from hachi.cli.results import add_result_format, print_results
from hachi.config import Settings
from hachi.errors import HachiError
from hachi.library import Library
from hachi.ml.sessions import limit_heap_arenas

Handler = Callable[[argparse.Namespace, Settings], int]


HOME_HELP = "data directory (default: $HACHI_HOME, else the platform's data dir)"


class HachiParser(argparse.ArgumentParser):
    """argparse, except that where ``dash_words`` is set a ``-word`` is an argument.

    A query may start with a negated filter (``hachi search -camera:canon dog``), which
    plain argparse takes for an unknown option. The parser of `search` sets ``dash_words``:
    a single-dash word that is not one of its own options (``-h``) is then a query word;
    ``--limit`` and ``--json`` stay options.
    """

    dash_words = False

    def _parse_optional(self, arg_string: str) -> Any:
        if (
            self.dash_words
            and arg_string.startswith("-")
            and not arg_string.startswith("--")
            and arg_string not in self._option_string_actions
        ):
            return None
        return super()._parse_optional(arg_string)


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--home`` on a (sub-)command. SUPPRESS keeps a sub-command that was not given one
    from overwriting what an earlier level set: ``hachi --home D people name 3 Ada``."""
    if "--home" not in parser._option_string_actions:
        parser.add_argument("--home", type=Path, default=argparse.SUPPRESS, help=HOME_HELP)


def _add_home_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--home`` before or after every command and sub-command, at any depth."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue  # an option's choices are values, not commands
        for child in action.choices.values():
            if isinstance(child, argparse.ArgumentParser):
                add_common(child)
                _add_home_everywhere(child)


# -- index ------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.cli.progress import run_jobs_in_foreground

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
    print_results(result, "json" if args.json else args.format, args.print0)
    return 0


# -- status, folders --------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    library = Library(settings)
    try:
        status = library.status()
        status["folders_list"] = library.folder_dicts()
    finally:
        library.close()
    if args.json:
        print_json(status)
        return 0
    print(f"Library: {status['home']}")
    print(f"  {status['photos']} photos in {status['folders']} folders, {status['failed']} failed")
    job = status["job"]
    if job:
        which = "job" if job["passes"] else "last job"
        print(
            f"  {which} #{job['id']}: {job['state']}, {job['done']} indexed, "
            f"{job['unchanged']} unchanged, {job['failed']} failed of {job['found']} found"
        )
        for line in _describe_passes(job):
            print(f"    {line}")
    print(f"  CLIP model: {_describe_clip(status['models']['clip'])}")
    if status["models"]["clip"].get("image_tower"):
        print(f"  image tower: {status['models']['clip']['image_tower']['description']}")
    print(f"  {_watch_line(status['watch'])}")
    for notice in status["notices"]:
        print(f"  note: {notice}")
    return 0


PHASE_NAMES = {
    "scan": "reading files",
    "clip": "semantic search",
    "faces": "faces",
    "ocr": "text in photos",
}


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _describe_passes(job: dict[str, Any]) -> list[str]:
    """Each phase of a running job with its rate and ETA, then the whole job's ETA."""
    lines = []
    for phase in job.get("passes") or []:
        name = PHASE_NAMES.get(phase["task"], phase["task"])
        unit = "files" if phase["task"] == "scan" else "photos"
        rate = f"{phase['rate']:.2f} {unit}/s" if phase["rate"] else "not timed yet"
        if phase["state"] == "done":
            lines.append(f"{name}: done" + (f" ({rate})" if phase["rate"] else ""))
            continue
        left = "" if phase["eta_s"] is None else f", about {_duration(phase['eta_s'])} left"
        counts = f"{phase['done']} of {phase['total']}"
        waiting = "waiting, " if phase["state"] == "pending" else ""
        lines.append(f"{name}: {waiting}{counts} {unit}, {rate}{left}")
    if job.get("passes"):
        if job["eta_s"] is None:
            lines.append("whole library: time left not known yet")
        else:
            bound = "at least " if job["eta_partial"] else "about "
            lines.append(f"whole library: {bound}{_duration(job['eta_s'])} left")
    return lines


def _describe_clip(clip: dict[str, Any]) -> str:
    """One line: the model, who chose it, and whether it is there or on its way."""
    chosen = {
        "environment": f"set by HACHI_CLIP_MODEL, overriding the library's "
        f"{clip['library_choice'] or 'default'}",
        "library": "the library's choice",
        "default": "Hachi's default",
    }[clip["source"]]
    download = clip["download"]
    if clip["installed"]:
        state = "installed"
    elif download and download["state"] == "downloading":
        done, total = download["done_bytes"] / 2**20, download["total_bytes"] / 2**20
        state = f"downloading, {done:.0f} of {total:.0f} MiB"
    elif download and download["state"] == "failed":
        state = f"download failed; retry with: {download['command']}"
    else:
        state = f"not installed; install it with: hachi models pull {clip['name']}"
    return f"{clip['name']} ({chosen}; {state})"


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
        print_json([f.to_dict() for f in folders])
        return 0
    for f in folders:
        print(
            f"{f.id}\t{f.path}\t{f.photos} photos, {f.failed} failed, "
            f"scanned {f.last_scan_at or 'never'}"
        )
    return 0


# -- serve ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.cli.serve import serve_command

    return serve_command(args, settings)


# -- wiring -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = HachiParser(prog="hachi", description="Search your own photos.")
    parser.add_argument("--home", type=Path, default=None, help=HOME_HELP)
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
    p.dash_words = True  # type: ignore[attr-defined]
    p.add_argument("query", nargs="*", default=[])
    p.add_argument("--limit", type=int, default=None, help="at most N results (default: all)")
    add_result_format(p)
    p = command("status", cmd_status, "Library size, folders, job state.")
    p.add_argument("--json", action="store_true")
    p = command("folders", cmd_folders, "List indexed folders.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--remove", type=int, metavar="ID", help="forget a folder (files are kept)")
    p = command("serve", cmd_serve, "Run the web server and background indexer.")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--index", action="append", metavar="PATH", help="add and index a folder")
    p.add_argument("--caddy", action="store_true", help="put Caddy (HTTPS) in front, on localhost")
    p.add_argument("--lan", action="store_true", help="serve HTTPS on the LAN through Caddy")
    p.add_argument("--ui-port", type=int, default=8443, help="Caddy's HTTPS port (8443)")
    p.add_argument(
        "--trust-ca",
        action="store_true",
        help="let Caddy add its certificate authority to this machine's trust store (root)",
    )
    _register_optional(sub)
    _add_home_everywhere(parser)
    return parser


def _register_optional(sub: Any) -> None:
    from hachi.cli import albums as cli_albums
    from hachi.cli import auth as cli_auth
    from hachi.cli import duplicates as cli_duplicates
    from hachi.cli import models as cli_models
    from hachi.cli import people as cli_people
    from hachi.cli import service as cli_service

    cli_albums.register(sub, add_common)
    cli_auth.register(sub, add_common)
    cli_duplicates.register(sub, add_common)
    cli_models.register(sub, add_common)
    cli_people.register(sub, add_common)
    cli_service.register(sub, add_common)


def main(argv: list[str] | None = None) -> int:
    limit_heap_arenas()  # before any thread: see hachi.ml.sessions
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "search" and not any(w.startswith("--") for w in extra):
        args.query += extra  # words after an option: `hachi search dog --limit 5 -year:2020`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
