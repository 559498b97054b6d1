"""The small interface every model implements, so the indexer can treat them alike.

Models load lazily on first use (never at import time) and can be unloaded when idle to
give memory back; ``predict`` is whatever batch call the task needs.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

from hachi.ml.sessions import trim_heap


class Model(ABC):
    """A lazily loaded, thread-safe-to-load inference model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                self.load()
                self._loaded = True
                trim_heap()

    def unload(self) -> None:
        with self._lock:
            if self._loaded:
                self.release()
                self._loaded = False
                trim_heap()

    @abstractmethod
    def load(self) -> None:
        """Open sessions and read configuration files."""

    def release(self) -> None:  # noqa: B027 - optional hook, most models just drop sessions
        """Drop sessions so memory goes back to the system."""

    @abstractmethod
    def predict(self, inputs: Any) -> Any:
        """Run the model on one batch."""
