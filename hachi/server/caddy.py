"""Starting Caddy in front of the API server, for `hachi serve --caddy` and `--lan`.

Caddy is the only process that listens beyond loopback: it serves the built UI, proxies
/api to Flask on 127.0.0.1, and terminates HTTPS with its internal CA (which it uses on
its own for localhost, IP addresses and local names such as ``*.local``), so a phone on
the home network gets HTTPS without a public domain.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hachi.errors import HachiError
from hachi.stopping import Stoppable

CADDYFILE = Path(__file__).resolve().with_name("Caddyfile")  # travels with the package
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
SIOCGIFADDR = 0x8915
CADDY_LOG = "caddy.log"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
INSTALL_HINT = "install Caddy (Debian/Ubuntu: sudo apt-get install caddy; see caddyserver.com)"


@dataclass
class Caddy(Stoppable):
    process: subprocess.Popen[bytes]
    urls: list[str]

    def request_stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # Caddy finishes its requests in flight, then exits

    def wait_stopped(self, timeout: float) -> bool:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop it, killed when it has not ended within ``timeout``: never left running."""
        if not super().stop(timeout):
            self.kill()
        return True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


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


def ca_certificate(caddy_home: Path) -> Path:
    """Where Caddy keeps the root certificate of its internal CA (``caddy_home`` is the
    folder start_caddy gives it); the file to import on phones and other devices."""
    return caddy_home / "caddy" / "pki" / "authorities" / "local" / "root.crt"


def start_caddy(
    api_port: int,
    static_dir: Path,
    ui_port: int,
    caddy_home: Path,
    lan: bool = False,
    trust_ca: bool = False,
    *,
    proxy_secret: str = "",
    thumbs_dir: Path | None = None,
    grid_keys_dir: Path | None = None,
) -> Caddy:
    """Caddy on ``ui_port`` in front of the API on ``api_port``; it keeps its certificates
    and log in ``caddy_home``.

    Without root, as the normal case: no HTTP->HTTPS redirect (that would need port 80).
    Caddy's CA goes into this machine's trust store only with ``trust_ca`` (which needs
    root); otherwise the certificate is left at ca_certificate(caddy_home) for the user.
    Caddy sends ``proxy_secret`` upstream as X-Hachi-Proxy (see security.TrustedProxy).
    With ``thumbs_dir`` and ``grid_keys_dir`` it serves logged-in browsers' thumbnails
    itself (see grid_keys).
    """
    binary = caddy_binary()
    if binary is None:
        raise HachiError(f"Caddy is not installed: {INSTALL_HINT}")
    _check_port_free(ui_port)
    hosts = ["localhost", *lan_names()] if lan else ["localhost"]
    site = ", ".join(f"https://{h}:{ui_port}" for h in hosts)
    env = {
        **os.environ,
        "HACHI_SITE": site,
        "HACHI_PORT": str(api_port),
        "HACHI_STATIC": str(static_dir),
        "HACHI_CADDY_ADMIN": "off",
        "HACHI_PROXY_SECRET": proxy_secret,
        "XDG_DATA_HOME": str(caddy_home),  # Caddy's CA and certificates
        "XDG_CONFIG_HOME": str(caddy_home),  # its autosaved config
    }
    for name, folder in (("HACHI_THUMBS", thumbs_dir), ("HACHI_GRID_KEYS", grid_keys_dir)):
        if folder is None:
            env.pop(name, None)  # the Caddyfile's default: no such folder, all to Hachi
        else:
            env[name] = str(folder)
    if trust_ca:
        env["HACHI_CADDY_TRUST"] = ""  # the Caddyfile's default is skip_install_trust
    else:
        env.pop("HACHI_CADDY_TRUST", None)
    caddy_home.mkdir(parents=True, exist_ok=True)
    log_path = caddy_home / CADDY_LOG
    with log_path.open("ab") as log:  # a file, not a pipe that nobody reads and that fills
        process = subprocess.Popen(
            [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_ends_with_this_thread(),  # see its docstring
        )
    _wait_ready(process, ui_port, log_path)
    return Caddy(process, [f"https://{h}:{ui_port}" for h in hosts])


def _ends_with_this_thread() -> Callable[[], None] | None:
    """Linux: Caddy gets SIGTERM when the thread that started it ends, even when Hachi is
    killed with SIGKILL, so it never outlives Hachi holding the port. `hachi serve` starts
    Caddy from its main thread before it starts any other thread (a fork in a threaded
    process must not run Python code that could wait on another thread's lock)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # Hachi died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as exc:
            raise HachiError(
                f"cannot serve the UI on port {port}: {exc.strerror} (another program, or "
                "another `hachi serve`, uses it; choose a free one with --ui-port)",
                {"port": port},
            ) from exc


def _wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HachiError(f"Caddy stopped at start: {_last_error(log_path)} (log: {log_path})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    Caddy(process, []).stop()
    raise HachiError(f"Caddy did not start listening on port {port} (log: {log_path})")


def _last_error(log_path: Path) -> str:
    """Caddy's last error line (its log is JSON lines; its final words are plain text)."""
    lines = log_path.read_text(errors="replace").strip().splitlines()
    for line in reversed(lines[-20:]):
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return lines[-1][-400:] if lines else "no output"
