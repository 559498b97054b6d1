"""Download a manifest model: resumable, verified, and installed all at once or not at all.

Each distinct blob (a file, or a zip archive shared by several files) is fetched into
``<models_path>/.partial/<model>/<blob>.part``. An interrupted transfer resumes with an
HTTP Range request (a few times automatically, and again on the next `hachi models pull`);
a server that ignores Range simply restarts the blob. A finished blob must match the
manifest's size and sha256 or it is deleted; only verified blobs lose their ``.part``
suffix. When every blob is verified the model folder is assembled in a staging folder
and renamed into place, so the model never appears half downloaded.

Mirrors: ``HACHI_MODEL_MIRROR=http://host/prefix`` makes every file come from
``http://host/prefix/<original host>/<original path>`` (the layout ``wget -x URL``
creates), for machines that cannot or should not reach the original hosts. The checksums
are the manifest's, so a mirror cannot substitute different bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from tqdm import tqdm

from hachi.config import Settings
from hachi.errors import BadRequest, ModelUnavailable, NotFound
from hachi.ml.manifest import ManifestEntry, ModelFile, load_manifest
from hachi.ml.store import (
    PARTIAL_DIR,
    InstalledModel,
    model_lock,
    new_staging_dir,
    publish_staged,
    pull_command,
    write_model_json,
)

MIRROR_ENV = "HACHI_MODEL_MIRROR"
CHUNK_BYTES = 1 << 20
HASH_CHUNK_BYTES = 4 << 20
TIMEOUT_S = 30.0
MAX_ATTEMPTS = 3
USER_AGENT = "hachi-models/1"
PART_SUFFIX = ".part"
WHAT_STAYS_OFF = {
    "clip": "semantic search stays off",
    "faces": "face recognition stays off",
    "face-detect": "face recognition stays off",
    "face-embed": "face recognition stays off",
    "ocr": "text in photos is not read",
}


@dataclass(frozen=True)
class _Blob:
    """One thing to download; several manifest files may share it (zip members)."""

    url: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        base = PurePosixPath(urlsplit(self.url).path).name or "download"
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)
        return f"{self.sha256[:16]}-{safe}"


class _Interrupted(Exception):
    """The transfer stopped early; the .part file is kept so the next attempt resumes."""


Progress = Callable[[int, int], None]
"""Called with (bytes on disk, bytes in all) as a download advances; it may raise to stop
the download (the partial files stay, so the next pull resumes)."""


@dataclass
class _Job:
    entry: ManifestEntry
    bar: tqdm
    on_progress: Progress | None = None

    def __post_init__(self) -> None:
        self.done = int(self.bar.n)

    def advance(self, delta: int) -> None:
        self.done += delta
        self.bar.update(delta)
        if self.on_progress is not None:
            self.on_progress(self.done, self.entry.download_size)

    def unavailable(self, message: str, **detail: object) -> ModelUnavailable:
        name = self.entry.name
        info = {"model": name, "command": pull_command(name), **detail}
        return ModelUnavailable(message, info)

    def unreachable(self, url: str, reason: object) -> ModelUnavailable:
        host = urlsplit(url).netloc
        off = WHAT_STAYS_OFF.get(self.entry.task, "the features that need it stay off")
        return self.unavailable(
            f"could not reach {host}: {reason} — Hachi works without this model; {off}",
            url=url,
            reason="unreachable",
        )


def pull_model(
    settings: Settings,
    name: str,
    progress: bool = True,
    manifest: dict[str, ManifestEntry] | None = None,
    on_progress: Progress | None = None,
) -> InstalledModel:
    """Download, verify and install one manifest model; safe to re-run after any failure."""
    entry = manifest_entry(settings, name, manifest)
    settings.models_path.mkdir(parents=True, exist_ok=True)
    with model_lock(settings, name):
        partial = settings.models_path / PARTIAL_DIR / name
        partial.mkdir(parents=True, exist_ok=True)
        with _progress_bar(entry, partial, progress) as bar:
            job = _Job(entry, bar, on_progress)
            if on_progress is not None:
                on_progress(job.done, entry.download_size)
            blobs = {blob: _fetch_blob(job, blob, partial) for blob in _blobs(entry)}
        installed = _install(settings, entry, blobs)
        shutil.rmtree(partial, ignore_errors=True)
    return installed


def manifest_entry(
    settings: Settings, name: str, manifest: dict[str, ManifestEntry] | None = None
) -> ManifestEntry:
    """The downloadable entry called ``name`` in the manifest (HACHI_MODEL_MANIFEST's, else
    Hachi's own); NotFound lists the known names, BadRequest says a model is bundled."""
    entries = load_manifest(settings.model_manifest) if manifest is None else manifest
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(sorted(entries))
        raise NotFound(f"unknown model {name!r}; known models: {known}", {"model": name})
    if entry.bundled_with:
        raise BadRequest(
            f"model {name!r} ships inside the {entry.bundled_with} package; nothing to download",
            {"model": name, "package": entry.bundled_with},
        )
    return entry


def mirrored_url(url: str) -> str:
    """Where a file is actually fetched from, honouring HACHI_MODEL_MIRROR."""
    mirror = os.environ.get(MIRROR_ENV, "").strip().rstrip("/")
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror}/{parts.netloc}{parts.path}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _blobs(entry: ManifestEntry) -> list[_Blob]:
    unique = {_Blob(f.url, f.sha256, f.size): None for f in entry.files}
    return list(unique)


def _progress_bar(entry: ManifestEntry, partial: Path, enabled: bool) -> tqdm:
    """One bar for the whole model, starting from what earlier attempts already fetched."""
    done = 0
    for blob in _blobs(entry):
        for candidate in (partial / blob.filename, partial / (blob.filename + PART_SUFFIX)):
            if candidate.is_file():
                done += min(candidate.stat().st_size, blob.size)
    return tqdm(
        total=entry.download_size,
        initial=done,
        desc=entry.name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not enabled,
        leave=True,
    )


def _fetch_blob(job: _Job, blob: _Blob, partial: Path) -> Path:
    """A verified copy of one blob in the partial folder, resuming what is there."""
    final = partial / blob.filename
    if final.is_file() and final.stat().st_size == blob.size:
        return final  # verified by an earlier run before it lost its .part suffix
    part = partial / (blob.filename + PART_SUFFIX)
    url = mirrored_url(blob.url)
    for _attempt in range(MAX_ATTEMPTS):
        try:
            _transfer(job, url, part, blob.size)
            break
        except _Interrupted:
            continue
    else:
        have = part.stat().st_size if part.exists() else 0
        raise job.unavailable(
            f"download of {url} was interrupted at {have} of {blob.size} bytes; "
            f"run `{pull_command(job.entry.name)}` again to resume",
            url=url,
            reason="interrupted",
        )
    _verify(job, part, blob, url)
    os.replace(part, final)
    return final


def _transfer(job: _Job, url: str, part: Path, size: int) -> None:
    """Append the missing tail of ``part`` from ``url``; _Interrupted if it stops early."""
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        _rewind(job, part, have)
        have = 0
    if have == size:
        return
    response = _open(job, url, have)
    with response:
        if have and not _resumes_at(response, have):
            _rewind(job, part, have)  # the server ignored Range: start this blob again
            have = 0
        with open(part, "ab" if have else "wb") as out:
            have += _copy(job, response, out, size - have)
            out.flush()
            os.fsync(out.fileno())
    if have < size:
        raise _Interrupted


def _open(job: _Job, url: str, offset: int) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urlopen(Request(url, headers=headers), timeout=TIMEOUT_S)
    except HTTPError as exc:
        exc.close()
        if exc.code == 416:
            raise _Interrupted from exc  # our partial no longer fits the file: restart
        raise job.unavailable(
            f"could not download {url}: HTTP {exc.code} {exc.reason} — Hachi works without "
            "this model; check the URL or HACHI_MODEL_MIRROR",
            url=url,
            reason="http_error",
            status=exc.code,
        ) from exc
    except (URLError, OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, URLError) else exc
        raise job.unreachable(url, reason) from exc


def _resumes_at(response: http.client.HTTPResponse, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")
    return response.status == 206 and content_range.startswith(f"bytes {offset}-")


def _copy(job: _Job, response: http.client.HTTPResponse, out: BinaryIO, limit: int) -> int:
    """Stream at most ``limit`` bytes; a dropped connection keeps what already arrived."""
    written = 0
    while written < limit:
        try:
            chunk = response.read1(min(CHUNK_BYTES, limit - written))  # what has arrived
        except (OSError, http.client.HTTPException):
            break  # the caller sees the short count and resumes from here
        if not chunk:
            break
        out.write(chunk)
        written += len(chunk)
        job.advance(len(chunk))
    return written


def _rewind(job: _Job, part: Path, have: int) -> None:
    part.unlink(missing_ok=True)
    job.advance(-have)


def _verify(job: _Job, part: Path, blob: _Blob, url: str) -> None:
    actual_size = part.stat().st_size
    actual = sha256_file(part) if actual_size == blob.size else ""
    if actual == blob.sha256:
        return
    part.unlink(missing_ok=True)
    job.advance(-actual_size)
    raise job.unavailable(
        f"checksum mismatch for {url}: expected sha256 {blob.sha256} and {blob.size} bytes, "
        f"got {actual or 'a different size'} ({actual_size} bytes); the download was deleted, "
        f"run `{pull_command(job.entry.name)}` to try again",
        url=url,
        reason="checksum_mismatch",
        expected=blob.sha256,
        actual=actual,
    )


def _install(settings: Settings, entry: ManifestEntry, blobs: dict[_Blob, Path]) -> InstalledModel:
    staging = new_staging_dir(settings, entry.name)
    try:
        for f in entry.files:
            blob = blobs[_Blob(f.url, f.sha256, f.size)]
            _place(f, blob, staging / f.name)
        source = f"pull:{mirrored_url(entry.files[0].url)}"
        write_model_json(staging, entry.model_json(source))
        return publish_staged(settings, staging, entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(f: ModelFile, blob: Path, destination: Path) -> None:
    """Copy a verified blob (or one member of it) to its local name in the staging folder."""
    if not f.member:
        os.replace(blob, destination)  # the manifest gives a plain blob to one file only
        return
    with zipfile.ZipFile(blob) as archive:
        member = _find_member(archive, f.member)
        if member is None:
            raise ModelUnavailable(
                f"{f.url} has no member {f.member!r}; the manifest entry is wrong",
                {"url": f.url, "member": f.member},
            )
        with archive.open(member) as source, open(destination, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)


def _find_member(archive: zipfile.ZipFile, wanted: str) -> zipfile.ZipInfo | None:
    """The exact member, else the only one ending in ``/<wanted>`` (packs with a top folder)."""
    infos = [i for i in archive.infolist() if not i.is_dir()]
    exact = [i for i in infos if i.filename == wanted]
    if exact:
        return exact[0]
    nested = [i for i in infos if i.filename.endswith("/" + wanted)]
    return nested[0] if len(nested) == 1 else None
