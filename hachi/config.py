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

from hachi.errors import BadRequest

ENV_PREFIX = "HACHI_"
DEFAULT_CLIP_MODEL = "ViT-B-32-256-datacomp"
"""The CLIP model a library uses until `hachi models use` (or a first install) picks one."""


IMAGE_INT8_AUTO, IMAGE_INT8_ON, IMAGE_INT8_OFF = "auto", "on", "off"
IMAGE_INT8_MODES = (IMAGE_INT8_AUTO, IMAGE_INT8_ON, IMAGE_INT8_OFF)
_IMAGE_INT8_ALIASES = {  # what the setting's earlier true/false spellings mean now
    **dict.fromkeys(("true", "1", "yes"), "on"),
    **dict.fromkeys(("false", "0", "no"), "off"),
}


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
    clip_image_int8: str = field(
        default="auto",
        metadata={
            "help": "Which image tower indexes photos: auto (the int8 one, about 4x cheaper, "
            "once it agreed with float32 on this library's first 200 photos: cosine >= "
            "0.995 at the 1st percentile; float32 until then or if not), on (int8 whenever "
            "the model has it, unchecked; also true/1), off (float32; also false/0)."
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "clip_image_int8", image_int8_mode(self.clip_image_int8))

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
    def grid_keys_dir(self) -> Path:
        """Keys of live browser sessions, which Caddy checks to serve thumbnails itself."""
        return self.home / "grid-keys"

    @property
    def scratch_dir(self) -> Path:
        """Short-lived working files (e.g. the image tower check's inputs)."""
        return self.home / "tmp"

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


def image_int8_mode(value: object) -> str:
    """HACHI_CLIP_IMAGE_INT8 as one of IMAGE_INT8_MODES; the true/false of earlier
    releases still mean on/off."""
    if isinstance(value, bool):
        return IMAGE_INT8_ON if value else IMAGE_INT8_OFF
    text = str(value).strip().lower()
    mode = _IMAGE_INT8_ALIASES.get(text, text)
    if mode not in IMAGE_INT8_MODES:
        raise BadRequest(
            f"HACHI_CLIP_IMAGE_INT8 must be one of {', '.join(IMAGE_INT8_MODES)}, not {value!r}",
            {"setting": "clip_image_int8"},
        )
    return mode


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
