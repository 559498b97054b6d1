"""The URLs a client fetches what the JSON describes from: photos' thumbnails, previews and
originals, faces' crops.

The library and the search engine return rows and dicts without URLs (so the CLI's JSON
carries none); the routes add them here, the one place that knows the API's paths.
"""

from __future__ import annotations

from typing import Any

from hachi.media.thumbnails import GRID, GRID_2X, PREVIEW, moment_version


def thumb_url(content_hash: str, kind: str) -> str:
    """A thumbnail's URL names its content, so it never changes and is cached for good."""
    return f"/api/thumbs/{content_hash}.{kind}.webp"


def thumbnail_urls(content_hash: str) -> dict[str, str]:
    return {
        "thumbnail_url": thumb_url(content_hash, GRID),
        "thumbnail_2x_url": thumb_url(content_hash, GRID_2X),
        "preview_url": thumb_url(content_hash, PREVIEW),
    }


def photo_urls(photo_id: int, content_hash: str) -> dict[str, str]:
    return {**thumbnail_urls(content_hash), "original_url": f"/api/photos/{photo_id}/original"}


def with_thumbnail_url(hit: dict[str, Any]) -> dict[str, Any]:
    """A search hit as the web shows it: its grid thumbnails' (1x and 2x) and preview's URLs
    added. ``width`` and ``height`` are already those of the upright photo."""
    return {**hit, **thumbnail_urls(hit["content_hash"])}


def with_face_url(face: dict[str, Any]) -> dict[str, Any]:
    return {**face, "thumbnail_url": f"/api/faces/{face['id']}/thumbnail"}


def search_page(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "results": [with_thumbnail_url(hit) for hit in result["results"]]}


def video_url(photo_id: int) -> str:
    return f"/api/photos/{photo_id}/video"


def moment_urls(photo_id: int, content_hash: str, moments: list[float]) -> list[str]:
    """The pictures of a video's moments, in ``moments`` order; each URL carries the
    moment's content and time (``v``), so it is cached for good."""
    return [
        f"/api/photos/{photo_id}/moments/{n}.webp?v={moment_version(content_hash, at_s)}"
        for n, at_s in enumerate(moments)
    ]


def photo_page(details: dict[str, Any]) -> dict[str, Any]:
    faces = [with_face_url(face) for face in details["faces"]]
    urls: dict[str, Any] = photo_urls(details["id"], details["content_hash"])
    if details.get("kind") == "video":
        urls["video_url"] = video_url(details["id"])
        urls["moment_urls"] = moment_urls(
            details["id"], details["content_hash"], details.get("moments") or []
        )
    return {**details, **urls, "faces": faces}
