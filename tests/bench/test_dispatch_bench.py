"""Dispatch latency: commit → team notification sent (sandbox), open loop, beside a baseline.

100 dispatches per second on a fixed schedule for 60 s (latency counted from each dispatch's
intended time, so a stalled driver cannot hide queueing), through the outbox and the relay;
beside a baseline in the same run in which the driver, right after the same commit, enqueues
the same job ids to RQ itself (no relay). Real PostgreSQL, Redis and the production worker
command (``platform.queues.worker_command``: a pool of SimpleWorkers, app preloaded) of the fault
suite's own (tests/fault). Targets (DESIGN.md §10): p99 ≤ 1 s, p50 ≤ 200 ms, printed as VERDICT
lines; asserted: nothing lost, nothing sent twice.

    pytest tests/bench/test_dispatch_bench.py -m bench -s

``BENCH_RATE`` (per second), ``BENCH_SECONDS`` and ``BENCH_DISPATCH_WORKERS`` (processes in the
dispatch queue's pool) override the defaults.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.bench.conftest import verdict
from tests.fault.conftest import Stack, pg_server, stack, template_database  # noqa: F401
from tests.fault.driver import Assignment, assignments
from tests.fault.history import check_history
from tests.fault.servers import wait_until

pytestmark = pytest.mark.bench

RATE = float(os.environ.get("BENCH_RATE", "100"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
DISPATCH_WORKERS = int(os.environ.get("BENCH_DISPATCH_WORKERS", "2"))
DRIVER_THREADS = 12
WARM_UP_SECONDS = 6.0


def open_received_cases(deployment: Stack, count: int) -> list[tuple[int, Assignment]]:
    """Cases waiting for dispatch; their new-lead notifications are marked done (not measured)."""
    from wagedispute.access.actors import Actor
    from wagedispute.cases.lifecycle import open_case
    from wagedispute.cases.numbering import next_case_number
    from wagedispute.models import Case, Channel, Outbox, OutboxState, Role
    from wagedispute.platform.database import db, utcnow

    pairs = assignments(deployment.app)
    opened: list[tuple[int, Assignment]] = []
    with deployment.app.app_context():
        for index in range(count):
            pair = pairs[index % len(pairs)]
            case = Case(
                channel=Channel.PHONE,
                foreman_id=pair.foreman_id,
                street_id=pair.street_id,
                site_name="海景花园二期工地",
                workers_affected=3,
                amount_owed_fen=1_200_000,
                description="拖欠三个月工资",
            )
            case.number = next_case_number(db.session, "YT", utcnow())
            open_case(case, Actor(Role.FOREMAN, pair.foreman_id))
            opened.append((case, pair))
            if index % 200 == 199 or index == count - 1:
                db.session.commit()
        opened = [(case.id, pair) for case, pair in opened]
        db.session.execute(sa.update(Outbox).values(state=OutboxState.DONE, done_at=utcnow()))
        db.session.commit()
        db.session.remove()
    return opened


def run_open_loop(
    deployment: Stack, cases: list[tuple[int, Assignment]], *, direct: bool
) -> dict[int, float]:
    """Dispatch on a fixed schedule; each case's intended time (epoch seconds)."""
    from rq import Retry

    from wagedispute.access.actors import Actor
    from wagedispute.cases.lifecycle import StepRequest, transition_case
    from wagedispute.jobs import DEFAULT_TIMEOUT_SECONDS as JOB_TIMEOUT_SECONDS
    from wagedispute.messaging.outbox import job_id_for
    from wagedispute.models import CaseStatus, Outbox, OutboxState, Role, Urgency
    from wagedispute.platform.database import db
    from wagedispute.platform.queues import get_queue

    intended: dict[int, float] = {}
    cursor = iter(range(len(cases)))
    lock = threading.Lock()
    start = time.time() + 0.5

    def drive() -> None:
        with deployment.app.app_context():
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                due = start + index / RATE
                time.sleep(max(0.0, due - time.time()))
                case_id, pair = cases[index]
                intended[case_id] = due
                transition_case(
                    case_id,
                    CaseStatus.DISPATCHED,
                    Actor(Role.FOREMAN, pair.foreman_id),
                    StepRequest(team_id=pair.team_id, urgency=Urgency.URGENT),
                )
                if direct:
                    # The baseline: the same job, enqueued right after the commit, no relay.
                    row_id = db.session.scalar(
                        sa.select(Outbox.id).where(
                            Outbox.case_id == case_id, Outbox.state == OutboxState.PENDING
                        )
                    )
                    db.session.rollback()
                    get_queue("dispatch").enqueue(
                        "wagedispute.jobs.run_outbox",
                        args=(row_id,),
                        job_id=job_id_for(row_id),
                        timeout=JOB_TIMEOUT_SECONDS,
                        result_ttl=3600,
                        retry=Retry(max=3, interval=[2, 10, 30]),
                    )
                db.session.remove()

    threads = [threading.Thread(target=drive, daemon=True) for _ in range(DRIVER_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 120)
    assert not any(t.is_alive() for t in threads)
    return intended


def latencies(deployment: Stack, intended: dict[int, float]) -> list[float]:
    """Seconds from each dispatch's intended time to the last team message sent for it."""
    from wagedispute.models import CaseEvent, CaseStatus, Delivery, DeliveryState, Role
    from wagedispute.platform.database import db

    with deployment.app.app_context():
        rows = db.session.execute(
            sa.select(Delivery.case_id, sa.func.max(Delivery.sent_at))
            .join(CaseEvent, CaseEvent.id == Delivery.event_id)
            .where(
                Delivery.case_id.in_(list(intended)),
                CaseEvent.to_status == CaseStatus.DISPATCHED,
                Delivery.recipient_role == Role.TEAM_MEMBER,
                Delivery.state == DeliveryState.SENT,
            )
            .group_by(Delivery.case_id)
        ).all()
        db.session.remove()
    assert len(rows) == len(intended), "some dispatches were never notified"
    return sorted(sent.timestamp() - intended[case_id] for case_id, sent in rows)


def notified(deployment: Stack, case_ids: list[int]) -> bool:
    """Whether every case's dispatch deliveries are sent."""
    from wagedispute.models import Delivery, DeliveryState, Outbox, OutboxState
    from wagedispute.platform.database import db

    with deployment.app.app_context():
        try:
            open_rows = db.session.scalar(
                sa.select(sa.func.count()).where(
                    Outbox.case_id.in_(case_ids), Outbox.state != OutboxState.DONE
                )
            )
            pending = db.session.scalar(
                sa.select(sa.func.count()).where(Delivery.state == DeliveryState.PENDING)
            )
            return open_rows == 0 and pending == 0
        finally:
            db.session.remove()


def summary(name: str, values: list[float], seconds: float) -> dict[str, float]:
    """p50, p99, max in milliseconds and the achieved rate."""

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 1)

    figures = {"n": len(values), "p50 ms": pct(0.50), "p99 ms": pct(0.99), "max ms": pct(1.0)}
    figures["rate /s"] = round(len(values) / seconds, 1)
    print(f"   {name}: {figures}")
    return figures


def test_dispatch_latency_through_the_outbox_beside_direct_enqueue(stack: Stack) -> None:  # noqa: F811
    """commit → team notification sent: p99 ≤ 1 s, p50 ≤ 200 ms, nothing lost or doubled."""
    per_phase = int(RATE * SECONDS)
    cases = open_received_cases(stack, 2 * per_phase)
    baseline_cases, outbox_cases = cases[:per_phase], cases[per_phase:]
    stack.worker("dispatch", processes=DISPATCH_WORKERS)
    stack.worker("notify")
    # Let the processes import and connect: their start-up is not dispatch latency.
    time.sleep(WARM_UP_SECONDS)

    began = time.time()
    direct = run_open_loop(stack, baseline_cases, direct=True)
    wait_until(lambda: notified(stack, list(direct)), 600, "the baseline's notifications", 0.5)
    baseline_seconds = time.time() - began

    stack.relay()
    time.sleep(WARM_UP_SECONDS)
    began = time.time()
    through = run_open_loop(stack, outbox_cases, direct=False)
    wait_until(lambda: notified(stack, list(through)), 600, "the outbox run's notifications", 0.5)
    outbox_seconds = time.time() - began

    report = check_history(
        stack.app,
        dispatched=list(direct) + list(through),
        messages=None,
        worker_logs=stack.worker_logs(),
    )
    print(
        f"\n== dispatch latency, {RATE:g}/s for {SECONDS:g} s, a pool of {DISPATCH_WORKERS} "
        f"SimpleWorkers on the dispatch queue, at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    base = summary("baseline (direct enqueue)", latencies(stack, direct), baseline_seconds)
    sut = summary("outbox + relay", latencies(stack, through), outbox_seconds)
    print(f"   p99 ratio outbox/baseline: {sut['p99 ms'] / max(base['p99 ms'], 0.1):.2f}")
    report.show("correctness")
    verdict(
        f"dispatch commit → team notified p50 ≤ 200 ms at {RATE:g}/s",
        f"{sut['p50 ms']} ms (baseline {base['p50 ms']} ms)",
        sut["p50 ms"] <= 200,
    )
    verdict(
        f"dispatch commit → team notified p99 ≤ 1 s at {RATE:g}/s",
        f"{sut['p99 ms']} ms (baseline {base['p99 ms']} ms)",
        sut["p99 ms"] <= 1000,
    )
    assert report.problems == []
