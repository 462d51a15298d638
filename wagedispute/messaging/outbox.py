"""The outbox: side effects owed after a commit, written as rows in the same transaction as
their cause, so that a crashed worker or an emptied Redis loses nothing.

PostgreSQL is the truth and Redis a wake-up call: a row is ``pending`` until the relay
(``wagedispute.relay``) has put its job on a queue (``enqueued``), and ``done`` once the job's
effect is committed. Whatever the database says is due but not done is re-driven.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError

from wagedispute.models import Outbox, OutboxState
from wagedispute.platform.database import after_commit, db, utcnow
from wagedispute.platform.queues import get_redis

log = logging.getLogger(__name__)

WAKE_KEY = "wd:relay:wake"


def job_id_for(outbox_id: int) -> str:
    """Deterministic: enqueueing a row twice replaces one job rather than adding another."""
    return f"outbox-{outbox_id}"


def stage_outbox(
    topic: str,
    dedupe_key: str,
    payload: dict[str, Any],
    *,
    case_id: int | None = None,
    due_at: datetime | None = None,
) -> Outbox:
    """Add a row to the session; the caller's unit of work commits it with its cause and then
    wakes the relay."""
    row = Outbox(
        topic=topic,
        dedupe_key=dedupe_key,
        case_id=case_id,
        payload=payload,
        due_at=due_at or utcnow(),
    )
    db.session.add(row)
    after_commit(wake_relay)
    return row


def wake_relay() -> None:
    """Nudge the relay after a commit; harmless to lose (it also polls)."""
    try:
        get_redis().lpush(WAKE_KEY, 1)
    except RedisError:
        log.warning("relay wake-up not sent: Redis unavailable")


def wait_for_wake(timeout_seconds: float) -> None:
    """Block until a wake-up arrives or the timeout passes (the relay's idle loop)."""
    redis = get_redis()
    if redis.blpop([WAKE_KEY], timeout=timeout_seconds):
        redis.delete(WAKE_KEY)


def run_outbox_row(outbox_id: int, handlers: Mapping[str, Callable[[int], Any]]) -> None:
    """Carry out one row's effect with the handler of its topic; a row already done is left."""
    row = db.session.get(Outbox, outbox_id)
    if row is None or row.state == OutboxState.DONE:
        db.session.rollback()
        return
    handler = handlers[row.topic]
    db.session.rollback()
    handler(outbox_id)
    mark_done(outbox_id)


def mark_done(outbox_id: int) -> None:
    """Record that a row's effect is committed."""
    db.session.execute(
        sa.update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.state != OutboxState.DONE)
        .values(state=OutboxState.DONE, done_at=utcnow())
    )
    db.session.commit()
