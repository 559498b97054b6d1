"""The stage runner: ordered window, batches, inference failures per photo, stopping."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.indexer.stage_runner import (
    Stopped,
    StopReason,
    batched,
    check_stop,
    in_order,
    run_stages,
    window_size,
)
from hachi.indexer.stages import Stage
from hachi.library import Library


@dataclass
class Item:
    prepared: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    stage_errors: dict[str, str] = field(default_factory=dict)


class Doubling(Stage):
    task = "double"
    model = "x2"
    min_side = 1

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def prepare(self, image: Image.Image) -> Any:
        return image

    def run(self, prepared: Sequence[Any]) -> list[Any]:
        if self.fail:
            raise RuntimeError("no memory")
        return [2 * x for x in prepared]

    def store(self, conn: sqlite3.Connection, photo_ids: Sequence[int], results: Any) -> None:
        pass


def test_in_order_keeps_input_order_with_a_bounded_number_in_flight() -> None:
    started: list[int] = []

    def work(n: int) -> int:
        started.append(n)
        time.sleep(0.002 * (n % 3))  # later items often finish first
        return n * n

    squares = []
    with ThreadPoolExecutor(8) as pool:
        for square in in_order(pool, work, range(40), window=3):
            assert len(started) <= len(squares) + 3, "more than the window was read ahead"
            squares.append(square)
    assert squares == [n * n for n in range(40)]


def test_the_window_covers_the_workers_and_two_model_batches() -> None:
    assert window_size(workers=2, batch_size=16) == 32
    assert window_size(workers=8, batch_size=4) == 32


def test_batches_are_full_but_the_last() -> None:
    assert [len(b) for b in batched(range(10), 4)] == [4, 4, 2]
    assert list(batched([], 4)) == []


def test_a_failing_batch_marks_its_photos_not_the_run() -> None:
    items = [Item({"double": 1}), Item(stage_errors={"double": "unreadable"}), Item({"double": 3})]
    run_stages([Doubling()], items)
    assert [i.results.get("double") for i in items] == [2, None, 6]
    failing = [Item({"double": 1})]
    run_stages([Doubling(fail=True)], failing)
    assert failing[0].stage_errors == {"double": "RuntimeError: no memory"}
    assert failing[0].prepared == {}, "the input is released either way"


def test_stopping_says_whether_the_job_was_cancelled_or_interrupted(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "photos").mkdir()
    library = Library(settings)
    conn = connect(settings.catalog_path)
    try:
        _folder, job = library.add_folder(str(tmp_path / "photos"))
        check_stop(conn, job.id, threading.Event())  # running on: nothing raised
        stopping = threading.Event()
        stopping.set()
        with pytest.raises(Stopped) as interrupted:
            check_stop(conn, job.id, stopping)
        assert interrupted.value.reason is StopReason.INTERRUPTED
        library.cancel_job(job.id)
        with pytest.raises(Stopped) as cancelled:
            check_stop(conn, job.id, None)
        assert cancelled.value.reason is StopReason.CANCELLED
    finally:
        conn.close()
        library.close()
