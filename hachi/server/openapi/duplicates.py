"""OpenAPI paths of near-duplicate groups (see openapi/__init__.py for the rest)."""

from __future__ import annotations

from hachi.catalog.duplicates import KINDS
from hachi.server.openapi.parts import (
    BOOL,
    INT,
    STR,
    Schema,
    json_content,
    nullable,
    obj,
    operation,
    query,
    search_result_schema,
)

KIND: Schema = {"type": "string", "enum": list(KINDS)}
IDS: Schema = {"type": "array", "items": INT}

STACK: Schema = obj(
    ("group", "kind", "count", "ids"),
    group=INT,
    kind=KIND,
    count=INT,
    ids=IDS,
)
"""A search hit standing for a near-duplicate group (absent with ``stack:off``)."""

DUPLICATE_PHOTO: Schema = {
    **search_result_schema(),
    "properties": {
        **search_result_schema()["properties"],
        "width": nullable("integer"),
        "height": nullable("integer"),
        "size": INT,
        "mime": STR,
        "taken_source": nullable("string"),
        "exif_fields": INT,
        "keep": BOOL,
    },
}
GROUP: Schema = obj(
    ("id", "kind", "photos", "keep", "why_keep", "redundant"),
    id=INT,
    kind=KIND,
    photos={"type": "array", "items": DUPLICATE_PHOTO},
    keep=INT,
    why_keep=STR,
    redundant=IDS,
)


def duplicate_paths() -> dict[str, Schema]:
    body = obj(
        ("groups", "photos", "redundant", "pending"),
        groups={"type": "array", "items": GROUP},
        photos=INT,
        redundant=INT,
        pending=INT,
    )
    return {
        "/api/duplicates": {
            "get": operation(
                "listDuplicates",
                "Near-duplicate groups (identical, edited copies, bursts) with the photo "
                "to keep and why; nothing is ever deleted.",
                "duplicates",
                {"200": json_content(body, "Largest groups first.")},
                params=(query("kind", KIND, "Only groups of this kind."),),
                errors=(400,),
            )
        }
    }
