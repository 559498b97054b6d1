"""`hachi serve`: the API server, the background indexer, and Caddy when asked for.

Prints where to go and a one-time login link, as Jupyter does, so the first visit needs
no password; `hachi passwd` sets one for later visits and for other devices.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
from pathlib import Path

from hachi.config import Settings
from hachi.library import Library


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.server.app import create_app
    from hachi.server.auth import mint_login_link
    from hachi.server.caddy import INSTALL_HINT, caddy_binary, lan_names, start_caddy
    from hachi.server.routes_ui import default_static_dir
    from hachi.server.serve import serve

    use_caddy = args.caddy or args.lan
    if args.lan:
        extra = tuple(lan_names())
        settings = dataclasses.replace(settings, allowed_hosts=settings.allowed_hosts + extra)
    if use_caddy:  # the Caddy we start proves itself with this; see security.TrustedProxy
        settings = dataclasses.replace(settings, proxy_secret=secrets.token_urlsafe(32))
    library = Library(settings)
    caddy = None
    try:
        for folder in args.index or []:
            added, _job = library.add_folder(str(Path(folder).expanduser().absolute()))
            print(f"Indexing {added.path} in the background", flush=True)
        library.start_background()
        _start_downloads(library)
        app = create_app(settings, library)
        urls = [f"http://{_host(settings.host)}:{settings.port}"]
        if use_caddy and caddy_binary() is None:
            print(
                f"note: Caddy is not installed, so Hachi serves directly; {INSTALL_HINT}",
                file=sys.stderr,
            )
        elif use_caddy:
            caddy = start_caddy(
                settings.port,
                default_static_dir(),
                args.ui_port,
                args.lan,
                proxy_secret=settings.proxy_secret,
            )
            urls = caddy.urls
        link = mint_login_link(app)
        print(f"Hachi is serving {library.status()['photos']} photos at {urls[0]}", flush=True)
        for other in urls[1:]:
            print(f"  also on the LAN at {other}", flush=True)
        print(f"Log in with this one-time link: {urls[0]}{link}", flush=True)
        print("(set a password for later visits and other devices: hachi passwd)", flush=True)
        serve(settings, app)
    finally:
        if caddy is not None:
            caddy.stop()
        library.close()
    return 0


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
