"""What every HTML page of the app shares, installed once by ``create_web_app``: the session
cookie's flags, the CSRF token for forms, template filters for money and district time, and the
enums' label maps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf

from wagedispute.models import CaseStatus, Outcome, Urgency
from wagedispute.platform.timekeeping import district_text


def register(app: Flask) -> None:
    """Install the shared page helpers on the app."""
    app.session_interface = PageSessionInterface()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.jinja_env.globals.update(csrf_token=csrf_token)
    app.add_template_filter(yuan, "yuan")
    app.add_template_filter(local_time, "local_time")
    app.context_processor(enum_labels)


class PageSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS.

    ``request.is_secure`` follows ``X-Forwarded-Proto`` when the app runs behind ProxyFix.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (
            bool(request) and request.is_secure
        )

    def get_cookie_samesite(self, app: Flask) -> str:
        return app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"


def csrf_token() -> str:
    """The session's CSRF token (Flask-WTF's, signed), for hidden form fields."""
    return generate_csrf()


def yuan(fen: int | float | None) -> str:
    """Money in fen shown as 元 with two decimals."""
    if fen is None:
        return "—"
    return f"{fen / 100:,.2f}"


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC moment shown in the district's time."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return district_text(value, fmt)


def enum_labels() -> dict[str, Any]:
    """Value-to-label maps for charts and event data; every label is its enum's own."""
    return {
        "STATUS_LABELS": CaseStatus.labels(),
        "URGENCY_LABELS": Urgency.labels(),
        "OUTCOME_LABELS": Outcome.labels(),
    }
