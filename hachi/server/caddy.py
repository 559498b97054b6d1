"""Starting Caddy in front of the API server, for `hachi serve --caddy` and `--lan`.

Caddy is the only process that listens beyond loopback: it serves the built UI, proxies
/api to Flask on 127.0.0.1, and terminates HTTPS with its internal CA (which it uses on
its own for localhost, IP addresses and local names such as ``*.local``), so a phone on
the home network gets HTTPS without a public domain.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hachi.errors import HachiError

CADDYFILE = Path(__file__).resolve().parents[2] / "Caddyfile"
READY_TIMEOUT_S = 20.0
SIOCGIFADDR = 0x8915
INSTALL_HINT = "install Caddy (Debian/Ubuntu: sudo apt-get install caddy; see caddyserver.com)"


@dataclass
class Caddy:
    process: subprocess.Popen[bytes]
    urls: list[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def caddy_binary() -> str | None:
    return shutil.which("caddy")


def lan_names() -> list[str]:
    """This machine's LAN name (host.local) and IPv4 addresses, loopback excluded."""
    host = socket.gethostname()
    names = [f"{host}.local"] if host and "." not in host else ([host] if host else [])
    addresses = set(_interface_addresses())
    try:
        addresses.update(socket.gethostbyname_ex(host)[2])
    except OSError:
        pass
    return names + sorted(a for a in addresses if not a.startswith("127."))


def _interface_addresses() -> list[str]:
    """IPv4 address of each network interface (Linux ioctl; elsewhere nothing)."""
    import fcntl
    import struct

    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(
                    probe.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode())
                )
            except OSError:
                continue
            found.append(socket.inet_ntoa(packed[20:24]))
    return found


def start_caddy(
    api_port: int, static_dir: Path, ui_port: int, lan: bool = False, *, proxy_secret: str = ""
) -> Caddy:
    """Caddy in front of the API; it sends ``proxy_secret`` upstream as X-Hachi-Proxy."""
    binary = caddy_binary()
    if binary is None:
        raise HachiError(f"Caddy is not installed: {INSTALL_HINT}")
    hosts = ["localhost", *lan_names()] if lan else ["localhost"]
    site = ", ".join(f"https://{h}:{ui_port}" for h in hosts)
    env = {
        **os.environ,
        "HACHI_SITE": site,
        "HACHI_PORT": str(api_port),
        "HACHI_STATIC": str(static_dir),
        "HACHI_CADDY_ADMIN": "off",
        "HACHI_PROXY_SECRET": proxy_secret,
    }
    process = subprocess.Popen(
        [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_ready(process, ui_port)
    return Caddy(process, [f"https://{h}:{ui_port}" for h in hosts])


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise HachiError(f"Caddy stopped at start: {err.strip()[-400:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise HachiError(f"Caddy did not start listening on port {port}")
