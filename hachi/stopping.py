"""Stopping the parts of a running Hachi together, against one shared deadline.

Why: each part (the web server, Caddy, the folder watcher, the indexer, model downloads,
the vector index build) takes its own time to leave its work. Waited for one after
another, those times add up: `hachi serve` once took over 30 s to exit under load. Here
every part is asked at once, then all are waited for until one deadline, so the stop is
bounded by the deadline however many parts there are. A part still busy then is left
behind (and named): what Hachi writes is crash-safe (SQLite transactions; vector rows
count only once committed), so leaving costs at most the batch in hand, which the next
start does again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 8.0
"""The whole stop, all parts together. Under docker's default grace (10 s before SIGKILL),
so a container stop is a clean exit; systemd waits 90 s by default."""


class CanStop(Protocol):
    """What a part offers: a request that returns at once, and a bounded wait."""

    def request_stop(self) -> None: ...

    def wait_stopped(self, timeout: float) -> bool: ...


class Stoppable:
    """A base for parts that run on a thread of their own (CanStop, and ``stop``)."""

    def request_stop(self) -> None:
        raise NotImplementedError

    def wait_stopped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True once the part has stopped."""
        raise NotImplementedError

    def stop(self, timeout: float = STOP_DEADLINE_S) -> bool:
        """Request and wait, for a part stopped on its own."""
        self.request_stop()
        return self.wait_stopped(timeout)


@dataclass(frozen=True)
class Part:
    """A named part to stop: ``request()`` asks (at once), ``wait(seconds)`` says whether
    it stopped within that time."""

    name: str
    request: Callable[[], object]
    wait: Callable[[float], bool]

    @classmethod
    def of(cls, name: str, part: CanStop) -> Part:
        return cls(name, part.request_stop, part.wait_stopped)


@dataclass(frozen=True)
class StopReport:
    took: dict[str, float]  # seconds from the request until each stopped part was done
    overran: tuple[str, ...]  # the parts still busy at the deadline

    @property
    def clean(self) -> bool:
        return not self.overran


def stop_together(parts: Sequence[Part], deadline_s: float = STOP_DEADLINE_S) -> StopReport:
    """Ask every part to stop, then wait for all of them until one deadline.

    Each part is waited for on a daemon thread of its own, so each one's time is its own
    (not the time until the main thread got round to it), and a part that never ends holds
    nothing: its waiting thread is abandoned with it. Logs at INFO how long each part took
    and at WARNING which ones overran.
    """
    started = time.monotonic()
    ends = started + deadline_s
    for part in parts:
        try:
            part.request()
        except Exception:  # noqa: BLE001 - one part failing to stop must not keep the others
            log.exception("asking %s to stop failed", part.name)
    took: dict[str, float] = {}
    lock = threading.Lock()

    def wait_for(part: Part) -> None:
        try:
            stopped = part.wait(max(0.0, ends - time.monotonic()))
        except Exception:  # noqa: BLE001 - a part that failed while stopping has stopped
            log.exception("stopping %s failed", part.name)
            stopped = True
        if stopped:
            with lock:
                took[part.name] = time.monotonic() - started

    waiters = [
        threading.Thread(target=wait_for, args=(p,), name=f"hachi-stop-{p.name}", daemon=True)
        for p in parts
    ]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join(max(0.0, ends - time.monotonic()))
    with lock:
        report = StopReport(dict(took), tuple(p.name for p in parts if p.name not in took))
    for name, seconds in report.took.items():
        log.info("%s stopped in %.1f s", name, seconds)
    for name in report.overran:
        log.warning("%s did not stop within %.0f s; leaving it behind", name, deadline_s)
    if parts:
        log.info("stopped in %.1f s", time.monotonic() - started)
    return report
