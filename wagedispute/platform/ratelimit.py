"""Fixed-window rate limits in Redis, shared by every web process."""

from __future__ import annotations

import time

from wagedispute.platform.errors import RateLimited
from wagedispute.platform.queues import get_redis

KEY_PREFIX = "wd:rl:"


def check_rate(bucket: str, limit: int, window_seconds: int = 60) -> None:
    """Count one request against ``bucket``; refuse with 429 once ``limit`` is passed."""
    window = int(time.time() // window_seconds)
    key = f"{KEY_PREFIX}{bucket}:{window}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, window_seconds * 2)
    count, _ = pipe.execute()
    if count > limit:
        raise RateLimited(details={"retry_after_seconds": window_seconds})
