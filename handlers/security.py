"""App-wide hardening, from one place: route converters, proxy headers, rate limits, CSRF,
security headers, ``Allow`` on 405, ``Retry-After`` on 429, and database refusals as 422.

``init_app(app)`` runs before any blueprint is registered (the ``int`` converter must be in place
when the routes are compiled); ``limit_routes(app)`` runs after, when the endpoints exist.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import DataError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from handlers.errors import error_response
from handlers.h5 import message_page
from wagedispute.platform.database import db
from wagedispute.platform.ratelimit import init_limiter, limit_route
from wagedispute.platform.validation import MAX_ID

log = logging.getLogger(__name__)

csrf = CSRFProtect()

# No inline script anywhere; inline style attributes remain in a few templates (chart bars).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# Pages that carry personal data, tokens or codes: never stored by a browser or a proxy.
NO_STORE_BLUEPRINTS = ("console", "h5", "dev")


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number beyond any id is "not found", never a 500."""

    def __init__(
        self, map: Map, fixed_digits: int = 0, min: int | None = 1, max: int | None = MAX_ID
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max)


def init_app(app: Flask) -> None:
    """Everything that must be in place before the blueprints are registered."""
    app.url_map.converters["int"] = IdConverter
    proxies = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if proxies:
        # Behind the TLS proxy: the client's address (rate limits) and scheme (Secure cookies)
        # come from the proxy's X-Forwarded-For / -Proto; never trusted without a proxy.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore
    init_limiter(app)
    # Flask-WTF's CSRF, checked where a browser session posts forms (the console); the H5 form
    # checks the same token itself so that a stale form gets a page, not an error.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.before_request(_forget_cached_csrf_token)
    app.after_request(_security_headers)
    app.register_error_handler(DataError, data_error)


def _forget_cached_csrf_token() -> None:
    # Flask-WTF caches the token in ``g``; an app context that outlives one request (tests, a
    # CLI) must not hand one browser's token to the next request.
    g.pop("csrf_token", None)


def limit_routes(app: Flask) -> None:
    """Per-route limits, per client address, once every blueprint is registered."""
    limit_route(
        app, "console.sign_in", lambda: app.config["SIGN_IN_LIMIT_PER_ADDRESS"], methods=["POST"]
    )
    for endpoint in ("miniprogram.upload_evidence", "team.upload_evidence"):
        if endpoint in app.view_functions:
            limit_route(app, endpoint, lambda: app.config["EVIDENCE_UPLOAD_LIMIT"])


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if any(name.startswith(NO_STORE_BLUEPRINTS) for name in request.blueprints):
        response.headers["Cache-Control"] = "no-store"
    if response.status_code == 405 and "Allow" not in response.headers:
        allowed = _allowed_methods()
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(int(g.get("retry_after") or 60))
    return response


def _allowed_methods() -> list[str]:
    return sorted(current_app.url_map.bind_to_environ(request.environ).allowed_methods())


def data_error(exc: DataError) -> ResponseReturnValue:
    """A value the database refused (too long, out of range, NUL): bad input, 422."""
    db.session.rollback()
    log.warning("database refused a value: %s", type(exc.orig).__name__)
    message = "提交的内容有误（含有无法保存的字符或数值超出范围），请检查后重试"
    if request.blueprint == "h5":
        return message_page("提交的内容有误", message, 422)
    if any(name.startswith("console") for name in request.blueprints):
        return render_template("console/error.html", message=message, status=422), 422
    return error_response("invalid_input", message, 422)
