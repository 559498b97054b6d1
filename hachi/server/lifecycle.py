"""What a long-running `hachi serve` needs from the operating system: stopping on
SIGTERM / SIGINT, and one server per library.

Signals become a byte on a pipe, so the main thread waits for them with a plain read and
the server's own code is never interrupted by a handler. The library lock is an
``fcntl`` lock on a file in HACHI_HOME: the kernel drops it when the process ends, however
it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from hachi.errors import Conflict

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOCK_FILE = "serve.lock"


class StopSignals:
    """While entered (in the main thread), SIGTERM and SIGINT wake ``wait()`` instead of
    ending the process; ``received`` is the signal that came, if any."""

    def __init__(self) -> None:
        self._read = self._write = -1
        self._previous: dict[int, Any] = {}
        self.received: int | None = None

    def __enter__(self) -> StopSignals:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        for number in STOP_SIGNALS:
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        os.close(self._read)
        os.close(self._write)

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        self.received = number
        self.wake()

    def wake(self) -> None:
        """Let ``wait()`` return (also from code, e.g. when the server ended by itself)."""
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def wait(self) -> None:
        os.read(self._read, 1)


class LibraryLock:
    """Held by the one `hachi serve` of a library; a second one gets a Conflict that
    names the first one's process id."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._fd = -1

    def __enter__(self) -> LibraryLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Conflict(
                f"another `hachi serve` (process {holder}) is already serving "
                f"{self.path.parent}; stop it first, or use another --home",
                {"home": str(self.path.parent), "pid": holder},
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # the file stays: removing it would let a third process lock a new file while a
        # second one still waits on the old one
        os.close(self._fd)
        self._fd = -1
