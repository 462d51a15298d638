"""HTTP endpoints: the mini-program API, the H5 form, the bureau console."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from wagedispute import create_app


def create_web_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The core app plus blueprints and the one JSON error shape."""
    app = create_app(config)
    from handlers import pages, security

    security.init_app(app)
    pages.register(app)
    from wagedispute.dev import cli

    cli.register(app)
    from handlers import errors, health

    errors.register(app)
    app.register_blueprint(health.blueprint)
    from handlers import qr

    app.register_blueprint(qr.blueprint)
    from handlers import dev, wechat_push

    app.register_blueprint(dev.blueprint)
    app.register_blueprint(wechat_push.blueprint)
    from handlers import console

    app.register_blueprint(console.blueprint)
    from handlers import console_supervision

    app.register_blueprint(console_supervision.blueprint)
    from handlers import console_calendar, console_national, console_reception, reception_api

    app.register_blueprint(console_calendar.blueprint)
    app.register_blueprint(console_reception.blueprint)
    app.register_blueprint(console_national.blueprint)
    app.register_blueprint(reception_api.blueprint)
    from handlers import h5, miniprogram, openapi, phone_intake

    app.register_blueprint(miniprogram.blueprint)
    app.register_blueprint(miniprogram.link_verify_blueprint)
    app.register_blueprint(phone_intake.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(h5.blueprint)
    from handlers import followup, foreman, team

    app.register_blueprint(foreman.session_blueprint)
    app.register_blueprint(foreman.blueprint)
    app.register_blueprint(team.blueprint)
    app.register_blueprint(followup.blueprint)
    from handlers import sessions

    app.register_blueprint(sessions.blueprint)
    if app.config["BENCH_ENDPOINTS"]:
        app.register_blueprint(miniprogram.bench_blueprint)
    security.limit_routes(app)
    return app
