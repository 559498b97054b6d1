"""One typed Settings object, built once and passed explicitly to every stage.

Each field reads ``HACHI_<FIELD>`` from the environment, so tests point Hachi at a
temporary home with one variable and nothing is patched. The ``help`` metadata of each
field is the source of the README's configuration table (a test keeps them in step).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

ENV_PREFIX = "HACHI_"
DEFAULT_CLIP_MODEL = "ViT-B-32-256-datacomp"
"""The CLIP model a library uses until `hachi models use` (or a first install) picks one."""


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("hachi", appauthor=False))


@dataclass(frozen=True)
class Settings:
    home: Path = field(
        default_factory=_default_home,
        metadata={"help": "Data directory: catalog, vectors, thumbnails, models, secrets."},
    )
    models_dir: Path | None = field(
        default=None, metadata={"help": "Where models live (default: HOME/models)."}
    )
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "Address the API server binds; loopback only, Caddy faces the LAN."},
    )
    port: int = field(default=8686, metadata={"help": "Port of the API server."})
    allowed_hosts: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Extra Host names accepted (comma-separated), e.g. a LAN name."},
    )
    proxy_secret: str = field(
        default="",
        repr=False,
        metadata={
            "help": "Shared secret Caddy sends as X-Hachi-Proxy; X-Forwarded-For is believed "
            "only with it. `hachi serve --caddy` makes a fresh one each start."
        },
    )
    workers: int = field(
        default_factory=lambda: max(2, os.cpu_count() or 2),
        metadata={"help": "Decoding threads used by the indexer."},
    )
    thumb_size: int = field(
        default=320, metadata={"help": "Long side in pixels of the grid thumbnails."}
    )
    preview_size: int = field(
        default=1600, metadata={"help": "Long side in pixels of the large previews."}
    )
    ocr: bool = field(default=True, metadata={"help": "Read text in photos while indexing."})
    face_backend: str = field(
        default="dlib",
        metadata={"help": "Face backend: dlib (no download), insightface, or none (off)."},
    )
    clip_model: str | None = field(
        default=None,
        metadata={
            "help": "CLIP model for semantic search; overrides the library's own choice "
            "(`hachi models use NAME`) while set."
        },
    )
    auto_models: bool = field(
        default=True,
        metadata={
            "help": "Let `hachi serve` download a missing CLIP model (and the insightface "
            "pack when that backend is chosen) in the background."
        },
    )
    model_manifest: Path | None = field(
        default=None,
        metadata={"help": "Model manifest to download from (default: the one Hachi ships)."},
    )
    clip_text_int8: bool = field(
        default=True,
        metadata={
            "help": "Encode search queries with the int8 text tower when the model has one "
            "(about 10x faster than float32 on short queries; `hachi embed` stays float32)."
        },
    )
    clip_image_int8: bool = field(
        default=False,
        metadata={
            "help": "Index photos with the int8 image tower when the model has one "
            "(about 3x faster; embeddings agree with float32 to a cosine of about 0.9998)."
        },
    )
    watch: bool = field(
        default=True,
        metadata={
            "help": "While `hachi serve` runs, index photos added, changed, moved or deleted "
            "in indexed folders within seconds (file-system events; polling where they "
            "cannot be had)."
        },
    )
    watch_polling: bool = field(
        default=False,
        metadata={
            "help": "Poll indexed folders instead of waiting for file-system events (network "
            "mounts are polled anyway)."
        },
    )
    watch_poll_seconds: int = field(
        default=30, metadata={"help": "Seconds between two looks at a polled folder."}
    )
    rescan_hours: int = field(
        default=24,
        metadata={
            "help": "Hours between whole rescans of every folder while `hachi serve` runs, "
            "catching what a watcher missed (0: never)."
        },
    )

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.db"

    @property
    def vectors_dir(self) -> Path:
        return self.home / "vectors"

    @property
    def thumbs_dir(self) -> Path:
        return self.home / "thumbs"

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.home / "models"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``HACHI_*`` variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, value in overrides.items():
            if value is None:
                continue
            if name not in fields:
                raise TypeError(f"unknown setting {name!r}")
            is_text = isinstance(value, str)
            values[name] = _coerce(fields[name], value) if is_text else value
        return cls(**values)

    def ensure_dirs(self) -> None:
        for path in (self.home, self.vectors_dir, self.thumbs_dir, self.models_path):
            path.mkdir(parents=True, exist_ok=True)


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    if "Path" in kind:
        return Path(raw).expanduser()
    if kind == "int":
        return int(raw)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def settings_help() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, for docs and `--help`."""
    rows = []
    for f in dataclasses.fields(Settings):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        else:
            default = "(computed)"
        rows.append((ENV_PREFIX + f.name.upper(), default, f.metadata["help"]))
    return rows
