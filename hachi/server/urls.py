"""The URLs a client fetches what the JSON describes from: photos' thumbnails, previews and
originals, faces' crops.

The library and the search engine return rows and dicts without URLs (so the CLI's JSON
carries none); the routes add them here, the one place that knows the API's paths.
"""

from __future__ import annotations

from typing import Any


def photo_urls(photo_id: int) -> dict[str, str]:
    base = f"/api/photos/{photo_id}"
    return {
        "thumbnail_url": f"{base}/thumbnail",
        "preview_url": f"{base}/thumbnail?size=preview",
        "original_url": f"{base}/original",
    }


def with_thumbnail_url(hit: dict[str, Any]) -> dict[str, Any]:
    """A search hit as the web shows it: its grid thumbnail's URL added."""
    return {**hit, "thumbnail_url": photo_urls(hit["id"])["thumbnail_url"]}


def with_face_url(face: dict[str, Any]) -> dict[str, Any]:
    return {**face, "thumbnail_url": f"/api/faces/{face['id']}/thumbnail"}


def search_page(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "results": [with_thumbnail_url(hit) for hit in result["results"]]}


def photo_page(details: dict[str, Any]) -> dict[str, Any]:
    faces = [with_face_url(face) for face in details["faces"]]
    return {**details, **photo_urls(details["id"]), "faces": faces}
