"""Rate limits: Flask-Limiter (moving windows in Redis, shared by every web process).

``init_limiter(app)`` gives each app its own ``Limiter`` on the app's Redis connection pool;
routes get limits with ``limit_route`` (per client address unless told otherwise) and code that
limits by something other than the route (a signed-in account, a bucket of its own) calls
``check_rate``. Every refusal is a 429 with ``Retry-After``. The client address is the one
ProxyFix derived from ``X-Forwarded-For`` when ``PROXY_FIX_X_FOR`` trusts a proxy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from wagedispute.platform.errors import RateLimited

EXTENSION = "wagedispute.limiter"
KEY_PREFIX = "wd:rl"


def _storage_uri(redis_url: str) -> str:
    # limits spells a Unix socket (the embedded Redis of ``make run``) ``redis+unix://``.
    return "redis+" + redis_url if redis_url.startswith("unix://") else redis_url


def init_limiter(app: Flask) -> Limiter:
    """The app's limiter: moving windows, ``Retry-After`` headers, Redis storage."""
    connection = app.extensions["wagedispute.redis"]
    limiter = Limiter(
        get_remote_address,
        strategy="moving-window",
        headers_enabled=True,
        storage_uri=_storage_uri(app.config["REDIS_URL"]),
        storage_options={"connection_pool": connection.connection_pool},
        key_prefix=KEY_PREFIX,
    )
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    return limiter


def _limiter() -> Limiter:
    return current_app.extensions[EXTENSION]


def limit_route(
    app: Flask,
    endpoint: str,
    limit: str | Callable[[], str],
    *,
    methods: list[str] | None = None,
    key_func: Callable[[], str] | None = None,
) -> None:
    """Limit one registered endpoint (``"console.sign_in"``), per client address by default."""
    limiter: Limiter = app.extensions[EXTENSION]
    # Flask-Limiter checks a route's own limits in the wrapper its decorator returns.
    app.view_functions[endpoint] = limiter.limit(limit, methods=methods, key_func=key_func)(
        app.view_functions[endpoint]
    )


def _item(limit: int, window_seconds: int) -> RateLimitItem:
    return parse(f"{limit} per {window_seconds} seconds")


def check_rate(bucket: str, limit: int, window_seconds: int = 60) -> None:
    """Count one request against ``bucket``; refuse with 429 once ``limit`` is passed."""
    strategy = _limiter().limiter
    item = _item(limit, window_seconds)
    if not strategy.hit(item, "bucket", bucket):
        raise_retry_after(strategy.get_window_stats(item, "bucket", bucket).reset_time)


def is_limited(bucket: str, limit: int, window_seconds: int) -> bool:
    """Whether ``bucket`` has used up ``limit`` (without counting this call)."""
    return not _limiter().limiter.test(_item(limit, window_seconds), "bucket", bucket)


def count(bucket: str, limit: int, window_seconds: int) -> None:
    """Count one event against ``bucket`` without refusing anything (e.g. a failed sign-in)."""
    _limiter().limiter.hit(_item(limit, window_seconds), "bucket", bucket)


def seconds_until_free(bucket: str, limit: int, window_seconds: int) -> int:
    """How long until ``bucket`` accepts one more event."""
    stats = _limiter().limiter.get_window_stats(_item(limit, window_seconds), "bucket", bucket)
    return retry_after(max(1, math.ceil(stats.reset_time - time.time())))


def retry_after(wait: int) -> int:
    """Note the seconds a 429 should tell the client to wait (``Retry-After`` on any page)."""
    # Read by the app's after-request hook, which sets the header whatever page answers.
    g.retry_after = wait
    return wait


def raise_retry_after(reset_time: float) -> Any:
    """Refuse with 429 and the seconds until the window frees a slot."""
    wait = retry_after(max(1, math.ceil(reset_time - time.time())))
    raise RateLimited(details={"retry_after_seconds": wait})
