"""Models as a library asks for them: which CLIP model is active, switching it, installing
models, and fetching missing ones in the background (composed into Library).

The active CLIP model is a library setting in the catalog (`hachi models use NAME`, the
API, the UI); HACHI_CLIP_MODEL overrides it while set. Installing the first CLIP model a
library can use makes it active. Every change of the model in use queues an "embed" job,
whose CLIP pass embeds the photos the new model has not seen (the analyses table knows
which), so switching back and forth never recomputes what is already there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from hachi.catalog import folders as folders_db
from hachi.catalog import jobs as jobs_db
from hachi.catalog import model_settings
from hachi.config import Settings
from hachi.errors import BadRequest, HachiError, ModelUnavailable, NotFound
from hachi.indexer.downloads import ModelDownloader
from hachi.indexer.towers import image_tower_state
from hachi.ml.available import ENVIRONMENT, ActiveClip, AvailableModels, active_clip
from hachi.ml.clip.encoders import ClipModel
from hachi.ml.faces.registry import INSIGHTFACE_PACKS
from hachi.ml.manifest import NAME_PATTERN
from hachi.ml.store import (
    InstalledModel,
    installed_models,
    model_dir,
    pull_command,
)

EMBED_JOB = "embed"
MIB = 1024 * 1024


def library_clip(settings: Settings, conn: sqlite3.Connection) -> ActiveClip:
    """The CLIP model the library uses now: the environment's, else the catalog's choice,
    else Hachi's default."""
    return active_clip(settings, model_settings.active_clip_model(conn))


class ModelService:
    def __init__(
        self,
        settings: Settings,
        conn: Callable[[], sqlite3.Connection],
        models: Callable[[], AvailableModels],
        wake: Callable[[], None],
    ) -> None:
        self.settings = settings
        self._conn = conn
        self._models = models
        self._wake = wake
        self._downloader: ModelDownloader | None = None

    # -- choosing -----------------------------------------------------------------------

    def clip_models(self) -> list[InstalledModel]:
        return [m for m in installed_models(self.settings) if m.task == "clip"]

    def use(self, name: str) -> dict[str, Any]:
        """Make ``name`` the library's CLIP model and queue the re-embedding it needs."""
        if not NAME_PATTERN.match(name):
            raise BadRequest(f"invalid model name {name!r}", {"field": "name"})
        installed = {m.name: m for m in installed_models(self.settings)}
        if name not in installed:
            raise NotFound(
                f"model {name!r} is not installed; install it with `{pull_command(name)}` "
                "(or `hachi models install DIR`), see `hachi models list`",
                {"model": name, "command": pull_command(name)},
            )
        if installed[name].task != "clip":
            raise BadRequest(
                f"model {name!r} is a {installed[name].task} model, not a CLIP model",
                {"model": name, "task": installed[name].task},
            )
        before = library_clip(self.settings, self._conn()).name
        model_settings.set_active_clip_model(self._conn(), name)
        job = self.reembed() if before != self.active()["name"] else None
        return {**self.describe(), "job": job.to_dict() if job else None}

    def after_install(self, model: InstalledModel) -> jobs_db.Job | None:
        """A model just arrived: the first CLIP model becomes active; embed with it."""
        conn = self._conn()
        if model.task == "clip" and model_settings.active_clip_model(conn) is None:
            # the library's first choice: the model it already used if that is there,
            # else this one (an old library keeps the default it had pulled)
            current = library_clip(self.settings, conn).name
            keep = current if _is_installed(self.settings, current) else model.name
            model_settings.set_active_clip_model(conn, keep)
        model_settings.forget_download(conn, model.name)
        self._models().find_missing()
        return self.reembed()

    def reembed(self) -> jobs_db.Job | None:
        """Queue a job whose model passes embed what the models in use have not seen."""
        conn = self._conn()
        folder_ids = [f.id for f in folders_db.list_folders(conn)]
        if not folder_ids:
            return None
        job = jobs_db.create_job(conn, folder_ids, kind=EMBED_JOB)
        self._wake()
        return job

    # -- downloading --------------------------------------------------------------------

    def wanted_downloads(self) -> list[str]:
        """The models this library uses but lacks: its CLIP model, the insightface pack."""
        wanted = []
        models = self._models()
        if models.clip is None:
            wanted.append(models.clip_name)
        if models.faces is None and self.settings.face_backend == "insightface":
            wanted.append(INSIGHTFACE_PACKS[0].name)
        return wanted

    def start_downloads(self) -> None:
        """Fetch missing models in the background (unless HACHI_AUTO_MODELS=false)."""
        if not self.settings.auto_models or self._downloader is not None:
            return
        self._downloader = ModelDownloader(
            self.settings, self.wanted_downloads(), self.after_install
        )
        self._downloader.start()

    def downloader(self) -> ModelDownloader | None:
        """The background downloads, when started (to be stopped with the rest)."""
        return self._downloader

    # -- reporting ----------------------------------------------------------------------

    def active(self) -> dict[str, Any]:
        """The CLIP model in use: name, who chose it, installed, and any download."""
        conn = self._conn()
        chosen = library_clip(self.settings, conn)
        library_choice = model_settings.active_clip_model(conn)
        download = self._download_of(chosen.name)
        return {
            "name": chosen.name,
            "source": chosen.source,
            "overridden": chosen.source == ENVIRONMENT,
            "library_choice": library_choice,
            "installed": _is_installed(self.settings, chosen.name),
            "download": download,
            "image_tower": self.image_tower(chosen.name),
        }

    def image_tower(self, name: str) -> dict[str, Any] | None:
        """Which image tower indexes with model ``name`` and why (None: not installed)."""
        try:
            clip = ClipModel(model_dir(self.settings, name))
        except HachiError:
            return None
        return image_tower_state(self._conn(), self.settings.clip_image_int8, clip).to_dict()

    def describe(self) -> dict[str, Any]:
        """The active model and every installed CLIP model, for the API and the UI."""
        active = self.active()
        return {
            "active": active,
            "installed": [
                {
                    "name": m.name,
                    "task": m.task,
                    "size_bytes": m.size_bytes,
                    "source": m.source,
                    "active": m.name == active["name"],
                }
                for m in self.clip_models()
            ],
        }

    def downloads(self) -> list[dict[str, Any]]:
        """Downloads of models the library still wants (a failure of a model since
        replaced by `hachi models use`, or installed by hand, is no longer news)."""
        conn = self._conn()
        wanted = {library_clip(self.settings, conn).name}
        if self.settings.face_backend == "insightface":
            wanted.add(INSIGHTFACE_PACKS[0].name)
        return [
            r.to_dict()
            for r in model_settings.downloads(conn)
            if r.model in wanted
            and (r.state == "installed" or not _is_installed(self.settings, r.model))
        ]

    def _download_of(self, name: str) -> dict[str, Any] | None:
        return next((d for d in self.downloads() if d["model"] == name), None)

    def notices(self, problems: dict[str, str]) -> list[str]:
        """The models' notices, where a download is under way or failed saying so."""
        found = dict(problems)
        for record in self.downloads():
            key = "clip" if record["task"] == "clip" else "faces"
            if key in found:
                found[key] = _download_notice(record, found[key].split(":")[0])
        return list(found.values())


def _download_notice(record: dict[str, Any], what: str) -> str:
    name, command = record["model"], record["command"]
    if record["state"] == "downloading":
        done, total = record["done_bytes"] / MIB, record["total_bytes"] / MIB
        return f"{what} until {name} has downloaded ({done:.0f} of {total:.0f} MiB)"
    if record["state"] == "installed":
        return f"{what} for a moment more: {name} has downloaded and is being set up"
    if record["state"] == "failed":
        return (
            f"{what}: downloading {name} failed ({record['error']}); retry with: {command} "
            "(hachi serve also retries when it next starts)"
        )
    return (
        f"{what}: the download of {name} stopped; it resumes when hachi serve next starts, "
        f"or run: {command}"
    )


def _is_installed(settings: Settings, name: str) -> bool:
    try:
        model_dir(settings, name)
    except ModelUnavailable:
        return False
    return True
