"""From the ``face_backend`` setting to a ready (not yet loaded) backend.

Creating a backend checks that its weights are present, so a missing model is reported
with the one command that installs it before any photo is touched; loading the weights
waits for the first ``predict``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from hachi.config import Settings
from hachi.errors import HachiError, ModelUnavailable
from hachi.ml.faces.base import FaceBackend

BACKENDS = ("dlib", "insightface")


@dataclass(frozen=True)
class InsightFacePack:
    """One insightface model pack as ``hachi models pull NAME`` lays it out."""

    name: str
    detector: str
    embedder: str

    def paths(self, models_dir: Path) -> tuple[Path, Path]:
        folder = models_dir / self.name
        return folder / self.detector, folder / self.embedder


# Preference order: the large pack is markedly more accurate, the small one
# (about ten times faster on a CPU) is the fallback. Names and files as in hachi/ml/manifest.toml.
INSIGHTFACE_PACKS = (
    InsightFacePack("buffalo_l", "det_10g.onnx", "w600k_r50.onnx"),
    InsightFacePack("buffalo_sc", "det_500m.onnx", "w600k_mbf.onnx"),
)


def create_backend(name: str, settings: Settings) -> FaceBackend:
    """The backend called ``name``; HachiError if unknown, ModelUnavailable if not installed."""
    if name == "dlib":
        return _dlib_backend()
    if name == "insightface":
        return _insightface_backend(settings.models_path)
    raise HachiError(
        f"unknown face backend {name!r}; choose one of {', '.join(BACKENDS)}",
        {"backend": name, "choices": list(BACKENDS)},
    )


def _dlib_backend() -> FaceBackend:
    from hachi.ml.faces.dlib_backend import INSTALL_COMMAND, DlibBackend, locate_weights

    if importlib.util.find_spec("dlib") is None:
        raise ModelUnavailable(
            f"dlib is not installed; run `{INSTALL_COMMAND}`",
            {"model": "dlib", "command": INSTALL_COMMAND},
        )
    locate_weights()
    return DlibBackend()


def _insightface_backend(models_dir: Path) -> FaceBackend:
    from hachi.ml.faces.insightface_backend import InsightFaceBackend

    for pack in INSIGHTFACE_PACKS:
        detector, embedder = pack.paths(models_dir)
        if detector.is_file() and embedder.is_file():
            return InsightFaceBackend(detector, embedder)
    wanted = INSIGHTFACE_PACKS[0]
    command = f"hachi models pull {wanted.name}"
    raise ModelUnavailable(
        f"insightface weights are not installed; run `{command}`",
        {"model": wanted.name, "command": command, "path": str(models_dir / wanted.name)},
    )
