"""Installed models on disk: one folder per model under ``settings.models_path``.

A folder counts as an installed model only when its ``model.json`` is present and every
file it lists exists, and a folder only ever appears under its real name complete: it is
assembled in a hidden staging folder next to its destination and renamed into place, so
an interrupted install or download never leaves a half model that loads and fails.

Layout::

    <models_path>/<name>/model.json       name, task, licence, files, source, config...
    <models_path>/<name>/<files...>
    <models_path>/.partial/<name>/        resumable downloads (hachi.ml.download)
    <models_path>/.locks/<name>.lock      one writer per model name at a time
    <models_path>/.tmp-*  .old-*          staging and retired folders (hidden, transient)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from hachi.config import Settings
from hachi.errors import BadRequest, Conflict, ModelUnavailable, NotFound
from hachi.ml.manifest import NAME_PATTERN, TASKS

MODEL_JSON = "model.json"
PARTIAL_DIR = ".partial"
LOCKS_DIR = ".locks"
STAGING_PREFIX = ".tmp-"
RETIRED_PREFIX = ".old-"
MAX_MODEL_JSON_BYTES = 1 << 20


@dataclass(frozen=True)
class InstalledModel:
    """What `hachi models list` and the status API report for one installed model."""

    name: str
    task: str
    path: Path
    size_bytes: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "source": self.source,
        }


def pull_command(name: str) -> str:
    """The one command that installs a model; quoted in every 'missing model' message."""
    return f"hachi models pull {name}"


def installed_models(settings: Settings) -> list[InstalledModel]:
    """Every complete model folder, sorted by name; broken or hidden folders are skipped."""
    root = settings.models_path
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            found.append(_describe(folder, read_model_json(folder)))
        except BadRequest:
            continue
    return found


def model_dir(settings: Settings, name: str) -> Path:
    """The folder of an installed model, or ModelUnavailable saying how to install it."""
    folder = settings.models_path / name
    if NAME_PATTERN.match(name):
        try:
            read_model_json(folder)
            return folder
        except BadRequest:
            pass
    command = pull_command(name)
    raise ModelUnavailable(
        f"model {name!r} is not installed; install it with `{command}`",
        {"model": name, "command": command},
    )


def remove_model(settings: Settings, name: str) -> None:
    """Delete an installed model; the folder vanishes in one rename, then is cleaned up."""
    folder = settings.models_path / name
    if not NAME_PATTERN.match(name) or not folder.is_dir():
        raise NotFound(f"model {name!r} is not installed", {"model": name})
    with model_lock(settings, name):
        retired = settings.models_path / f"{RETIRED_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
        os.replace(folder, retired)
        shutil.rmtree(retired, ignore_errors=True)


def install_model(settings: Settings, src_dir: Path, name: str | None = None) -> InstalledModel:
    """Copy a model folder (e.g. from `hachi models export`) into the store, atomically."""
    if not src_dir.is_dir():
        raise NotFound(f"no such model folder: {src_dir}", {"path": str(src_dir)})
    meta = read_model_json(src_dir)
    target = name or meta["name"]
    _check_name(target)
    meta = {**meta, "name": target, "source": meta.get("source") or f"local:{src_dir.resolve()}"}
    with model_lock(settings, target):
        staging = new_staging_dir(settings, target)
        try:
            for rel in meta["files"]:
                destination = staging / rel
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src_dir / rel, destination)
            write_model_json(staging, meta)
            return publish_staged(settings, staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def new_staging_dir(settings: Settings, name: str) -> Path:
    """A fresh hidden folder on the same file system as the store, so renames are atomic."""
    settings.models_path.mkdir(parents=True, exist_ok=True)
    staging = settings.models_path / f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def publish_staged(settings: Settings, staging: Path, name: str) -> InstalledModel:
    """Swap a complete staging folder in as ``<models_path>/<name>``.

    Callers hold ``model_lock(settings, name)``. An existing install is renamed aside and
    only deleted once the new one is in place; if the second rename fails the old one is
    put back. Between the two renames (microseconds) the model reads as not installed,
    never as half installed.
    """
    meta = read_model_json(staging)
    destination = settings.models_path / name
    retired = settings.models_path / f"{RETIRED_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    had_old = destination.exists()
    if had_old:
        os.replace(destination, retired)
    try:
        os.replace(staging, destination)
    except OSError:
        if had_old:
            os.replace(retired, destination)
        raise
    if had_old:
        shutil.rmtree(retired, ignore_errors=True)
    return _describe(destination, meta)


def read_model_json(folder: Path) -> dict[str, Any]:
    """Parse and check a model folder's model.json; BadRequest says what is wrong."""
    path = folder / MODEL_JSON
    try:
        if path.stat().st_size > MAX_MODEL_JSON_BYTES:
            raise BadRequest(f"{path} is too large to be a model description")
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"not a model folder: {folder} ({MODEL_JSON}: {exc})") from exc
    if not isinstance(meta, dict):
        raise BadRequest(f"{path} must hold a JSON object")
    _check_meta(meta, folder)
    return meta


def write_model_json(folder: Path, meta: dict[str, Any]) -> None:
    text = json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (folder / MODEL_JSON).write_text(text, encoding="utf-8")


@contextmanager
def model_lock(settings: Settings, name: str) -> Iterator[None]:
    """Hold the per-model writer lock, or raise Conflict if another process holds it.

    An OS file lock (not a marker file) so that a crashed download never leaves the
    model locked: the kernel drops the lock with the process.
    """
    lock_dir = settings.models_path / LOCKS_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "a+b") as handle:
        if not _try_lock(handle):
            raise Conflict(
                f"model {name!r} is being installed by another process; try again when it is done",
                {"model": name},
            )
        yield


def _try_lock(handle: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _check_meta(meta: dict[str, Any], folder: Path) -> None:
    where = folder / MODEL_JSON
    for key in ("name", "task"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise BadRequest(f"{where}: {key!r} must be a non-empty string")
    if meta["task"] not in TASKS:
        raise BadRequest(f"{where}: task {meta['task']!r} is not one of {sorted(TASKS)}")
    files = meta.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise BadRequest(f"{where}: 'files' must be a list of relative paths")
    for rel in files:
        if not _is_safe_relative(rel):
            raise BadRequest(f"{where}: file {rel!r} must be a relative path inside the folder")
        if not (folder / rel).is_file():
            raise BadRequest(f"{where}: listed file {rel!r} is missing")


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise BadRequest(f"invalid model name {name!r}: use letters, digits, '.', '_' or '-'")


def _is_safe_relative(rel: str) -> bool:
    path = PurePosixPath(rel)
    return bool(rel) and not path.is_absolute() and ".." not in path.parts and "\\" not in rel


def _describe(folder: Path, meta: dict[str, Any]) -> InstalledModel:
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return InstalledModel(
        name=folder.name,
        task=meta["task"],
        path=folder,
        size_bytes=size,
        source=str(meta.get("source", "")),
    )
