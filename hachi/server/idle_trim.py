"""Give freed heap memory back to the system once the server goes quiet.

Why: a search allocates tens of megabytes (score arrays over the library, ONNX Runtime
buffers for the text tower) on whichever waitress thread serves it; freed, they stay in
glibc's heap and count as the server's anonymous memory until something trims it. A trim
costs a few milliseconds, so it runs on its own thread a moment after the last request
rather than inside each one.
"""

from __future__ import annotations

import threading

from flask import Flask

from hachi.ml.sessions import trim_heap

QUIET_SECONDS = 2.0


class IdleTrim:
    """Trims the heap once, ``QUIET_SECONDS`` after the latest ``poke``."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.quiet_seconds = quiet_seconds
        self._poked = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hachi-trim", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._poked.set()

    def _run(self) -> None:
        while True:
            self._poked.wait()
            self._poked.clear()
            while self._poked.wait(self.quiet_seconds):  # still busy: wait for quiet
                self._poked.clear()
            trim_heap()


_shared: IdleTrim | None = None
_shared_lock = threading.Lock()


def install(app: Flask) -> None:
    """Poke the process's one trimmer after every request of ``app``."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = IdleTrim()
        trimmer = _shared

    @app.teardown_request
    def _after(_exc: BaseException | None) -> None:
        trimmer.poke()
