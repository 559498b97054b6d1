"""Models: which CLIP model the library uses, and switching it."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hachi.server.context import library
from hachi.server.params import body_text, json_object

MAX_MODEL_NAME_LENGTH = 100
bp = Blueprint("models", __name__)


@bp.get("/models")
def list_models() -> ResponseReturnValue:
    return jsonify(library().model_service.describe())


@bp.put("/models/active")
def use_model() -> ResponseReturnValue:
    """Switch the library's CLIP model; an "embed" job re-embeds in the background."""
    name = body_text(json_object(), "name", MAX_MODEL_NAME_LENGTH)
    answer = library().model_service.use(name)
    return jsonify(answer)
