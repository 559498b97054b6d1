"""`hachi service install|uninstall`: run `hachi serve --caddy` at login or boot as a
systemd user service, so a home server needs no terminal left open.

The unit runs this very installation's `hachi` (the one next to the running Python) on
this library (an absolute ``--home``), with the HACHI_* settings of the shell that
installed it. systemd stops it with SIGTERM, which `hachi serve` handles cleanly (Caddy
stopped, the indexer's job left to resume); a failure restarts it, a user error (exit 2,
e.g. another server already has the library) does not.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from hachi.config import Settings

UNIT_NAME = "hachi.service"
STOP_TIMEOUT_S = 60
# Passed on from the installing shell; HACHI_HOME is given as --home instead.
KEPT_ENV_PREFIX = "HACHI_"
LEFT_OUT_ENV = ("HACHI_HOME",)


def unit_path(env: Mapping[str, str] = os.environ) -> Path:
    config = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def hachi_command() -> list[str]:
    """This installation's `hachi`: the script beside this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("hachi")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "hachi.cli"]


def serve_arguments(home: Path, lan: bool, ui_port: int | None) -> list[str]:
    args = ["--home", str(home.absolute()), "serve", "--caddy"]
    if lan:
        args.append("--lan")
    if ui_port is not None:
        args += ["--ui-port", str(ui_port)]
    return args


def render_unit(command: list[str], env: Mapping[str, str]) -> str:
    kept = sorted(
        (k, v) for k, v in env.items() if k.startswith(KEPT_ENV_PREFIX) and k not in LEFT_OUT_ENV
    )
    environment = "".join(f"Environment={_quote(f'{k}={v}')}\n" for k, v in kept)
    return (
        "# Written by `hachi service install`; `hachi service uninstall` removes it.\n"
        "[Unit]\n"
        "Description=Hachi, private photo search\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(_quote(part) for part in command)}\n"
        f"{environment}"
        "# hachi serve stops Caddy and its indexer itself on SIGTERM, then exits 0\n"
        "KillSignal=SIGTERM\n"
        "KillMode=mixed\n"
        f"TimeoutStopSec={STOP_TIMEOUT_S}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "# exit 2 is a user error (e.g. another hachi serve has the library): no restart loop\n"
        "RestartPreventExitStatus=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _quote(word: str) -> str:
    """One word of a systemd command line or assignment (systemd.syntax(7) quoting)."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if escaped and not any(c in escaped for c in " \t\n\"'\\;"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cmd_install(args: argparse.Namespace, settings: Settings) -> int:
    command = hachi_command() + serve_arguments(settings.home, args.lan, args.ui_port)
    unit = render_unit(command, os.environ)
    if args.print:
        sys.stdout.write(unit)
        return 0
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit, encoding="utf-8")
    user = os.environ.get("USER") or "$USER"
    print(f"Wrote {path}.")
    print("Start it now and at every login:")
    print("  systemctl --user daemon-reload")
    print("  systemctl --user enable --now hachi")
    print("Keep it running when you are logged out, and start it at boot:")
    print(f"  loginctl enable-linger {user}")
    print("Its login link is in its log (journalctl --user -u hachi); or set a password with")
    print(f"  hachi --home {settings.home.absolute()} passwd")
    return 0


def cmd_uninstall(args: argparse.Namespace, settings: Settings) -> int:
    path = unit_path()
    wanted = path.parent / "default.target.wants" / UNIT_NAME
    if not path.exists() and not wanted.is_symlink():
        print(f"No Hachi service is installed ({path} does not exist).")
        return 0
    wanted.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    print(f"Removed {path}. Stop the running service and forget it with:")
    print("  systemctl --user stop hachi")
    print("  systemctl --user daemon-reload")
    return 0


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    service = sub.add_parser("service", help="Run hachi serve at login or boot (systemd user).")
    service_sub = service.add_subparsers(dest="service_command", required=True)
    text = "Write a systemd user unit that runs `hachi serve --caddy` on this library."
    p = service_sub.add_parser("install", help=text, description=text)
    add_common(p)
    p.set_defaults(func=cmd_install)
    p.add_argument("--print", action="store_true", help="print the unit instead of writing it")
    p.add_argument("--lan", action="store_true", help="serve on the LAN too (hachi serve --lan)")
    p.add_argument("--ui-port", type=int, default=None, help="Caddy's HTTPS port (8443)")
    text = "Remove the unit that `hachi service install` wrote."
    p = service_sub.add_parser("uninstall", help=text, description=text)
    add_common(p)
    p.set_defaults(func=cmd_uninstall)
