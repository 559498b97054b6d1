"""Property-based fuzzing of the whole API against its own OpenAPI document.

Schemathesis reads ``/api/openapi.json`` from a real waitress server over a small real
library (photos indexed, faces clustered into people) and calls every documented
operation with generated valid and invalid input, then chains operations through the
document's ``links`` in its stateful phase. Any 5xx, or any answer whose status, content
type, headers or body the document does not allow, fails the test. New routes are picked
up from the document itself: there is no list of operations here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hachi.config import Settings
from hachi.ml.store import install_model
from hachi.server.serve import make_server
from tests.photo_factory import CORPUS, Shot, write_photo
from tests.server_fixtures import (
    create_token,
    make_settings,
    running_app,
    set_password,
    wait_for_job,
)

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[1] / "models" / "test"
TEST_CLIP_MODEL = "shapes-clip"  # tiny and real: search by text and by photo both run
SCHEMATHESIS = Path(sys.executable).with_name("st")
FACE_PHOTOS = ("biden_1.jpg", "biden_2.jpg", "group_obama_biden.jpg", "obama_1.jpg", "obama_2.jpg")
EXAMPLES_PER_OPERATION = 60
RUN_TIMEOUT_S = 150
# Inputs whose rules a JSON schema cannot state: a schema-valid value may still be refused
# (400, or 422 for an upload that is not a photo). Every other operation must accept every
# value its schema allows.
SEMANTIC_INPUT = {
    "search": "the query language (quotes, filters, dates), opaque cursors, cursor with offset",
    "searchByImage": "the uploaded bytes must be a photo; the query language; cursors",
    "timeline": "the query language",
    "searchPoints": "the query language",
    "addFolder": "the path must be an existing, readable folder outside system folders",
    "createAlbum": "names unique regardless of case, 200 characters trimmed; the query language",
    "updateAlbum": "the same, and only smart albums have a query",
    "addToAlbum": "the ids must be photos; the query language; plain albums only",
    "removeFromAlbum": "the ids must be photos; plain albums only",
    "selectionPaths": "the ids must be photos; the query language",
    "downloadSelection": "the ids must be photos; the query language",
    "downloadSelectionLink": "the ids must be photos; the query language",
}
SEMANTIC_REFUSALS = ("2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx")


def _make_library(base: Path) -> Path:
    """A folder with a few face photos (people to list, name and merge) and plain JPEGs."""
    folder = base / "photos"
    folder.mkdir()
    faces = CORPUS / "faces"
    for name in FACE_PHOTOS:
        if (faces / name).is_file():
            shutil.copy(faces / name, folder / name)
    for seed in range(3):
        write_photo(folder / f"plain_{seed}.jpg", Shot(seed=seed, lat=48.85, lon=2.35))
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, bearer token) of a real server over an indexed throwaway library.

    The background indexer stops once the library is indexed: folders the fuzzer adds
    then queue jobs that never run, so no generated path can set Hachi scanning a big
    tree, and each run meets the same library.
    """
    base = tmp_path_factory.mktemp("fuzz")
    folder = _make_library(base)
    settings: Settings = make_settings(base / "home", port=0, clip_model=TEST_CLIP_MODEL)
    settings.ensure_dirs()
    install_model(settings, MODELS / TEST_CLIP_MODEL)
    set_password(settings)
    token = create_token(settings, "fuzz")
    auth = {"Authorization": f"Bearer {token}"}
    with running_app(settings, background=True) as (app, library):
        client = app.test_client()
        added = client.post("/api/folders", json={"path": str(folder)}, headers=auth)
        assert added.status_code == 201, added.get_json()
        assert wait_for_job(client, added.get_json()["job"]["id"], auth)["state"] == "done"
        library.stop_background()
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.effective_port}", token
        finally:
            server.stop()
            thread.join(5)


def _write_config(path: Path, token: str) -> Path:
    """Auth through the document's own bearer scheme, so the ignored-auth check can drop it;
    400 and 422 allowed for schema-valid input only where the document cannot say the rule."""
    statuses = ", ".join(f'"{status}"' for status in SEMANTIC_REFUSALS)
    path.write_text(
        f'[auth.openapi.bearerAuth]\nbearer = "{token}"\n\n'
        "[[operations]]\n"
        f"include-operation-id = {json.dumps(sorted(SEMANTIC_INPUT))}\n"
        f"checks.positive_data_acceptance.expected-statuses = [{statuses}]\n"
    )
    return path


def _served_document(base: str, token: str, path: Path) -> Path:
    """The document as the server serves it (reading it needs the token, as every call does)."""
    request = urllib.request.Request(
        f"{base}/api/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        path.write_bytes(response.read())
    return path


def _run_schemathesis(
    base: str, config: Path, document: Path, phases: str, report: Path, *excluded: str
) -> subprocess.CompletedProcess[str]:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        str(document),
        "--url",
        base,
        "--checks",
        "all",
        "--phases",
        phases,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--continue-on-failure",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    for op_id in excluded:
        command += ["--exclude-operation-id", op_id]
    return subprocess.run(  # in tmp: schemathesis keeps a cache folder where it runs
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=report.parent
    )


def _token_still_works(base: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{base}/api/session", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False


def _status_counts(report: Path) -> Counter[int]:
    """How often each status came back, from the run's event log."""
    counts: Counter[int] = Counter()
    for line in report.read_text().splitlines():
        _count_responses(json.loads(line), counts)
    return counts


def _count_responses(node: Any, counts: Counter[int]) -> None:
    if isinstance(node, dict):
        response = node.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            counts[response["status_code"]] += 1
        for value in node.values():
            _count_responses(value, counts)
    elif isinstance(node, list):
        for item in node:
            _count_responses(item, counts)


def test_the_api_matches_its_document_under_fuzzing(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """Stateful chains first, while the library is whole; then every operation on its own.

    Removing a folder empties the library the chains walk through, so the stateful run
    leaves that one operation out; the run after it calls it like any other.
    """
    base, token = served
    config = _write_config(tmp_path / "schemathesis.toml", token)
    document = _served_document(base, token, tmp_path / "openapi.json")
    runs = (
        ("stateful", ("removeFolder",)),
        ("examples,coverage,fuzzing", ()),
    )
    for phases, excluded in runs:
        report = tmp_path / f"{phases.replace(',', '-')}.ndjson"
        result = _run_schemathesis(base, config, document, phases, report, *excluded)
        print(result.stdout)
        if report.exists():
            print(phases, "status codes:", dict(sorted(_status_counts(report).items())))
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        # Every operation runs, logout and removals included; one that revoked the fuzzer's
        # own token would leave the rest of the run testing 401s only, so that fails here.
        assert _token_still_works(base, token), f"the {phases} run revoked its own token"
