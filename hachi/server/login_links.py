"""One-time login links, as Jupyter prints them: whoever can read the terminal may log in.

The tokens live only in this process's memory, each works once and for a short while,
so a link that leaks into shell history or a screenshot is useless soon after.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

LOGIN_LINK_TTL_S = 60 * 60.0
MAX_PENDING_LINKS = 100


class LoginLinks:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def mint(self, ttl_s: float = LOGIN_LINK_TTL_S) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}
            if len(self._expiry) >= MAX_PENDING_LINKS:
                del self._expiry[min(self._expiry, key=self._expiry.__getitem__)]
            self._expiry[token] = now + ttl_s
        return token

    def redeem(self, token: str) -> bool:
        """True once for a live token; a second visit, or a late one, is refused."""
        with self._lock:
            expiry = self._expiry.pop(token, None)
        return expiry is not None and expiry > self._clock()
