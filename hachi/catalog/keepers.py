"""Which photo of a near-duplicate group to keep, and a sentence saying why.

Hachi deletes nothing; this is a suggestion for the person (or their script) cleaning up.
The criteria, in order: the most pixels; a camera's own format over a conversion (a PNG or
WebP made from a JPEG adds no detail); the most complete metadata; the oldest date, then the
oldest file (the original came first, edits and exports after it); then the larger file
(less compressed). The first criterion that tells the keeper from the runner-up is the
reason given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONVERSION_MIMES = frozenset({"image/png", "image/webp", "image/gif", "image/bmp", "image/avif"})
"""Formats photos are converted to, rarely taken in."""


@dataclass(frozen=True)
class _Criterion:
    key: Callable[[dict[str, Any]], Any]  # larger is better
    why: Callable[[dict[str, Any], dict[str, Any]], str]


def _pixels(p: dict[str, Any]) -> int:
    return int(p.get("width") or 0) * int(p.get("height") or 0)


def _label(mime: str | None) -> str:
    return (mime or "unknown").removeprefix("image/").upper()


def _dated(p: dict[str, Any]) -> tuple[int, str]:
    """Metadata dates before file dates, then earlier before later (negated for 'larger')."""
    taken = p.get("taken_at") or "9999"
    has = p.get("taken_source") not in (None, "file_mtime")
    return (int(has), "".join(chr(0x10FFFF - ord(c)) for c in taken))


CRITERIA: tuple[_Criterion, ...] = (
    _Criterion(
        _pixels,
        lambda k, r: (
            f"largest: {k['width']}x{k['height']} pixels (next {r['width']}x{r['height']})"
        ),
    ),
    _Criterion(
        lambda p: int(p.get("mime") not in CONVERSION_MIMES),
        lambda k, r: f"original format: {_label(k['mime'])}, not a {_label(r['mime'])} conversion",
    ),
    _Criterion(
        lambda p: int(p.get("exif_fields") or 0),
        lambda k, r: f"most complete metadata: {k['exif_fields']} fields (next {r['exif_fields']})",
    ),
    _Criterion(_dated, lambda k, r: f"oldest: taken {k['taken_at']}"),
    _Criterion(
        lambda p: -int(p.get("mtime_ns") or 0), lambda k, r: "oldest file: the others came later"
    ),
    _Criterion(
        lambda p: int(p.get("size") or 0),
        lambda k, r: f"same pixels, larger file: less compressed ({k['size']} bytes)",
    ),
    _Criterion(lambda p: -int(p["id"]), lambda k, r: "indexed first"),
)


def choose_keeper(photos: list[dict[str, Any]]) -> tuple[int, str]:
    """(id of the photo to keep, why) for two or more photos' facts (``keeper_facts``)."""
    ranked = sorted(photos, key=lambda p: tuple(c.key(p) for c in CRITERIA), reverse=True)
    keeper, runner_up = ranked[0], ranked[1]
    if all(_is_identical(p, keeper) for p in ranked[1:]):
        return int(keeper["id"]), "identical files: any one will do"
    for criterion in CRITERIA:
        if criterion.key(keeper) != criterion.key(runner_up):
            return int(keeper["id"]), criterion.why(keeper, runner_up)
    return int(keeper["id"]), "indexed first"


def _is_identical(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a.get("content_hash")) and a.get("content_hash") == b.get("content_hash")
