"""``GET /api/v1/openapi.json``: the API described from the models that validate it."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from handlers.api import openapi_document

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/api/v1/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of the mini-program API."""
    return jsonify(openapi_document())
