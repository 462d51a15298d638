"""Redis and the purpose-named RQ queues (jobs carry ids only: RQ's JSON serializer)."""

from __future__ import annotations

import redis
from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE_NAMES = ("dispatch", "notify", "maintenance")


def get_redis() -> redis.Redis:
    """The app's Redis connection (one client per app, shared by threads)."""
    return current_app.extensions["wagedispute.redis"]


def get_queue(name: str) -> Queue:
    """One of the project's queues, with JSON serialization so ORM objects fail loudly."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(), serializer=JSONSerializer)
