"""A local model mirror for tests: a real HTTP server on 127.0.0.1 serving model files.

The server honours Range requests and can misbehave on purpose: drop the connection
halfway (once or always), ignore Range, or pause mid-transfer until the test lets it go.
Manifest URLs name a host that does not exist; HACHI_MODEL_MIRROR points them at this
server, which is how a real mirror is used too. ``write_manifest`` turns a model folder
(e.g. models/test/shapes-clip) into a manifest entry whose files this mirror serves.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hachi.ml.download import mirrored_url
from hachi.ml.manifest import RESERVED_CONFIG_KEYS

ORIGIN = "https://models.example.invalid"


@dataclass
class Behaviour:
    """How the server treats requests; tests flip these between pulls."""

    drop_once: set[str] = field(default_factory=set)
    drop_always: set[str] = field(default_factory=set)
    ignore_range: bool = False
    pause: threading.Event | None = None
    halfway: threading.Event = field(default_factory=threading.Event)


class FileServer:
    """Serves ``files`` (URL path -> bytes) and records (path, Range header) per request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.behaviour = Behaviour()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def publish(self, url: str, content: bytes) -> None:
        """Make ``url`` (an ORIGIN URL) downloadable through the mirror."""
        self.files[mirrored_url(url).removeprefix(self.base)] = content

    def ranges_for(self, url: str) -> list[str | None]:
        path = mirrored_url(url).removeprefix(self.base)
        return [rng for p, rng in self.requests if p == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append((self.path, self.headers.get("Range")))
                server.serve(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        return Handler

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        content = self.files.get(handler.path)
        if content is None:
            handler.send_error(404, "Not Found")
            return
        start = self._range_start(handler, len(content))
        body = content[start:]
        handler.send_response(206 if start else 200)
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        self._send_body(handler, body)

    def _range_start(self, handler: BaseHTTPRequestHandler, length: int) -> int:
        match = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range") or "")
        if self.behaviour.ignore_range or not match:
            return 0
        return min(int(match.group(1)), length)

    def _send_body(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        b = self.behaviour
        half = len(body) // 2
        handler.wfile.write(body[:half])
        handler.wfile.flush()
        b.halfway.set()
        if b.pause is not None:
            b.pause.wait(timeout=20)
        if handler.path in b.drop_always or handler.path in b.drop_once:
            b.drop_once.discard(handler.path)
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(body[half:])


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def write_manifest(
    path: Path,
    server: FileServer,
    model_dir: Path,
    name: str,
    corrupt: set[str] | None = None,
    extra: str = "",
) -> Path:
    """A manifest at ``path`` with one entry, ``name``, holding the files of ``model_dir``,
    each published on ``server``; files named in ``corrupt`` are served with one byte
    changed (so their checksum is wrong). ``extra`` is appended TOML (more entries)."""
    meta = json.loads((model_dir / "model.json").read_text())
    lines = ["schema = 1", "", f'[models."{name}"]', f'task = "{meta["task"]}"']
    lines += ['licence = "MIT"', 'description = "a test model"', ""]
    for rel in meta["files"]:
        content = (model_dir / rel).read_bytes()
        url = f"{ORIGIN}/{name}/{rel}"
        lines += [f'[[models."{name}".files]]', f'name = "{rel}"', f'url = "{url}"']
        lines += [f'sha256 = "{hashlib.sha256(content).hexdigest()}"', f"size = {len(content)}"]
        lines.append("")
        if rel in (corrupt or set()):
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        server.publish(url, content)
    config = {k: v for k, v in meta.items() if k not in RESERVED_CONFIG_KEYS}
    lines.append(f'[models."{name}".config]')
    lines += [f"{key} = {_toml_value(value)}" for key, value in config.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
