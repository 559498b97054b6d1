from __future__ import annotations

import os
from pathlib import Path

import pytest

from hachi.config import Settings
from tests.photo_factory import CORPUS, require_corpus


def pytest_configure(config: pytest.Config) -> None:
    """No test fetches real models from the internet: a `hachi serve` that a test starts
    (in process or as a subprocess) downloads nothing unless the test asks for it."""
    os.environ["HACHI_AUTO_MODELS"] = "false"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings.from_env({}, home=tmp_path / "home", workers=2)
    s.ensure_dirs()
    return s


@pytest.fixture
def corpus() -> Path:
    return require_corpus(CORPUS)
