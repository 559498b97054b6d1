"""OpenAPI paths and shapes of models: the active CLIP model and switching it."""

from __future__ import annotations

from hachi.ml.manifest import NAME_PATTERN
from hachi.server.openapi.parts import (
    BOOL,
    INT,
    NUM,
    STR,
    Schema,
    json_content,
    nullable,
    obj,
    operation,
    ref,
)
from hachi.server.routes.models import MAX_MODEL_NAME_LENGTH

DOWNLOAD: Schema = obj(
    ("model", "task", "state", "done_bytes", "total_bytes", "error", "command"),
    model=STR,
    task=STR,
    state={"enum": ["downloading", "installed", "failed", "stopped"]},
    done_bytes=INT,
    total_bytes=INT,
    error={**nullable("string"), "description": "Why it failed (state failed)."},
    command={**STR, "description": "The one command that retries by hand."},
)
ACTIVE_MODEL: Schema = obj(
    ("name", "source", "overridden", "library_choice", "installed", "download"),
    name=STR,
    source={
        "enum": ["library", "environment", "default"],
        "description": "Who chose it: the library setting, HACHI_CLIP_MODEL, or Hachi.",
    },
    overridden={**BOOL, "description": "HACHI_CLIP_MODEL overrides the library's choice."},
    library_choice=nullable("string"),
    installed=BOOL,
    download={"anyOf": [ref("Download"), {"type": "null"}]},
    image_tower={
        "anyOf": [ref("ImageTower"), {"type": "null"}],
        "description": "Which image tower indexes with this model, and why (null: the "
        "model is not installed).",
    },
)
IMAGE_TOWER: Schema = obj(
    ("tower", "reason", "checked_photos", "check_photos", "check", "description"),
    tower={"enum": ["int8", "float32"]},
    reason={
        "enum": ["forced", "off", "absent", "agreed", "disagreed", "checking"],
        "description": "forced/off: HACHI_CLIP_IMAGE_INT8=on/off; absent: the model has no "
        "int8 image tower; agreed/disagreed: the check on the library's first photos chose "
        "int8/float32; checking: that check is under way (float32 meanwhile).",
    },
    checked_photos={**INT, "description": "Photos the check has (or had) measured."},
    check_photos={**INT, "description": "Photos the check measures before deciding."},
    check={
        "anyOf": [
            obj(
                ("fingerprint", "photos", "p1_cosine", "mean_cosine", "min_cosine", "tower"),
                fingerprint=STR,
                photos=INT,
                p1_cosine=NUM,
                mean_cosine=NUM,
                min_cosine=NUM,
                tower={"enum": ["int8", "float32"]},
                decided_at=NUM,
            ),
            {"type": "null"},
        ],
        "description": "The recorded decision: cosines between the two towers' embeddings.",
    },
    description={**STR, "description": "One sentence for people, e.g. in `hachi status`."},
)
INSTALLED_MODEL: Schema = obj(
    ("name", "task", "size_bytes", "source", "active"),
    name=STR,
    task=STR,
    size_bytes=INT,
    source=STR,
    active=BOOL,
)
MODELS: Schema = obj(
    ("active", "installed"),
    active=ref("ActiveModel"),
    installed={"type": "array", "items": ref("InstalledModel")},
)


def model_schemas() -> dict[str, Schema]:
    return {
        "Download": DOWNLOAD,
        "ActiveModel": ACTIVE_MODEL,
        "ImageTower": IMAGE_TOWER,
        "InstalledModel": INSTALLED_MODEL,
        "Models": MODELS,
    }


def model_paths() -> dict[str, Schema]:
    name = obj(
        ("name",),
        name={
            "type": "string",
            "maxLength": MAX_MODEL_NAME_LENGTH,
            "pattern": NAME_PATTERN.pattern,
        },
    )
    switched = {
        **MODELS,
        "required": [*MODELS["required"], "job"],
        "properties": {
            **MODELS["properties"],
            "job": {
                "anyOf": [ref("Job"), {"type": "null"}],
                "description": "The job that re-embeds the library (null: nothing to do).",
            },
        },
    }
    return {
        "/api/models": {
            "get": operation(
                "listModels",
                "The active CLIP model and every installed CLIP model.",
                "models",
                {"200": json_content(ref("Models"), "Models.")},
            )
        },
        "/api/models/active": {
            "put": operation(
                "useModel",
                "Make an installed CLIP model the library's; re-embeds in the background.",
                "models",
                {"200": json_content(switched, "Switched; `job` re-embeds.")},
                body=name,
                errors=(400, 404, 413),
            )
        },
    }
