"""Helpers shared by the server tests: a real Library on a tmp home, real credentials.

Plain functions rather than fixtures, so each test module states its own fixtures and
nothing is injected by name from afar.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from hachi.catalog import auth
from hachi.catalog.db import connect
from hachi.config import Settings
from hachi.library import Library
from hachi.server.app import close_app, create_app

ORIGIN = "http://localhost:8686"
PASSWORD = "correct horse battery staple"
JOB_TIMEOUT_S = 60.0


def make_settings(home: Path, **overrides: Any) -> Settings:
    return Settings(home=home, workers=2, ocr=False, **overrides)


@contextmanager
def running_app(settings: Settings, background: bool = False) -> Iterator[tuple[Flask, Library]]:
    """An app over a real Library; the background indexer only when a test needs jobs to run."""
    library = Library(settings)
    if background:
        library.start_background()
    app = create_app(settings, library)
    try:
        yield app, library
    finally:
        close_app(app)
        library.close()


def set_password(settings: Settings, password: str = PASSWORD) -> None:
    conn = connect(settings.catalog_path)
    try:
        auth.set_password(conn, password)
    finally:
        conn.close()


def create_token(settings: Settings, name: str = "test") -> str:
    conn = connect(settings.catalog_path)
    try:
        return auth.create_token(conn, name)
    finally:
        conn.close()


def login(client: FlaskClient, password: str = PASSWORD) -> Any:
    return client.post("/api/login", json={"password": password}, headers={"Origin": ORIGIN})


def wait_for_job(client: FlaskClient, job_id: int, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=headers).get_json()
        if job["state"] in ("done", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def client_from(app: Flask, address: str) -> FlaskClient:
    """A test client whose requests come from ``address`` (the WSGI REMOTE_ADDR)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client
