"""Login throttling: each client gets a few free tries, then waits twice as long each time.

Kept in memory on purpose: a restart forgives everyone, which is harmless for a LAN
server, and nothing about failed logins is ever written to disk. The attempt is counted
before the password is checked, so parallel guesses cannot all slip through at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 3
BASE_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
FORGET_AFTER_S = 60 * 60.0
MAX_CLIENTS = 10_000


@dataclass
class _Record:
    failures: int
    last_at: float


class TooManyAttempts(Exception):
    """Raised by :meth:`LoginThrottle.begin`; ``retry_after`` is whole seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    @staticmethod
    def delay_after(failures: int) -> float:
        """Seconds a client must wait after ``failures`` consecutive failures."""
        if failures < FREE_FAILURES:
            return 0.0
        return float(min(BASE_DELAY_S * 2 ** (failures - FREE_FAILURES), MAX_DELAY_S))

    def begin(self, client: str) -> None:
        """Count one attempt as failed until :meth:`succeeded` says otherwise."""
        now = self._clock()
        with self._lock:
            record = self._records.get(client)
            if record is None or now - record.last_at > FORGET_AFTER_S:
                record = _Record(0, now)
            wait = record.last_at + self.delay_after(record.failures) - now
            if wait > 0:
                raise TooManyAttempts(max(1, math.ceil(wait)))
            self._records[client] = _Record(record.failures + 1, now)
            self._forget_oldest()

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)

    def refund(self, client: str) -> None:
        """Undo :meth:`begin` for an attempt that could not have succeeded (no password set)."""
        with self._lock:
            record = self._records.get(client)
            if record is not None and record.failures > 0:
                record.failures -= 1

    def _forget_oldest(self) -> None:
        if len(self._records) <= MAX_CLIENTS:
            return
        oldest = min(self._records, key=lambda key: self._records[key].last_at)
        del self._records[oldest]
