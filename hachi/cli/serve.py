"""`hachi serve`: the API server, the background indexer, and Caddy when asked for.

Prints where to go and a one-time login link, as Jupyter does, so the first visit needs
no password; `hachi passwd` sets one for later visits and for other devices.

Everything that can be refused (a second server on the library, a non-loopback
HACHI_HOST, a busy port, Caddy failing) is checked before anything is announced.
SIGTERM and SIGINT (systemd, docker, kill, Ctrl-C) stop it cleanly with exit 0: the
server finishes its requests, Caddy is stopped, and the indexer leaves its job between
batches, queued to resume on the next start. All of them are asked at once and waited for
until one deadline (hachi.stopping.STOP_DEADLINE_S); the log says what each took, and a
part past the deadline is named and left behind (the process exits anyway, still 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hachi.config import Settings
from hachi.library import Library
from hachi.stopping import Part, StopReport, stop_together

if TYPE_CHECKING:
    from hachi.server.caddy import Caddy
    from hachi.server.lifecycle import StopSignals
    from hachi.server.serve import Server


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.server.caddy import lan_names
    from hachi.server.lifecycle import LibraryLock, StopSignals

    if args.lan:
        extra = tuple(lan_names())
        settings = dataclasses.replace(settings, allowed_hosts=settings.allowed_hosts + extra)
    if args.caddy or args.lan:  # the Caddy we start proves itself with this: security.TrustedProxy
        settings = dataclasses.replace(settings, proxy_secret=secrets.token_urlsafe(32))
    settings.ensure_dirs()
    _log_the_stop()
    with StopSignals() as stop_signals, LibraryLock(settings.home):
        report = _serve_library(args, settings, stop_signals)
    if report is not None and not report.clean:
        # a part still busy past the deadline (its thread, or a worker pool's, would hold
        # the interpreter's exit): leave now, as a crash would, which the catalog survives
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _log_the_stop() -> None:
    """The stop's timings (INFO) and overruns (WARNING) on stderr, whatever else logs."""
    logger = logging.getLogger("hachi.stopping")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("hachi: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _serve_library(
    args: argparse.Namespace, settings: Settings, stop_signals: StopSignals
) -> StopReport | None:
    from hachi.server.app import create_app
    from hachi.server.auth import mint_login_link
    from hachi.server.caddy import INSTALL_HINT, caddy_binary, start_caddy
    from hachi.server.login_links import remember_server_url
    from hachi.server.routes.ui import default_static_dir
    from hachi.server.serve import make_server, serve

    library = Library(settings)
    server: Server | None = None
    caddy: Caddy | None = None
    report: StopReport | None = None
    try:
        app = create_app(settings, library)
        server = make_server(app, settings.host, settings.port)
        urls = [f"http://{_host(settings.host)}:{server.effective_port}"]
        if (args.caddy or args.lan) and caddy_binary() is None:
            print(
                f"note: Caddy is not installed, so Hachi serves directly; {INSTALL_HINT}",
                file=sys.stderr,
            )
        elif args.caddy or args.lan:
            caddy = start_caddy(
                server.effective_port,
                default_static_dir(),
                args.ui_port,
                settings.home,
                lan=args.lan,
                trust_ca=args.trust_ca,
                proxy_secret=settings.proxy_secret,
                thumbs_dir=settings.thumbs_dir,
                grid_keys_dir=settings.grid_keys_dir,
            )
            urls = caddy.urls
        for folder in args.index or []:
            added, _job = library.add_folder(str(Path(folder).expanduser().absolute()))
            print(f"Indexing {added.path} in the background", flush=True)
        library.start_background()
        _start_downloads(library)
        link = mint_login_link(app)
        remember_server_url(settings.home, urls[0])
        print(f"Hachi is serving {library.status()['photos']} photos at {urls[0]}", flush=True)
        for other in urls[1:]:
            print(f"  also on the LAN at {other}", flush=True)
        print(f"Log in with this one-time link: {urls[0]}{link}", flush=True)
        print(
            "(set a password for later visits and other devices: hachi passwd, or in the "
            "browser after this link; a new link at any time: hachi login-link)",
            flush=True,
        )
        if caddy is not None:
            print(_certificate_notice(settings.home, args.trust_ca), flush=True)
        report = serve(server, stop_signals, also_stop=lambda: _parts(None, caddy, library))
    finally:
        remember_server_url(settings.home, None)
        if report is None:  # an error before or while serving: stop what had started
            stop_together(_parts(server, caddy, library))
        if caddy is not None:
            caddy.kill()  # past the deadline, or stopped already: never left running
        library.close(stopped=True)
    return report


def _parts(server: Server | None, caddy: Caddy | None, library: Library) -> list[Part]:
    parts = [Part.of("web server", server)] if server is not None else []
    if caddy is not None:
        parts.append(Part.of("caddy", caddy))
    return parts + library.stop_parts()


def _certificate_notice(home: Path, trusted: bool) -> str:
    from hachi.server.caddy import ca_certificate

    if trusted:
        return (
            "Caddy was let add its certificate authority to this machine's trust store (that "
            f"needs root; {home / 'caddy.log'} says if it failed); import "
            f"{ca_certificate(home)} on phones and other devices."
        )
    return (
        "HTTPS uses Caddy's own certificate authority, so browsers warn until they trust "
        f"it: import {ca_certificate(home)} on phones and other devices. This machine's "
        "trust store was left alone (to add it there, as root: hachi serve --caddy --trust-ca)."
    )


def _start_downloads(library: Library) -> None:
    """Fetch the models the library lacks in the background (HACHI_AUTO_MODELS=false: not)."""
    wanted = library.model_service.wanted_downloads()
    if not wanted:
        return
    if not library.settings.auto_models:
        for name in wanted:
            print(f"note: model {name} is missing; install it with: hachi models pull {name}")
        return
    for name in wanted:
        print(f"Downloading model {name} in the background", flush=True)
    library.model_service.start_downloads()


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
