"""HTTP endpoints: the mini-program API, the H5 form, the bureau console."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from wagedispute import create_app


def create_web_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The core app plus blueprints and the one JSON error shape."""
    app = create_app(config)
    from handlers import errors, health

    errors.register(app)
    app.register_blueprint(health.blueprint)
    return app
