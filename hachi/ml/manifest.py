"""The model manifest: what Hachi may download, from where, and how to prove the bytes.

The manifest is data rather than code so that adding a model, or moving a pin to a new
upstream revision, is a reviewed TOML change. It is validated strictly when loaded: a
typo in a checksum or a missing size surfaces as one clear error naming the entry,
instead of as a corrupt download or a model that fails to load weeks later.

Layout of ``hachi/ml/manifest.toml``::

    schema = 1

    [models.NAME]
    task = "clip"                      # one of TASKS
    licence = "MIT (weights ...)"
    description = "one or two sentences for `hachi models list`"

    [[models.NAME.files]]
    name = "visual.onnx"               # local name inside the installed model folder
    url = "https://..."                # pinned to a commit, never a moving branch
    sha256 = "<64 hex digits>"         # of the bytes at url
    size = 351613724                   # of the bytes at url
    member = "det_10g.onnx"            # optional: url is a zip, take this member from it

    [models.NAME.config]               # preprocessing etc.; copied into model.json
    image_size = 224

An entry whose models ship inside a Python package has no files and names that package
in ``config.bundled_with`` (OCR: ``rapidocr``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from hachi.errors import HachiError

SCHEMA_VERSION = 1
MANIFEST_FILENAME = "manifest.toml"
TASKS = frozenset({"clip", "face-detect", "face-embed", "faces", "ocr"})
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
URL_SCHEMES = frozenset({"http", "https"})
# Keys that model.json fills in itself; a config table must not shadow them.
RESERVED_CONFIG_KEYS = frozenset({"name", "task", "licence", "files", "source"})
ENTRY_KEYS = frozenset({"task", "licence", "description", "files", "config"})
FILE_KEYS = frozenset({"name", "url", "sha256", "size", "member"})


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where its bytes come from and what they must hash to.

    When ``member`` is set, ``url``, ``sha256`` and ``size`` describe a zip archive and the
    file is that member of it; the archive digest vouches for every member it holds.
    """

    name: str
    url: str
    sha256: str
    size: int
    member: str = ""


@dataclass(frozen=True)
class ManifestEntry:
    """A downloadable (or package-bundled) model as the manifest describes it."""

    name: str
    task: str
    files: tuple[ModelFile, ...]
    licence: str
    description: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def bundled_with(self) -> str:
        """The Python package that ships this model, or "" when it is downloaded."""
        return str(self.config.get("bundled_with", ""))

    @property
    def download_size(self) -> int:
        """Bytes to fetch: files sharing one archive count it once."""
        blobs = {(f.url, f.sha256): f.size for f in self.files}
        return sum(blobs.values())

    def model_json(self, source: str) -> dict[str, Any]:
        """The content of the installed folder's model.json."""
        return {
            "name": self.name,
            "task": self.task,
            "licence": self.licence,
            "files": [f.name for f in self.files],
            "source": source,
            **self.config,
        }


def default_manifest_path() -> Path:
    """The manifest beside this module, in a checkout and in an installed package alike."""
    path = Path(__file__).resolve().with_name(MANIFEST_FILENAME)
    if not path.is_file():
        raise HachiError(f"model manifest not found at {path}", {"paths": str(path)})
    return path


def load_manifest(path: Path | None = None) -> dict[str, ManifestEntry]:
    """Read and validate the manifest; any bad entry is a HachiError naming it."""
    source = path or default_manifest_path()
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise HachiError(f"cannot read model manifest {source}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise HachiError(f"model manifest {source} is not valid TOML: {exc}") from exc
    return parse_manifest(data, str(source))


def parse_manifest(data: dict[str, Any], origin: str = "manifest") -> dict[str, ManifestEntry]:
    """Validate an already parsed manifest document (tests build these directly)."""
    if data.get("schema") != SCHEMA_VERSION:
        found = data.get("schema")
        raise HachiError(f"{origin}: expected schema = {SCHEMA_VERSION}, got {found!r}")
    unknown = set(data) - {"schema", "models"}
    if unknown:
        raise HachiError(f"{origin}: unknown top-level keys {sorted(unknown)}")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise HachiError(f"{origin}: needs at least one [models.NAME] table")
    return {
        name: _parse_entry(name, raw, f"{origin}: model {name!r}") for name, raw in models.items()
    }


def _parse_entry(name: str, raw: Any, where: str) -> ManifestEntry:
    if not isinstance(raw, dict):
        raise HachiError(f"{where}: must be a table")
    _check_keys(raw, ENTRY_KEYS, {"task", "licence", "description"}, where)
    if not NAME_PATTERN.match(name):
        raise HachiError(f"{where}: name must match {NAME_PATTERN.pattern}")
    task = _text(raw, "task", where)
    if task not in TASKS:
        raise HachiError(f"{where}: task {task!r} is not one of {sorted(TASKS)}")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise HachiError(f"{where}: config must be a table")
    shadowed = RESERVED_CONFIG_KEYS & set(config)
    if shadowed:
        raise HachiError(f"{where}: config may not set {sorted(shadowed)}")
    files = _parse_files(raw.get("files", []), where)
    _check_bundling(files, config, where)
    return ManifestEntry(
        name=name,
        task=task,
        files=files,
        licence=_text(raw, "licence", where),
        description=_text(raw, "description", where),
        config=dict(config),
    )


def _parse_files(raw: Any, where: str) -> tuple[ModelFile, ...]:
    if not isinstance(raw, list):
        raise HachiError(f"{where}: files must be an array of tables")
    files = tuple(_parse_file(item, f"{where}: file #{i + 1}") for i, item in enumerate(raw))
    names = [f.name for f in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HachiError(f"{where}: file names used twice: {duplicates}")
    _check_shared_urls(files, where)
    return files


def _parse_file(raw: Any, where: str) -> ModelFile:
    if not isinstance(raw, dict):
        raise HachiError(f"{where}: must be a table")
    _check_keys(raw, FILE_KEYS, {"name", "url", "sha256", "size"}, where)
    name, url = _text(raw, "name", where), _text(raw, "url", where)
    sha = _text(raw, "sha256", where)
    size, member = raw["size"], raw.get("member", "")
    if not NAME_PATTERN.match(name):
        raise HachiError(f"{where}: local name {name!r} must match {NAME_PATTERN.pattern}")
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES or not parts.netloc:
        raise HachiError(f"{where}: url {url!r} must be http(s)://host/...")
    if not SHA256_PATTERN.match(sha):
        raise HachiError(f"{where}: sha256 must be 64 lower-case hex digits (a published digest)")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise HachiError(f"{where}: size must be a positive integer (bytes)")
    if not isinstance(member, str) or (member and not _is_relative_path(member)):
        raise HachiError(f"{where}: member must be a relative path inside the archive")
    return ModelFile(name=name, url=url, sha256=sha, size=size, member=member)


def _check_shared_urls(files: tuple[ModelFile, ...], where: str) -> None:
    """Several files may come from one URL only as members of the same archive."""
    by_url: dict[str, list[ModelFile]] = {}
    for f in files:
        by_url.setdefault(f.url, []).append(f)
    for url, group in by_url.items():
        if len(group) < 2:
            continue
        if not all(f.member for f in group):
            raise HachiError(f"{where}: {url} is listed twice but not as archive members")
        if len({(f.sha256, f.size) for f in group}) > 1:
            raise HachiError(f"{where}: {url} is listed with different sha256 or size")


def _check_bundling(files: tuple[ModelFile, ...], config: dict[str, Any], where: str) -> None:
    bundled = config.get("bundled_with")
    if bundled is not None and (not isinstance(bundled, str) or not bundled):
        raise HachiError(f"{where}: config.bundled_with must name a Python package")
    if bundled and files:
        raise HachiError(f"{where}: a bundled model lists no files")
    if not bundled and not files:
        raise HachiError(f"{where}: needs at least one [[files]] entry (or config.bundled_with)")


def _check_keys(
    raw: dict[str, Any], allowed: frozenset[str], required: set[str], where: str
) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise HachiError(f"{where}: unknown keys {sorted(unknown)}")
    missing = required - set(raw)
    if missing:
        raise HachiError(f"{where}: missing keys {sorted(missing)}")


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise HachiError(f"{where}: {key} must be a non-empty string")
    return value


def _is_relative_path(value: str) -> bool:
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in value
