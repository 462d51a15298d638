"""Liveness of what the service stands on: the database and Redis."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app

from wagedispute.platform.database import db

log = logging.getLogger(__name__)


def check_health() -> dict[str, dict[str, str]]:
    """Ask the database and Redis for a trivial answer; report each as ok or down."""
    report: dict[str, dict[str, str]] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        report["database"] = {"status": "ok", "backend": db.engine.dialect.name}
    except Exception as exc:  # any failure means "down"
        db.session.rollback()
        log.warning("health: database down: %s", type(exc).__name__)
        report["database"] = {"status": "down", "error": type(exc).__name__}
    try:
        current_app.extensions["wagedispute.redis"].ping()
        report["redis"] = {"status": "ok"}
    except Exception as exc:
        log.warning("health: redis down: %s", type(exc).__name__)
        report["redis"] = {"status": "down", "error": type(exc).__name__}
    return report
