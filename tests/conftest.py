from __future__ import annotations

from pathlib import Path

import pytest

from hachi.config import Settings
from tests.photo_factory import CORPUS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings.from_env({}, home=tmp_path / "home", workers=2)
    s.ensure_dirs()
    return s


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS
