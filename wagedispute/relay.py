"""The relay process: moves due outbox rows to their RQ queues, re-drives what Redis or a dead
worker lost (the reconciler), and puts periodic maintenance on the maintenance queue.

Several relays may run side by side: rows are claimed with ``FOR UPDATE SKIP LOCKED`` and each
periodic run is claimed once per interval in Redis.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from wagedispute import jobs
from wagedispute.messaging.outbox import job_id_for, wait_for_wake, wake_relay
from wagedispute.models import Outbox, OutboxState
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.queues import get_queue, get_redis

log = logging.getLogger(__name__)

# An enqueued row younger than this is left alone: its job is on its way.
SETTLE_SECONDS = 5
# A started job without a heartbeat for this long belongs to a dead worker.
ABANDONED_SECONDS = 45
RETRY_BACKOFF_SECONDS = (5, 30, 120, 600)


def relay_pending(limit: int = 100) -> int:
    """Move due ``pending`` rows to their queues, then mark them ``enqueued``; one batch.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several relays share the work. A crash after
    the enqueue and before the commit leaves the rows pending: they are enqueued again under
    the same job id, and the job's effect is idempotent.
    """
    now = utcnow()
    stmt = (
        sa.select(Outbox)
        .where(Outbox.state == OutboxState.PENDING, Outbox.due_at <= now)
        .order_by(Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with unit_of_work():
        rows = db.session.scalars(stmt).all()
        if not rows:
            db.session.rollback()
            return 0
        by_queue: dict[str, list[Any]] = {}
        for row in rows:
            topic = jobs.TOPICS.get(row.topic)
            if topic is None:
                row.state = OutboxState.FAILED
                row.last_error = f"unknown topic {row.topic}"
                continue
            queue = get_queue(topic.queue)
            by_queue.setdefault(topic.queue, []).append(
                queue.prepare_data(
                    jobs.run_outbox,
                    args=(row.id,),
                    job_id=job_id_for(row.id),
                    timeout=topic.timeout_seconds,
                    result_ttl=3600,
                    failure_ttl=7 * 24 * 3600,
                    retry=Retry(max=3, interval=[2, 10, 30]),
                )
            )
            row.state = OutboxState.ENQUEUED
            row.enqueued_at = now
        for name, prepared in by_queue.items():
            get_queue(name).enqueue_many(prepared)
    return len(rows)


@dataclass
class ReconcileReport:
    """What one reconciler pass found and re-drove."""

    missing: int = 0
    failed: int = 0
    abandoned: int = 0


def reconcile(now: datetime | None = None) -> ReconcileReport:
    """Re-drive every enqueued row whose job Redis lost, that failed for good, or whose worker
    died; clean the abandoned jobs out of RQ's started registries rather than wait for RQ."""
    now = now or utcnow()
    report = ReconcileReport()
    redis = get_redis()
    rows = db.session.scalars(
        sa.select(Outbox).where(
            Outbox.state == OutboxState.ENQUEUED,
            Outbox.enqueued_at <= now - timedelta(seconds=SETTLE_SECONDS),
        )
    ).all()
    with unit_of_work():
        for row in rows:
            verdict = _job_verdict(redis, row, now)
            if verdict is None:
                continue
            setattr(report, verdict, getattr(report, verdict) + 1)
            row.state = OutboxState.PENDING
            row.attempts += 1
            row.last_error = f"re-driven: job {verdict}"
            backoff = 0 if verdict != "failed" else _backoff(row.attempts)
            row.due_at = now + timedelta(seconds=backoff)
    if report.missing or report.failed or report.abandoned:
        log.warning("reconciler re-drove %s", report)
        wake_relay()
    return report


def _backoff(attempts: int) -> int:
    return RETRY_BACKOFF_SECONDS[min(attempts, len(RETRY_BACKOFF_SECONDS)) - 1]


def _job_verdict(redis: Any, row: Outbox, now: datetime) -> str | None:
    """Why the row's job will not finish on its own, or None while it still may."""
    try:
        job = Job.fetch(job_id_for(row.id), connection=redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return "missing"
    status = job.get_status(refresh=False)
    if status in {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}:
        return "failed"
    if status == JobStatus.QUEUED and _dequeued_by_dead_worker(redis, job, row, now):
        # "queued" but in no queue: a worker popped it and died before starting it (killed
        # between its dequeue and the work-horse's start); nothing would ever run it.
        StartedJobRegistry(job.origin, connection=redis).remove_executions(job)
        redis.lrem(f"{Queue.redis_queue_namespace_prefix}{job.origin}:intermediate", 0, job.id)
        return "abandoned"
    if status == JobStatus.STARTED:
        last_sign = job.last_heartbeat or job.started_at or job.enqueued_at
        if last_sign.tzinfo is None:
            last_sign = last_sign.replace(tzinfo=UTC)
        if (now - last_sign).total_seconds() > ABANDONED_SECONDS:
            StartedJobRegistry(job.origin, connection=redis).remove_executions(job)
            return "abandoned"
    return None


def _dequeued_by_dead_worker(redis: Any, job: Job, row: Outbox, now: datetime) -> bool:
    """A queued job that has left its queue and shows no sign of life for ABANDONED_SECONDS."""
    queue_key = f"{Queue.redis_queue_namespace_prefix}{job.origin}"
    if redis.lpos(queue_key, job.id) is not None:
        return False  # still waiting its turn, however long the backlog
    signs = [e.last_heartbeat for e in job.get_executions()] or [row.enqueued_at]
    last_sign = max(s if s.tzinfo else s.replace(tzinfo=UTC) for s in signs)
    return (now - last_sign).total_seconds() > ABANDONED_SECONDS


def run_relay(*, stop: Any, reconcile_every: float = 10.0, idle_wait: float = 0.5) -> None:
    """The relay process: move pending rows to RQ as they appear, reconcile every few seconds,
    and run periodic maintenance; survives Redis and database outages by retrying."""
    last_reconcile = 0.0
    last_periodic: dict[str, float] = {}
    while not stop.is_set():
        try:
            moved = relay_pending()
            now = time.monotonic()
            if now - last_reconcile >= reconcile_every:
                reconcile()
                last_reconcile = now
            for name, periodic in jobs.PERIODIC.items():
                if now - last_periodic.get(name, 0.0) >= periodic.interval_seconds:
                    enqueue_periodic(name, periodic.interval_seconds)
                    last_periodic[name] = now
            if not moved:
                wait_for_wake(idle_wait)
        except Exception:
            db.session.rollback()
            log.exception("relay pass failed; retrying")
            stop.wait(1.0)
        finally:
            db.session.remove()


def enqueue_periodic(name: str, interval: int) -> None:
    """Put one maintenance run per interval on the maintenance queue; a Redis claim on the
    interval makes relays running side by side enqueue it once."""
    bucket = int(time.time() // interval)
    claim = f"wd:periodic:{name}:{bucket}"
    if not get_redis().set(claim, 1, nx=True, ex=interval * 2):
        return
    get_queue("maintenance").enqueue(
        jobs.run_periodic,
        args=(name,),
        job_id=f"periodic-{name}-{bucket}",
        timeout=300,
        result_ttl=3600,
    )
