"""The OpenAPI 3.1 description of /api, built as plain data.

Written by hand next to the routes rather than generated from them, because what a
client needs (shapes, limits, error cases) is not in the route table; a test keeps the
two in step in both directions. Limits are the routes' own constants, so they cannot drift.
"""

from __future__ import annotations

from hachi.server.openapi.albums import album_paths, selection_paths
from hachi.server.openapi.duplicates import duplicate_paths
from hachi.server.openapi.models import model_paths, model_schemas
from hachi.server.openapi.parts import (
    BOOL,
    ID,
    INT,
    STR,
    Schema,
    components,
    json_content,
    link,
    linked,
    obj,
    operation,
    path_id,
    query,
    ref,
    text,
)
from hachi.server.openapi.people import (
    CURSOR,
    MORE,
    browse_paths,
    face_links,
    overview_paths,
    people_paths,
    search_image_paths,
)
from hachi.server.openapi.sessions import session_paths
from hachi.server.openapi.videos import video_paths
from hachi.server.params import MAX_OFFSET
from hachi.server.routes.auth import MAX_LINK_TOKEN_LENGTH, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from hachi.server.routes.folders import DEFAULT_FAILED_PAGE, MAX_FAILED_PAGE, MAX_PATH_LENGTH
from hachi.server.routes.photos import THUMB_SIZES
from hachi.server.routes.search import (
    DEFAULT_SEARCH_LIMIT,
    DEFAULT_SUGGESTIONS,
    MAX_PREFIX_LENGTH,
    MAX_QUERY_LENGTH,
    MAX_SEARCH_LIMIT,
    MAX_SUGGESTIONS,
    SUGGESTION_KINDS,
)

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"
DESCRIPTION = (
    "Private photo search. Log in with the password (session cookie) or send "
    "`Authorization: Bearer <token>`. Cookie requests that change state need an Origin "
    'of this site. Every error is `{"error": {"code", "message", "detail"}}`.'
)


def limit_param(default: int, high: int) -> Schema:
    schema = {"type": "integer", "minimum": 1, "maximum": high, "default": default}
    return query("limit", schema, "How many items to return.")


def image(description: str, media: str) -> Schema:
    return {
        "description": description,
        "content": {media: {"schema": {"type": "string", "contentEncoding": "binary"}}},
    }


def original_file() -> Schema:
    """The file as it is: a browser-viewable type inline, anything else as a download."""
    binary = {"schema": {"type": "string", "contentEncoding": "binary"}}
    return {
        "description": "The file, with its own image type (octet-stream when unknown).",
        "content": {"image/*": binary, "application/octet-stream": binary},
    }


def auth_paths() -> dict[str, Schema]:
    session = json_content(ref("Session"), "The session after the call.")
    password = obj(("password",), password=text(MAX_PASSWORD_LENGTH))
    token = query(
        "token", text(MAX_LINK_TOKEN_LENGTH), "The one-time token `hachi serve` printed.", True
    )
    return {
        "/api/login": {
            "post": operation(
                "login",
                "Log in with the password; sets the session cookie.",
                "auth",
                {"200": session},
                body=password,
                errors=(400, 401, 413, 429),
                public=True,
            )
        },
        "/api/logout": {
            "post": operation(
                "logout",
                "End this browser's session (on the server too).",
                "auth",
                {"200": session},
            )
        },
        "/api/session": {
            "get": operation("getSession", "Who is calling, and how.", "auth", {"200": session})
        },
        "/api/login/link": {
            "get": operation(
                "loginLink",
                "Redeem a one-time login link; redirects to the UI.",
                "auth",
                {
                    "303": {
                        "description": "Logged in: redirect to `/`. A spent, expired or "
                        "unknown link redirects to `/login?link=spent`, a page that says how "
                        "to get a new one (`hachi login-link`)."
                    }
                },
                params=(token,),
                errors=(400,),
                public=True,
            )
        },
        "/api/password": {
            "post": operation(
                "setPassword",
                "Set the password. The first one needs only a logged-in caller (after a "
                "login link); changing it needs `current_password`. Every other browser "
                "session ends; the caller's stays.",
                "auth",
                {"200": session},
                body=obj(
                    ("password",),
                    password={**text(MAX_PASSWORD_LENGTH), "minLength": MIN_PASSWORD_LENGTH},
                    current_password=text(MAX_PASSWORD_LENGTH),
                ),
                errors=(400, 401, 413, 429),
            )
        },
    }


def system_paths() -> dict[str, Schema]:
    health = json_content(obj(("ok",), ok=BOOL), "The server answers.")
    return {
        "/api/health": {
            "get": operation("health", "Liveness probe.", "system", {"200": health}, public=True)
        },
        "/api/status": {
            "get": operation(
                "status",
                "Index size, job and models.",
                "system",
                {"200": json_content(ref("Status"), "Current state.")},
            )
        },
        "/api/openapi.json": {
            "get": operation(
                "openapi",
                "This document.",
                "system",
                {"200": json_content({"type": "object"}, "OpenAPI 3.1 document.")},
            )
        },
    }


def folder_links(at: str) -> dict[str, Schema]:
    """Links from a folder object at JSON pointer ``at`` of an answer ("" for the root)."""
    folder_id = f"$response.body#{at}/id"
    return {
        "RescanFolder": link("rescanFolder", folder_id=folder_id),
        "FolderFailures": link("failedFiles", folder_id=folder_id),
        "RemoveFolder": link("removeFolder", folder_id=folder_id),
    }


def job_links(at: str) -> dict[str, Schema]:
    job_id = f"$response.body#{at}/id"
    return {"GetJob": link("getJob", job_id=job_id), "CancelJob": link("cancelJob", job_id=job_id)}


def photo_links(at: str) -> dict[str, Schema]:
    photo_id = f"$response.body#{at}/id"
    return {
        "GetPhoto": link("getPhoto", photo_id=photo_id),
        "GetThumbnail": link("getThumbnail", photo_id=photo_id),
        "GetOriginal": link("getOriginal", photo_id=photo_id),
    }


def folder_paths() -> dict[str, Schema]:
    folder_id = path_id("folder_id")
    added = obj(("folder", "job"), folder=ref("Folder"), job=ref("Job"))
    new_folder = obj(("path",), path=text(MAX_PATH_LENGTH))
    failed = obj(
        ("failed", "limit", "offset"),
        failed={"type": "array", "items": ref("FailedFile")},
        limit=INT,
        offset=INT,
    )
    folders = obj(("folders",), folders={"type": "array", "items": ref("Folder")})
    return {
        "/api/folders": {
            "get": operation(
                "listFolders",
                "Indexed folders.",
                "folders",
                {
                    "200": linked(
                        json_content(folders, "All folders."), **folder_links("/folders/0")
                    )
                },
            ),
            "post": operation(
                "addFolder",
                "Add a folder and start indexing it.",
                "folders",
                {
                    "201": linked(
                        json_content(added, "Added; the job indexes it."),
                        **folder_links("/folder"),
                        **job_links("/job"),
                    )
                },
                body=new_folder,
                errors=(400, 413),
            ),
        },
        "/api/folders/{folder_id}": {
            "delete": operation(
                "removeFolder",
                "Forget a folder and its photos (files stay).",
                "folders",
                {"204": {"description": "Removed."}},
                params=(folder_id,),
                errors=(400, 404),
            )
        },
        "/api/folders/{folder_id}/rescan": {
            "post": operation(
                "rescanFolder",
                "Look for new, changed, moved and removed files.",
                "folders",
                {
                    "202": linked(
                        json_content(obj(("job",), job=ref("Job")), "Queued."), **job_links("/job")
                    )
                },
                params=(folder_id,),
                errors=(400, 404),
            )
        },
        "/api/failed": {
            "get": operation(
                "failedFiles",
                "Files that could not be indexed, and why.",
                "folders",
                {"200": json_content(failed, "One page.")},
                params=(
                    query("folder_id", ID, "Only this folder."),
                    limit_param(DEFAULT_FAILED_PAGE, MAX_FAILED_PAGE),
                    query(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                        "Items to skip.",
                    ),
                ),
                errors=(400,),
            )
        },
    }


def job_paths() -> dict[str, Schema]:
    job_id = path_id("job_id")
    job = json_content(ref("Job"), "The job.")
    current = obj(("job",), job={"anyOf": [ref("Job"), {"type": "null"}]})
    return {
        "/api/jobs/current": {
            "get": operation(
                "currentJob",
                "The running or queued job, if any.",
                "jobs",
                {"200": json_content(current, "The job or null.")},
            )
        },
        "/api/jobs/{job_id}": {
            "get": operation(
                "getJob",
                "One job's progress.",
                "jobs",
                {"200": job},
                params=(job_id,),
                errors=(400, 404),
            )
        },
        "/api/jobs/{job_id}/cancel": {
            "post": operation(
                "cancelJob",
                "Ask a job to stop.",
                "jobs",
                {"200": job},
                params=(job_id,),
                errors=(400, 404),
            )
        },
    }


OFFSET = query(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
    "Start at this photo of the answer instead of at a cursor (a day's start, from "
    "`/api/timeline`); not with `cursor`.",
)


def search_paths() -> dict[str, Schema]:
    q = query("q", text(MAX_QUERY_LENGTH), "The query line.", True)
    suggestions = obj(("suggestions",), suggestions={"type": "array", "items": ref("Suggestion")})
    return {
        "/api/search": {
            "get": operation(
                "search",
                "Search with free text and filters.",
                "search",
                {
                    "200": linked(
                        json_content(ref("SearchResponse"), "One page of results."),
                        **photo_links("/results/0"),
                    )
                },
                params=(
                    q,
                    limit_param(DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT),
                    CURSOR,
                    OFFSET,
                    MORE,
                    query(
                        "timeline",
                        {"enum": ["0", "1", "true", "false"], "default": "0"},
                        "Also answer `timeline`: what `/api/timeline` answers for `q`.",
                    ),
                ),
                errors=(400, 503),
            )
        },
        "/api/search/points": {
            "get": operation(
                "searchPoints",
                "Every geotagged result of a query, for a map: no page limit.",
                "search",
                {"200": json_content(ref("SearchPoints"), "Positions in result order.")},
                params=(q, MORE),
                errors=(400, 503),
            )
        },
        "/api/timeline": {
            "get": operation(
                "timeline",
                "Photos per day of what a search finds, in the search's order: the running "
                "sum of `count` is the `offset` at which each day starts in `/api/search`'s "
                "answer. Empty `days` when the answer is ranked by relevance.",
                "search",
                {"200": json_content(ref("Timeline"), "Days, in the search's order.")},
                params=(query("q", text(MAX_QUERY_LENGTH), "The query line."), MORE),
                errors=(400, 503),
            )
        },
        "/api/suggest": {
            "get": operation(
                "suggest",
                "Autocomplete for filters.",
                "search",
                {"200": json_content(suggestions, "Best matches first.")},
                params=(
                    query("prefix", text(MAX_PREFIX_LENGTH), "What was typed."),
                    query("kind", {"enum": list(SUGGESTION_KINDS)}, "Only this kind."),
                    limit_param(DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS),
                    query(
                        "q",
                        text(MAX_QUERY_LENGTH),
                        "The rest of the search bar: counts include only the photos its "
                        "filters select (its free text is ignored).",
                    ),
                ),
                errors=(400,),
            )
        },
    }


def photo_paths() -> dict[str, Schema]:
    photo_id = path_id("photo_id")
    size = query(
        "size",
        {"enum": list(THUMB_SIZES), "default": "grid"},
        "Grid thumbnail, its 2x version, or large preview.",
    )
    return {
        "/api/photos/{photo_id}": {
            "get": operation(
                "getPhoto",
                "Everything known about a photo.",
                "photos",
                {"200": linked(json_content(ref("Photo"), "Details."), **face_links("/faces/0"))},
                params=(photo_id,),
                errors=(400, 404),
            )
        },
        "/api/photos/{photo_id}/thumbnail": {
            "get": operation(
                "getThumbnail",
                "WebP thumbnail (ETag, cacheable).",
                "photos",
                {
                    "200": image("The thumbnail.", "image/webp"),
                    "304": {"description": "Unchanged."},
                },
                params=(
                    photo_id,
                    size,
                    query("v", STR, "Content version; when given, the answer is cached for good."),
                ),
                errors=(400, 404),
            )
        },
        "/api/thumbs/{name}": {
            "get": operation(
                "getThumbByContent",
                "A thumbnail by content hash, as search results and photo details link it "
                "(`thumbnail_url`, `preview_url`): cached for good (`private, immutable`). "
                "Behind Caddy, a logged-in browser gets these from Caddy itself.",
                "photos",
                {
                    "200": image("The thumbnail.", "image/webp"),
                    "304": {"description": "Unchanged."},
                },
                params=(
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "description": "`<content hash>.grid.webp`, `.grid2x.webp` (twice as "
                        "large, for 2x screens) or `.preview.webp`"
                        " (32 lower-case hex digits); anything else is a 404.",
                        "schema": {
                            "type": "string",
                            "pattern": "^[0-9a-f]{32}\\.(grid|grid2x|preview)\\.webp$",
                        },
                    },
                ),
                errors=(404,),
            )
        },
        "/api/photos/{photo_id}/original": {
            "get": operation(
                "getOriginal",
                "The original file, untouched.",
                "photos",
                {
                    "200": original_file(),
                    "304": {"description": "Unchanged."},
                },
                params=(photo_id,),
                errors=(400, 404),
            )
        },
    }


def paths() -> dict[str, Schema]:
    result: dict[str, Schema] = {}
    groups = (
        auth_paths,
        session_paths,
        system_paths,
        folder_paths,
        job_paths,
        search_paths,
        photo_paths,
        video_paths,
        search_image_paths,
        people_paths,
        overview_paths,
        duplicate_paths,
        browse_paths,
        model_paths,
        album_paths,
        selection_paths,
    )
    for group in groups:
        result.update(group())
    return result


def openapi_document() -> Schema:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Hachi", "version": API_VERSION, "description": DESCRIPTION},
        "paths": paths(),
        "components": components(extra_schemas=model_schemas()),
        "security": [{"cookieAuth": []}, {"bearerAuth": []}],
    }
