"""Oversized and malformed requests against the real waitress server, over raw sockets.

Every refusal is Hachi's JSON error, and a body over its path's limit is refused from
the headers (Content-Length) or as soon as it grows past the limit (chunked): these tests
announce huge bodies and send only a little, which is all the server may wait for.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hachi.server.caddy import CADDYFILE
from hachi.server.security import MAX_CONTENT_LENGTH, MAX_UPLOAD_LENGTH, body_limit
from hachi.server.serve import make_server
from tests.server_fixtures import create_token, make_settings, running_app

MIB = 1024 * 1024
CHUNK = 64 * 1024
TIMEOUT_S = 10


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """(port, bearer token) of a real server."""
    settings = make_settings(tmp_path_factory.mktemp("intake") / "home")
    settings.ensure_dirs()
    token = create_token(settings)
    with running_app(settings) as (app, _library):
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            yield server.effective_port, token
        finally:
            server.stop()
            thread.join(5)


def head(method: str, path: str, token: str, *lines: str) -> bytes:
    fields = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    return ("\r\n".join([*fields, *lines]) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    header_block, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        body += _recv(sock)
    return Answer(int(status_line.split()[1]), headers, body)


def _recv(sock: socket.socket) -> bytes:
    part = sock.recv(CHUNK)
    if not part:
        raise AssertionError("the server closed the connection without an answer")
    return part


def send_sized(port: int, request: bytes, body_sent: int) -> Answer:
    """Send the head and ``body_sent`` bytes of the announced body, then read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request + b"x" * body_sent)
        return read_answer(sock)


def send_unfinished_chunks(port: int, request: bytes, total: int) -> Answer:
    """Send ``total`` bytes of chunks and never the last, empty chunk, then read the answer:
    a server that waited for the end of the body would never answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request)
        for _ in range(total // CHUNK):
            sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK))
        return read_answer(sock)


def assert_json_413(answer: Answer, limit: int) -> None:
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "request_entity_too_large"
    assert answer.json()["error"]["detail"] == {"limit": limit}


def test_a_129_mib_upload_is_refused_from_its_headers(live: tuple[int, str]) -> None:
    port, token = live
    request = head(
        "POST",
        "/api/search/image",
        token,
        "Content-Type: application/octet-stream",
        f"Content-Length: {129 * MIB}",
    )
    assert_json_413(send_sized(port, request, 1024), MAX_UPLOAD_LENGTH)


def test_a_json_body_over_its_smaller_limit_is_refused_from_its_headers(
    live: tuple[int, str],
) -> None:
    port, token = live
    request = head(
        "POST",
        "/api/folders",
        token,
        "Content-Type: application/json",
        f"Content-Length: {MAX_CONTENT_LENGTH + 1}",
    )
    assert_json_413(send_sized(port, request, 1024), MAX_CONTENT_LENGTH)


def test_a_chunked_body_is_refused_once_it_passes_the_limit(live: tuple[int, str]) -> None:
    port, token = live
    request = head(
        "POST", "/api/login", token, "Content-Type: application/json", "Transfer-Encoding: chunked"
    )
    answer = send_unfinished_chunks(port, request, MAX_CONTENT_LENGTH + 2 * CHUNK)
    assert_json_413(answer, MAX_CONTENT_LENGTH)


def test_a_body_of_exactly_the_limit_reaches_the_app(live: tuple[int, str]) -> None:
    port, token = live
    request = head(
        "POST",
        "/api/folders",
        token,
        "Content-Type: application/json",
        f"Content-Length: {MAX_CONTENT_LENGTH}",
    )
    answer = send_sized(port, request, MAX_CONTENT_LENGTH)
    assert answer.status == 400  # not JSON, said by the app: the size was fine
    assert answer.json()["error"]["message"] == "the request body is not valid JSON"


def test_a_malformed_request_is_a_json_400(live: tuple[int, str]) -> None:
    port, token = live
    request = head(
        "POST", "/api/login", token, "Content-Type: application/json", "Transfer-Encoding: chunked"
    )
    answer = send_sized(port, request + b"zz\r\nnot a chunk\r\n", 0)
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()["error"]) == {"code", "message", "detail"}


def test_limits_follow_the_path() -> None:
    assert body_limit("/api/search/image") == MAX_UPLOAD_LENGTH
    assert body_limit("/api/folders") == MAX_CONTENT_LENGTH < MAX_UPLOAD_LENGTH


@pytest.fixture(scope="module")
def through_caddy(live: tuple[int, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The repository's Caddyfile in front of the live server, on plain HTTP; its port."""
    binary = shutil.which("caddy")
    if binary is None:
        pytest.skip("Caddy is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "HACHI_SITE": f"http://127.0.0.1:{port}",
        "HACHI_PORT": str(live[0]),
        "HACHI_STATIC": str(tmp_path_factory.mktemp("static")),
        "HACHI_CADDY_ADMIN": "off",
        "XDG_DATA_HOME": str(tmp_path_factory.mktemp("caddy-data")),
        "XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("caddy-config")),
    }
    command = [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"Caddy did not listen on {port}")


def send_streaming(port: int, request: bytes, body: Iterator[bytes]) -> Answer:
    """Send the body from a thread, as a real client does, while the answer is awaited."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request)

        def pump() -> None:
            with contextlib.suppress(OSError):
                for part in body:
                    sock.sendall(part)

        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        return read_answer(sock)


def zeros(total: int) -> Iterator[bytes]:
    block = bytes(CHUNK)
    for _ in range(total // CHUNK):
        yield block


def chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def test_through_caddy_an_oversized_body_gets_a_json_error(
    live: tuple[int, str], through_caddy: int
) -> None:
    _port, token = live
    upload = ("POST", "/api/search/image", token, "Content-Type: application/octet-stream")
    sized = head(*upload, f"Content-Length: {129 * MIB}")
    assert_json_413(send_streaming(through_caddy, sized, zeros(129 * MIB)), MAX_UPLOAD_LENGTH)
    streamed = head(*upload, "Transfer-Encoding: chunked")
    answer = send_streaming(through_caddy, streamed, chunked(zeros(129 * MIB)))
    # Hachi's 413 at 64 MiB, or Caddy's own at 65 MiB (its handle_errors gives the shape);
    # Hachi's lingering close keeps Caddy from turning a reset into a 502.
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "request_entity_too_large"
