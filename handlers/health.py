"""``GET /healthz``: is the database and Redis reachable."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from wagedispute.platform.health import check_health

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with each part's state when all are ok, else 503 with the same body."""
    parts = check_health()
    healthy = all(part["status"] == "ok" for part in parts.values())
    return jsonify(status="ok" if healthy else "down", **parts), 200 if healthy else 503
