"""The fault suite: real PostgreSQL, Redis, gunicorn, RQ workers and relay, killed and restarted
while work flows; one checker over each run's history (tests/fault/history.py).

Run with ``pytest tests/fault -s`` to see the figures (recovery times, duplicates seen).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa

from tests.fault.conftest import Stack
from tests.fault.driver import (
    COMPLAINT,
    IntakeClient,
    dispatch,
    open_cases,
    qr_tokens,
    sign_in,
    submit,
)
from tests.fault.history import Submission, check_history, job_executions, sandbox_messages
from tests.fault.servers import REPO_ROOT, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def outbox_settled(stack: Stack) -> bool:
    """Every outbox row done and no delivery left pending."""
    from wagedispute.models import Delivery, DeliveryState, Outbox, OutboxState
    from wagedispute.platform.database import db

    with stack.app.app_context():
        try:
            open_rows = db.session.scalar(
                sa.select(sa.func.count()).where(Outbox.state != OutboxState.DONE)
            )
            pending = db.session.scalar(
                sa.select(sa.func.count()).where(Delivery.state == DeliveryState.PENDING)
            )
            return open_rows == 0 and pending == 0
        finally:
            db.session.remove()


def count_outbox(stack: Stack, state: str) -> int:
    """Outbox rows in one state."""
    from wagedispute.models import Outbox
    from wagedispute.platform.database import db

    with stack.app.app_context():
        try:
            return db.session.scalar(sa.select(sa.func.count()).where(Outbox.state == state))
        finally:
            db.session.remove()


def done_at(stack: Stack, outbox_ids: list[int]) -> datetime | None:
    """When the last of these outbox rows was done (None while one is not)."""
    from wagedispute.models import Outbox
    from wagedispute.platform.database import db

    with stack.app.app_context():
        try:
            times = db.session.scalars(
                sa.select(Outbox.done_at).where(Outbox.id.in_(outbox_ids))
            ).all()
        finally:
            db.session.remove()
    if len(times) != len(outbox_ids) or any(t is None for t in times):
        return None
    return max(times)


def mark_outbox_done(stack: Stack) -> None:
    """Mark every outbox row done (set-up: effects a scenario does not test)."""
    from wagedispute.models import Outbox, OutboxState
    from wagedispute.platform.database import db, utcnow

    with stack.app.app_context():
        db.session.execute(sa.update(Outbox).values(state=OutboxState.DONE, done_at=utcnow()))
        db.session.commit()
        db.session.remove()


def first_redriven_done(stack: Stack) -> datetime | None:
    """When the first row the reconciler re-drove was done."""
    from wagedispute.models import Outbox
    from wagedispute.platform.database import db

    with stack.app.app_context():
        try:
            return db.session.scalar(
                sa.select(sa.func.min(Outbox.done_at)).where(Outbox.attempts > 0)
            )
        finally:
            db.session.remove()


def last_done(stack: Stack) -> datetime | None:
    """When the last outbox row was done."""
    from wagedispute.models import Outbox
    from wagedispute.platform.database import db

    with stack.app.app_context():
        try:
            return db.session.scalar(sa.select(sa.func.max(Outbox.done_at)))
        finally:
            db.session.remove()


def queue_length(stack: Stack, queue: str) -> int:
    """How many job ids wait on an RQ queue."""
    client = stack.redis.client()
    try:
        return client.llen(f"rq:queue:{queue}")
    finally:
        client.close()


def messages(stack: Stack) -> list[dict]:
    """What the sandbox WeChat received so far."""
    client = stack.redis.client()
    try:
        return sandbox_messages(client)
    finally:
        client.close()


def test_killed_worker_and_work_horse_mid_job_lose_nothing_and_send_once(stack: Stack) -> None:
    """kill -9 the dispatch worker's whole process group while it runs a job and dispatches
    keep flowing; restarted as a supervisor would, every dispatch completes, each message once."""
    from rq.registry import StartedJobRegistry

    worker = stack.worker("dispatch")
    stack.worker("notify")
    stack.relay()
    cases = open_cases(stack.app, 20)
    dispatched: list[int] = []

    def dispatch_steadily() -> None:
        for case_id, pair in cases:
            dispatch(stack.app, case_id, pair)
            dispatched.append(case_id)
            time.sleep(0.1)

    flow = threading.Thread(target=dispatch_steadily, daemon=True)
    flow.start()
    # Mid-job: a job is registered as started and the pool's worker processes (its children,
    # which run jobs in-process) are up; kill the group (pool and workers) then.
    client = stack.redis.client()
    try:
        registry = StartedJobRegistry("dispatch", connection=client)
        horse = wait_until(
            lambda: registry.get_job_ids() and worker.children(),
            60,
            "the dispatch worker to run a job",
            interval=0.002,
        )
        worker.kill()
        killed_at = datetime.now(UTC)
        started = registry.get_job_ids()
    finally:
        client.close()
    affected = [int(job_id.removeprefix("outbox-")) for job_id in started]
    unfinished = [i for i in affected if done_at(stack, [i]) is None]
    time.sleep(1.0)  # a supervisor's restart delay
    stack.worker("dispatch")
    flow.join(timeout=60)
    assert not flow.is_alive()

    wait_until(lambda: outbox_settled(stack), 150, "every outbox row to be done", interval=0.5)
    finished = done_at(stack, affected)
    report = check_history(
        stack.app,
        dispatched=dispatched,
        messages=messages(stack),
        worker_logs=stack.worker_logs(),
    )
    report.figures["killed work-horse pid"] = horse
    report.figures["jobs in progress at the kill"] = started
    report.figures["recovery (kill -> last affected row done), s"] = (
        round((finished - killed_at).total_seconds(), 1) if finished else None
    )
    report.show("scenario 1: kill -9 a worker and its work-horse mid-job")
    assert report.problems == []
    assert affected, "the kill did not catch a job in progress"
    executions = job_executions(stack.worker_logs())
    # A job whose row was not done when its horse died ran again: the duplicate happened.
    assert all(executions[i] >= 2 for i in unfinished)
    assert len(dispatched) == len(cases)


def test_redis_restarted_empty_with_200_dispatches_queued_loses_nothing(stack: Stack) -> None:
    """200 dispatches queued, Redis restarted empty: the reconciler re-drives every job from the
    database; every case reaches its team, each member told once.

    Counting messages: the sandbox's sent-list lives in Redis and is wiped with it. Workers are
    stopped while the jobs pile up, so nothing was sent before the restart (the snapshot taken
    just before the kill proves it); after it, every delivery the database marks sent must appear
    exactly once in the new list, and no message may name a delivery twice.
    """
    cases = open_cases(stack.app, 200)
    # Set-up shortcut: the new-lead notifications of these cases are not what is tested here.
    mark_outbox_done(stack)
    relay = stack.relay()
    for case_id, pair in cases:
        dispatch(stack.app, case_id, pair)
    wait_until(lambda: count_outbox(stack, "pending") == 0, 60, "the relay to enqueue every row")
    queued = queue_length(stack, "dispatch")
    before = messages(stack)
    stack.redis.kill()
    stack.redis.start()
    restarted_at = datetime.now(UTC)
    assert messages(stack) == []
    stack.workers(dispatch=2)

    def all_done() -> bool:
        return outbox_settled(stack)

    wait_until(all_done, 240, "every outbox row to be done after the Redis restart", interval=0.5)
    recovered = last_done(stack)
    first = first_redriven_done(stack)
    report = check_history(
        stack.app,
        dispatched=[case_id for case_id, _ in cases],
        messages=before + messages(stack),
        worker_logs=stack.worker_logs(),
    )
    report.figures["jobs queued when Redis died"] = queued
    report.figures["messages sent before the restart"] = len(before)
    report.figures["recovery (restart -> last row done), s"] = (
        round((recovered - restarted_at).total_seconds(), 1) if recovered else None
    )
    report.figures["detection (restart -> first re-driven row done), s"] = (
        round((first - restarted_at).total_seconds(), 1) if first else None
    )
    report.show("scenario 2: Redis restarted empty with 200 dispatches queued")
    assert report.problems == []
    assert queued == 200 and before == []
    assert report.figures["outbox rows re-driven by the reconciler"] == 200
    assert relay.alive()


def test_postgres_down_during_intake_answers_503_fast_and_retries_create_each_case_once(
    stack: Stack,
) -> None:
    """HTTP clients submit with Idempotency-Keys while PostgreSQL is killed and restarted: no
    2xx without a committed case, fast 503s in the error shape while it is down, and retries
    with the same keys make each case once."""
    stack.web()
    stack.relay()
    tokens = qr_tokens(stack.app)
    history: list[Submission] = []
    stop = threading.Event()
    deadline = time.monotonic() + 120
    clients = [
        IntakeClient(
            stack.base_url,
            sign_in(stack.base_url, f"o-fault-worker-{n}"),
            tokens[n % len(tokens)],
            history,
            stop,
            max_complaints=10_000,
            deadline=deadline,
        )
        for n in range(6)
    ]
    for c in clients:
        c.start()
    wait_until(lambda: sum(s.acknowledged for s in history) >= 20, 60, "intake under load")
    before_outage = len(history)
    stack.pg.kill()
    down_from = len(history)
    time.sleep(6)
    down_to = len(history)
    stack.pg.start()
    time.sleep(4)
    stop.set()
    for c in clients:
        c.join(timeout=130)
    assert not any(c.is_alive() for c in clients)

    during = history[down_from:down_to]
    report = check_history(stack.app, submissions=history, effects=False)
    latencies = sorted(s.latency for s in during)
    report.figures["answers before the outage"] = before_outage
    report.figures["answers while PostgreSQL was down"] = len(during)
    report.figures["their statuses"] = sorted({(s.status, s.error_code) for s in during}, key=str)
    if latencies:
        report.figures["latency while down: p50 / max, ms"] = (
            round(latencies[len(latencies) // 2] * 1000),
            round(latencies[-1] * 1000),
        )
    report.show("scenario 3: PostgreSQL killed during intake")
    assert report.problems == []
    assert during, "no request was made while PostgreSQL was down"
    assert all(s.status == 503 and s.error_code == "service_unavailable" for s in during)
    assert max(latencies) < 10
    unacknowledged = {s.key for s in history} - {s.key for s in history if s.acknowledged}
    assert unacknowledged == set()
    refused_then_acknowledged = {s.key for s in during} & {s.key for s in history if s.acknowledged}
    assert refused_then_acknowledged


RELAY_KILLED_AFTER_ENQUEUE = """
import os, sys, time
from rq import Queue
from wagedispute import create_app
from wagedispute.relay import relay_pending

original = Queue.enqueue_many

def enqueue_then_hang(self, *args, **kwargs):
    jobs = original(self, *args, **kwargs)
    print("ENQUEUED", len(jobs), flush=True)
    time.sleep(120)  # killed here: after the enqueue, before the commit marking the rows
    return jobs

Queue.enqueue_many = enqueue_then_hang
with create_app().app_context():
    relay_pending()
"""


def test_relay_killed_between_enqueue_and_marking_makes_duplicate_jobs_with_one_effect(
    stack: Stack,
) -> None:
    """The relay is killed after its RQ enqueue and before its commit: the rows stay pending, the
    next relay enqueues them again, each job runs twice, and each member is told once."""
    cases = open_cases(stack.app, 20)
    relay = subprocess.Popen(
        [sys.executable, "-c", RELAY_KILLED_AFTER_ENQUEUE],
        env=stack.env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        line = wait_until(relay.stdout.readline, 60, "the relay to enqueue")
        os.killpg(relay.pid, signal.SIGKILL)
    finally:
        relay.kill()
        relay.wait(timeout=10)
        relay.stdout.close()
    assert line.decode().split() == ["ENQUEUED", "20"]
    assert count_outbox(stack, "pending") == 20  # the rows were never marked
    stack.relay()
    wait_until(lambda: count_outbox(stack, "pending") == 0, 30, "the relay to enqueue again")
    client = stack.redis.client()
    try:
        queued = client.lrange("rq:queue:dispatch", 0, -1)
    finally:
        client.close()
    stack.workers()
    dispatched: list[int] = []
    for case_id, pair in cases[:5]:
        dispatch(stack.app, case_id, pair)
        dispatched.append(case_id)
    wait_until(lambda: outbox_settled(stack), 120, "every outbox row to be done", interval=0.5)
    # A duplicate still queued may run after its row is done; let the worker drain the queue.
    wait_until(lambda: queue_length(stack, "dispatch") == 0, 30, "an empty dispatch queue")
    time.sleep(1)
    report = check_history(
        stack.app, dispatched=dispatched, messages=messages(stack), worker_logs=stack.worker_logs()
    )
    report.figures["job ids queued (with duplicates)"] = len(queued)
    report.figures["distinct job ids queued"] = len(set(queued))
    report.show("scenario 4: relay killed between enqueue and marking")
    assert report.problems == []
    assert len(queued) == 40 and len(set(queued)) == 20
    assert report.figures["duplicate executions"] >= 20
    assert report.figures["messages WeChat received"] == report.figures["deliveries sent"] > 20


def test_one_idempotency_key_sent_twenty_times_at_once_makes_one_case(stack: Stack) -> None:
    """20 concurrent submissions with one key: one case, one 201, the same number for all."""
    stack.web(workers=2, threads=8)
    token = sign_in(stack.base_url, "o-fault-concurrent")
    body = {**COMPLAINT, "qr_token": qr_tokens(stack.app)[0]}
    key = "fault-one-key-20-times"
    barrier = threading.Barrier(20)
    answers: list[Submission] = []

    def send() -> None:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            answers.append(submit(stack.base_url, token, key, body, session))

    threads = [threading.Thread(target=send, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    report = check_history(stack.app, submissions=answers, effects=False)
    report.show("scenario 5: one idempotency key sent 20 times concurrently")
    assert report.problems == []
    assert len(answers) == 20
    assert sorted(a.status for a in answers) == [200] * 19 + [201]
    assert len({a.number for a in answers}) == 1
    assert report.figures["cases committed for these keys"] == 1


IMPORT_SAMPLE = REPO_ROOT / "docs" / "import-sample.csv"


def test_background_tasks_queued_when_redis_restarts_empty_still_finish(stack: Stack) -> None:
    """Three background tasks (weekly packs, an export, an import) are queued, Redis restarts
    empty before any worker takes them: the reconciler re-drives each from the outbox and every
    task finishes once, with its result."""
    from wagedispute.access.actors import Actor
    from wagedispute.models import BackgroundTask, Role, StaffAccount, TaskStatus
    from wagedispute.platform.database import db
    from wagedispute.supervision import tasks

    mark_outbox_done(stack)
    relay = stack.relay()
    with stack.app.app_context():
        admin = db.session.scalars(
            sa.select(StaffAccount).where(StaffAccount.username == "admin")
        ).one()
        actor = Actor(Role.STAFF, admin.id, street_id=None, staff_role=admin.role)
        started = [
            tasks.start_task(actor, "weekly_packs", {"week_start": "2026-03-02"}).id,
            tasks.start_task(actor, "export", {"what": "cases", "format": "csv"}).id,
            tasks.start_task(
                actor,
                "import",
                upload=IMPORT_SAMPLE.read_bytes(),
                upload_filename="records.csv",
            ).id,
        ]
        db.session.remove()
    wait_until(lambda: count_outbox(stack, "pending") == 0, 60, "the relay to enqueue the tasks")
    client = stack.redis.client()
    try:
        # The relay also puts its periodic maintenance runs on this queue: count the tasks' jobs.
        queued = sum(
            job_id.startswith(b"outbox-") for job_id in client.lrange("rq:queue:maintenance", 0, -1)
        )
    finally:
        client.close()
    stack.redis.kill()
    stack.redis.start()
    restarted_at = datetime.now(UTC)
    stack.workers(dispatch=1)

    def statuses() -> list[TaskStatus]:
        with stack.app.app_context():
            try:
                return list(
                    db.session.scalars(
                        sa.select(BackgroundTask.status)
                        .where(BackgroundTask.id.in_(started))
                        .order_by(BackgroundTask.id)
                    )
                )
            finally:
                db.session.remove()

    wait_until(
        lambda: all(s in {TaskStatus.DONE, TaskStatus.FAILED} for s in statuses()),
        180,
        "every background task to finish after the Redis restart",
        interval=0.5,
    )
    print(
        f"\nbackground tasks: {queued} queued when Redis died; all finished "
        f"{(datetime.now(UTC) - restarted_at).total_seconds():.1f} s after the restart"
    )
    assert queued == 3
    with stack.app.app_context():
        rows = db.session.scalars(
            sa.select(BackgroundTask).where(BackgroundTask.id.in_(started))
        ).all()
        assert {r.kind: r.status for r in rows} == {
            "weekly_packs": TaskStatus.DONE,
            "export": TaskStatus.DONE,
            "import": TaskStatus.DONE,
        }
        export = next(r for r in rows if r.kind == "export")
        assert export.result_blob and export.result_filename
        db.session.remove()
    assert outbox_settled(stack)
    assert relay.alive()
