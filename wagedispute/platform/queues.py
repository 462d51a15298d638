"""Redis and the purpose-named RQ queues (jobs carry ids only: RQ's JSON serializer)."""

from __future__ import annotations

import redis
from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE_NAMES = ("dispatch", "notify", "maintenance")

# How each queue's jobs run. Notifications are short: long-lived SimpleWorker processes run
# them in-process with the app preloaded and connections reused (no fork per job). Maintenance
# tasks may run for many minutes: a forking worker keeps heartbeating while its work-horse runs,
# so the reconciler never takes a long task for an abandoned one.
WORKER_CLASSES = {
    "dispatch": "rq.worker.SimpleWorker",
    "notify": "rq.worker.SimpleWorker",
    "maintenance": "rq.worker.Worker",
}
WORKER_PROCESSES = {"dispatch": 2, "notify": 1, "maintenance": 1}


def get_redis() -> redis.Redis:
    """The app's Redis connection (one client per app, shared by threads)."""
    return current_app.extensions["wagedispute.redis"]


def get_queue(name: str) -> Queue:
    """One of the project's queues, with JSON serialization so ORM objects fail loudly."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(), serializer=JSONSerializer)


def worker_command(
    rq: str, redis_url: str, queue: str, *, processes: int | None = None, quiet: bool = False
) -> list[str]:
    """The one command that runs a queue's workers (``make run``, the fault suite, production):
    an RQ worker pool of long-lived processes forked from a parent that imported the project and
    built the app once (``-c wagedispute.rq_preload``); the pool restarts a process that dies,
    and each of its workers also runs RQ's scheduler (one per queue holds the lock). ``quiet``
    logs warnings and failures only (no line per job)."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    return [
        rq,
        "worker-pool",
        "--url",
        redis_url,
        "--serializer",
        "rq.serializers.JSONSerializer",
        "-c",
        "wagedispute.rq_preload",
        "--worker-class",
        WORKER_CLASSES[queue],
        "--num-workers",
        str(processes or WORKER_PROCESSES[queue]),
        *(["--quiet"] if quiet else []),
        queue,
    ]
