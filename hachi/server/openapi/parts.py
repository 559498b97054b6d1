"""Building blocks of the OpenAPI document: schema helpers, shared shapes, error answers."""

from __future__ import annotations

from typing import Any

from hachi.server.params import MAX_ID
from hachi.server.routes.search import SUGGESTION_KINDS

Schema = dict[str, Any]

ERROR_RESPONSES = {
    400: ("BadRequest", "Malformed input; `detail.field` names the culprit."),
    401: ("Unauthorized", "Not logged in; `detail.password_set` says whether a password exists."),
    403: ("Forbidden", "Unknown Host header, or a cookie request from a foreign Origin."),
    404: ("NotFound", "No such resource."),
    409: ("Conflict", "Not possible in the resource's present state; `message` says why."),
    413: ("TooLarge", "Request body over the limit."),
    416: (
        "RangeNotSatisfiable",
        "The byte range lies outside the file; `Content-Range` gives its size.",
    ),
    422: ("Unprocessable", "The uploaded file is not a readable photo."),
    429: ("TooManyRequests", "Too many failed logins; wait `Retry-After` seconds."),
    503: ("Unavailable", "A model is missing; `detail` names the command that installs it."),
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return {"type": "object", "required": list(required), "properties": properties}


def nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


INT = {"type": "integer"}
STR = {"type": "string"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
NO_NUL = "^[^\\u0000]*$"  # every text input refuses NUL characters (params._checked_text)
BOOL = {"type": "boolean"}
NUM = {"type": "number"}


def text(max_length: int) -> Schema:
    """A string input as params.py checks it: at most ``max_length`` characters, no NUL."""
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL}


def json_content(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def link(op_id: str, body: Schema | None = None, **parameters: str) -> Schema:
    """An OpenAPI link: feed values of this answer (``$response.body#/...``) to ``op_id``."""
    found: Schema = {"operationId": op_id, "parameters": parameters}
    if body is not None:
        found["requestBody"] = body
    return found


def linked(response: Schema, **links: Schema) -> Schema:
    """A response with links to the operations its ids lead to (used by stateful tests)."""
    return {**response, "links": links}


def path_id(name: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": "Positive integer id (64-bit); anything else is a 400.",
        "schema": ID,
    }


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def operation(
    op_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Schema],
    *,
    params: tuple[Schema, ...] = (),
    body: Schema | None = None,
    errors: tuple[int, ...] = (),
    public: bool = False,
) -> Schema:
    """One operation; every non-public one may also answer 401 and 403."""
    codes = set(errors) | ({403} if public else {401, 403})
    all_responses = dict(responses)
    for code in sorted(codes):
        all_responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[code][0]}"}
    op: Schema = {"operationId": op_id, "summary": summary, "tags": [tag]}
    op["responses"] = all_responses
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        op["security"] = []
    return op


def schemas() -> dict[str, Schema]:
    return {
        "Error": obj(
            ("error",),
            error=obj(
                ("code", "message", "detail"),
                code=STR,
                message=STR,
                detail={"description": "Machine-readable context, or null."},
            ),
        ),
        "Session": obj(
            ("authenticated", "method", "password_set"),
            authenticated=BOOL,
            method={"enum": ["cookie", "bearer", None]},
            password_set=BOOL,
        ),
        "Folder": obj(
            ("id", "path", "added_at", "last_scan_at", "photos", "failed"),
            id=INT,
            path=STR,
            added_at=STR,
            last_scan_at=nullable("string"),
            photos=INT,
            failed=INT,
            indexing={
                "description": "The unfinished job that covers this folder, or null; its "
                "photos count grows as that job commits.",
                "oneOf": [
                    {"type": "null"},
                    obj(
                        ("job_id", "state", "phase"),
                        job_id=INT,
                        state=STR,
                        phase=nullable("string"),
                    ),
                ],
            },
        ),
        "Job": job_schema(),
        "FailedFile": obj(("path", "error"), path=STR, error=STR, failed_at=nullable("string")),
        "SearchResult": search_result_schema(),
        "SearchResponse": obj(
            ("query", "results", "next_cursor"),
            query=STR,
            parsed={"description": "The query as the parser understood it."},
            total=INT,
            took_ms=NUM,
            results={"type": "array", "items": ref("SearchResult")},
            next_cursor=nullable("string"),
            notices={"type": "array", "items": STR},
            semantic={**BOOL, "description": "Whether CLIP ranked the results."},
            model={**STR, "description": "The CLIP model (semantic results only)."},
            query_encoder={
                "enum": ["int8", "float32"],
                "description": "Which text tower encoded the query (semantic results only).",
            },
            cutoff={
                **nullable("number"),
                "description": "The relevance score a photo needed; null when all are ranked.",
            },
            hidden={**INT, "description": "Matches the cutoff left out (ask with more=1|2)."},
            first_pass={
                "enum": ["index", "all"],
                "description": "Whether the approximate first pass read the IVF index's "
                "nearest lists or every photo (semantic results only).",
            },
            more=INT,
            stacked={
                **INT,
                "description": "Matching photos not shown as hits of their own: near-duplicate "
                "copies stacked under a hit's `stack` (0 with `stack:off`).",
            },
            order={
                "enum": ["date_desc", "date_asc", "distance", "rank"],
                "description": "How the results are ordered: newest or oldest first, nearest "
                "first (`sort:distance`), or by relevance.",
            },
            timeline={
                "anyOf": [ref("Timeline"), {"type": "null"}],
                "description": "With `timeline=1`: photos per day (null when ranked).",
            },
        ),
        "Timeline": obj(
            ("query", "order", "total", "days", "undated"),
            query=STR,
            order={"enum": ["date_desc", "date_asc", "distance", "rank"]},
            total={
                **nullable("integer"),
                "description": "Photos found; null when ranked by relevance (no timeline).",
            },
            days={
                "type": "array",
                "items": obj(
                    ("day", "count"),
                    day={**STR, "description": "YYYY-MM-DD, the photos' local date."},
                    count=INT,
                ),
            },
            undated={**INT, "description": "Photos with no date, after every day."},
        ),
        "SearchPoints": obj(
            ("query", "total", "geotagged", "points"),
            query=STR,
            parsed={"description": "The query as the parser understood it."},
            total=INT,
            geotagged={**INT, "description": "How many of the results have a position."},
            took_ms=NUM,
            points={
                "type": "array",
                "description": "[photo id, latitude, longitude] of every geotagged result, "
                "in result order, degrees rounded to 5 decimals.",
                "items": {"type": "array", "items": NUM, "minItems": 3, "maxItems": 3},
            },
            notices={"type": "array", "items": STR},
        ),
        "Photo": photo_schema(),
        "Suggestion": obj(
            ("kind", "value", "label"),
            kind={"enum": list(SUGGESTION_KINDS)},
            value=STR,
            label=STR,
            count=INT,
        ),
        "Status": {
            **obj(
                ("photos", "folders"),
                photos=INT,
                failed=INT,
                folders=INT,
                models=obj(("clip",), clip=ref("ActiveModel")),
                downloads={
                    "type": "array",
                    "items": ref("Download"),
                    "description": "Models being fetched in the background, or whose fetch "
                    "failed or stopped (`command` retries).",
                },
                watch={
                    "type": "object",
                    "description": "How folders are kept current: `running` (while `hachi "
                    "serve` runs), `enabled`, and per folder `path`, `mode` (events, "
                    "polling, unwatched) and `reason`; `notices` say when one is polled.",
                },
            ),
            "additionalProperties": True,
        },
    }


def job_schema() -> Schema:
    counters = {name: INT for name in ("found", "done", "unchanged", "failed", "removed", "moved")}
    return obj(
        ("id", "kind", "state"),
        id=INT,
        kind=STR,
        folder_ids={"type": "array", "items": INT},
        state={"enum": ["queued", "running", "cancelling", "done", "cancelled", "failed"]},
        created_at=STR,
        started_at=nullable("string"),
        finished_at=nullable("string"),
        current=nullable("string"),
        error=nullable("string"),
        rate={
            **nullable("number"),
            "description": "Files or photos a second, of the phase now running.",
        },
        eta_s={
            **nullable("number"),
            "description": "Seconds left for the whole job, every pass included.",
        },
        eta_partial={
            **BOOL,
            "description": "A phase left has never been timed: eta_s is a lower bound.",
        },
        passes={
            "type": "array",
            "description": "The scan, then each model pass: state, counts, rate and ETA.",
            "items": obj(
                ("task", "state", "done", "total", "rate", "eta_s"),
                task={**STR, "description": "scan, clip, faces, ocr, ..."},
                state={"enum": ["done", "running", "pending"]},
                done=INT,
                total=INT,
                rate=nullable("number"),
                eta_s=nullable("number"),
            ),
        },
        scoped_paths={
            **nullable("integer"),
            "description": "How many changed paths a watch job scans; null: whole folders.",
        },
        **counters,
    )


def photo_schema() -> Schema:
    """A search result's fields and more (EXIF, faces, text); a video's moments named."""
    result = search_result_schema()
    moments = {
        "type": "array",
        "items": NUM,
        "description": "A video's sampled moments, seconds from its start (empty for a photo).",
    }
    pictures = {
        "type": "array",
        "items": STR,
        "description": "A video's moment pictures, one per `moments` entry, in order.",
    }
    properties = {**result["properties"], "moments": moments, "moment_urls": pictures}
    return {**result, "properties": properties, "additionalProperties": True}


def search_result_schema() -> Schema:
    return obj(
        ("id", "path", "name"),
        id=INT,
        path=STR,
        name=STR,
        score=nullable("number"),
        taken_at=nullable("string"),
        camera=nullable("string"),
        place=nullable("string"),
        width=nullable("integer"),
        height=nullable("integer"),
        thumbnail_url=STR,
        thumbnail_2x_url={**STR, "description": "Twice the grid size, for 2x and 3x screens."},
        preview_url=STR,
        kind={"enum": ["photo", "video"]},
        duration_s=nullable("number"),
        at_s={
            **nullable("number"),
            "description": "Videos: when the moment that matched best starts, in seconds.",
        },
        stack=obj(
            ("group", "kind", "count", "ids"),
            group=INT,
            kind={"type": "string", "enum": ["identical", "edited", "burst"]},
            count=INT,
            ids={"type": "array", "items": INT},
        ),
    )


def components(extra_schemas: dict[str, Schema] | None = None) -> Schema:
    responses = {
        name: json_content(ref("Error"), description)
        for name, description in ERROR_RESPONSES.values()
    }
    responses["TooManyRequests"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": INT}
    }
    return {
        "schemas": {**schemas(), **(extra_schemas or {})},
        "responses": responses,
        "securitySchemes": {
            "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "hachi_session"},
            "bearerAuth": {"type": "http", "scheme": "bearer"},
        },
    }
