"""From the face_backend setting to a backend, and the errors that tell users what to do."""

from __future__ import annotations

import pytest

from hachi.config import Settings
from hachi.errors import HachiError, ModelUnavailable
from hachi.ml.faces import BACKENDS, FaceBackend, create_backend
from hachi.ml.faces.dlib_backend import DlibBackend
from hachi.ml.faces.insightface_backend import InsightFaceBackend
from hachi.ml.faces.registry import INSIGHTFACE_PACKS


def test_dlib_is_available_without_download(settings: Settings) -> None:
    backend = create_backend("dlib", settings)
    assert isinstance(backend, DlibBackend) and isinstance(backend, FaceBackend)
    assert (backend.name, backend.dim) == ("dlib", 128)
    assert not backend.loaded  # weights load on first use, not at creation


def test_unknown_backend_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(HachiError, match="unknown face backend 'opencv'") as caught:
        create_backend("opencv", settings)
    assert not isinstance(caught.value, ModelUnavailable)
    assert caught.value.detail["choices"] == list(BACKENDS)


def test_missing_insightface_weights_name_the_install_command(settings: Settings) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        create_backend("insightface", settings)
    assert "`hachi models pull buffalo_l`" in caught.value.message
    assert caught.value.detail["command"] == "hachi models pull buffalo_l"


def test_half_installed_pack_does_not_count(settings: Settings) -> None:
    pack = INSIGHTFACE_PACKS[0]
    detector, _ = pack.paths(settings.models_path)
    detector.parent.mkdir(parents=True)
    detector.write_bytes(b"not really onnx")
    with pytest.raises(ModelUnavailable):
        create_backend("insightface", settings)


@pytest.mark.parametrize("pack", INSIGHTFACE_PACKS, ids=lambda pack: pack.name)
def test_installed_pack_is_used(settings: Settings, pack) -> None:
    detector, embedder = pack.paths(settings.models_path)
    detector.parent.mkdir(parents=True)
    detector.write_bytes(b"x")
    embedder.write_bytes(b"x")
    backend = create_backend("insightface", settings)
    assert isinstance(backend, InsightFaceBackend)
    assert (backend.detector_path, backend.embedder_path) == (detector, embedder)
    assert (backend.name, backend.dim) == ("insightface", 512)


def test_insightface_licence_is_stated() -> None:
    import hachi.ml.faces.insightface_backend as module

    assert "NON-COMMERCIAL" in (module.__doc__ or "")


def test_damaged_model_file_says_how_to_reinstall(settings: Settings) -> None:
    pack = INSIGHTFACE_PACKS[1]
    detector, embedder = pack.paths(settings.models_path)
    detector.parent.mkdir(parents=True)
    detector.write_bytes(b"truncated download")
    embedder.write_bytes(b"truncated download")
    backend = create_backend("insightface", settings)
    with pytest.raises(ModelUnavailable, match=f"hachi models pull {pack.name}"):
        backend.ensure_loaded()
