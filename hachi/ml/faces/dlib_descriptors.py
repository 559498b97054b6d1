"""dlib's face ResNet in a process of its own, so that describing faces uses a core of its own.

dlib's HOG detector lets go of the GIL while it works, its ResNet does not: on two reader
threads, describing faces (about 70 ms a face) ran one at a time, and each thread's next
detection waited for the GIL meanwhile, so the faces pass kept ~1.45 of 2 cores busy on
photos of people. Here the threads cut the 150 px chips (what dlib's own
``compute_face_descriptor`` cuts from the photo), one worker process turns them into
descriptors, and the threads go on detecting: the same vectors (largest difference 2e-8
on the face corpus), 44 photos of people described in 5.3 s instead of 6.8.

The worker starts on the first faces to describe (spawned, not forked: the indexer has
threads running), lives until ``close``, and exits by itself when its parent dies (its
work pipe closes). When it cannot start or dies, ``describe`` answers None and the caller
describes in its own thread, as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

_net: Any = None  # the worker process's ResNet


def _load(weights: str) -> None:
    """Runs once in the worker process."""
    global _net
    import dlib

    _net = dlib.face_recognition_model_v1(weights)


def _describe(chips: list[NDArray[np.uint8]], jitters: int) -> list[NDArray[np.float64]]:
    """Runs in the worker process: one 128-d descriptor per chip."""
    if not chips:
        return []
    return [
        np.asarray(vector, dtype=np.float64)
        for vector in _net.compute_face_descriptor(chips, jitters)
    ]


class DescriptorProcess:
    """The worker process and the calls into it, from any thread."""

    def __init__(self, weights: Path, jitters: int) -> None:
        self.weights = weights
        self.jitters = jitters
        self._pool: ProcessPoolExecutor | None = None
        self._failed = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs (tests stop it to see the fallback)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return next(iter(processes), None)

    def describe(self, chips: list[NDArray[np.uint8]]) -> list[NDArray[np.float64]] | None:
        """Descriptors of aligned 150 px face ``chips``; None when the worker cannot be
        had (it failed once: the rest of this pass describes in the callers' threads)."""
        pool = self._started()
        if pool is None:
            return None
        try:
            return pool.submit(_describe, chips, self.jitters).result()
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("the face descriptor process failed (%s); describing in-thread", exc)
            self._drop(failed=True)
            return None

    def close(self) -> None:
        """Ends the worker; the next ``describe`` starts another."""
        self._drop(failed=False)

    def _started(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and not self._failed:
                try:
                    self._pool = ProcessPoolExecutor(
                        max_workers=1,
                        mp_context=multiprocessing.get_context("spawn"),
                        initializer=_load,
                        initargs=(str(self.weights),),
                    )
                except (OSError, ValueError) as exc:
                    log.warning("no face descriptor process (%s); describing in-thread", exc)
                    self._failed = True
            return self._pool

    def _drop(self, failed: bool) -> None:
        """Ends the worker (a broken one without waiting); ``failed`` keeps the rest of
        this pass from starting another."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._failed = failed
        if pool is not None:
            pool.shutdown(wait=not failed, cancel_futures=True)
