"""The one checker of a fault run's history: what clients were told, what the database holds,
what the (sandbox) WeChat side received and what the RQ workers executed.

It checks that no acknowledged complaint is lost, that each idempotency key made one case,
that every dispatched case reached its team, and that each (event, recipient) got exactly one
message; and it counts the duplicate executions it saw, so a scenario can prove that the
duplicates it provokes really happened and were absorbed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from flask import Flask

SENT_KEY = "wd:sandbox:sent"
SENT_LIMIT = (
    1000  # the sandbox keeps the newest 1000 messages (wagedispute.platform.wechat_sandbox)
)
# RQ logs a line per job it starts: "<worker>: dispatch: wagedispute.jobs.run_outbox(7) (outbox-7)"
EXECUTION = re.compile(r"run_outbox\((\d+)\) \(outbox-(\d+)\)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DELIVERY_IN_PAGE = re.compile(r"delivery=(\d+)")


@dataclass(frozen=True)
class Submission:
    """One HTTP answer (or failure) a client saw."""

    key: str
    status: int | None
    number: str | None
    error_code: str | None
    latency: float
    exception: str | None

    @property
    def acknowledged(self) -> bool:
        """A 2xx answer: the client was told its complaint is recorded."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Report:
    """What the checker found: violated properties and the figures of the run."""

    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def show(self, title: str) -> None:
        """Print the figures (visible with ``pytest -s``)."""
        print(f"\n== {title}")
        for name, value in self.figures.items():
            print(f"   {name}: {value}")
        for problem in self.problems[:20]:
            print(f"   PROBLEM: {problem}")


def sandbox_messages(client: redis_lib.Redis) -> list[dict[str, Any]]:
    """Every message the sandbox recorded as sent (oldest first)."""
    raw = client.lrange(SENT_KEY, 0, -1)
    return [json.loads(item) for item in reversed(raw)]


def messages_per_delivery(messages: Iterable[dict[str, Any]]) -> Counter[int]:
    """How many messages WeChat received for each delivery id (from the page link)."""
    counts: Counter[int] = Counter()
    for message in messages:
        match = DELIVERY_IN_PAGE.search(message.get("page") or "")
        if match:
            counts[int(match.group(1))] += 1
    return counts


def job_executions(worker_logs: Iterable[str]) -> Counter[int]:
    """How many times RQ workers started the job of each outbox row (from their logs)."""
    counts: Counter[int] = Counter()
    for text in worker_logs:
        for match in EXECUTION.finditer(ANSI.sub("", text)):
            counts[int(match.group(1))] += 1
    return counts


def check_history(
    app: Flask,
    *,
    submissions: Sequence[Submission] = (),
    dispatched: Iterable[int] = (),
    messages: Sequence[dict[str, Any]] | None = (),
    worker_logs: Iterable[str] = (),
    effects: bool = True,
) -> Report:
    """Check the run's properties against the database; count the duplicates seen."""
    from wagedispute.models import (
        Case,
        CaseEvent,
        CaseStatus,
        Delivery,
        DeliveryState,
        IdempotencyRecord,
        Outbox,
        OutboxState,
        Role,
        TeamMember,
    )
    from wagedispute.platform.database import db

    report = Report()
    problems = report.problems
    with app.app_context():
        session = db.session
        # -- intake: acknowledged means committed; one case per key -----------------------
        if submissions:
            numbers = set(session.scalars(sa.select(Case.number)))
            acknowledged = [s for s in submissions if s.acknowledged]
            for seen in acknowledged:
                if seen.number not in numbers:
                    problems.append(
                        f"key {seen.key} was answered {seen.status} {seen.number} "
                        "but no such case is committed"
                    )
            keys = {s.key for s in submissions}
            records = Counter(
                session.scalars(
                    sa.select(IdempotencyRecord.key).where(IdempotencyRecord.key.in_(keys))
                )
            )
            for key in keys:
                answered = {s.number for s in acknowledged if s.key == key}
                if len(answered) > 1:
                    problems.append(f"key {key} was answered with several cases {answered}")
                if records[key] > 1:
                    problems.append(f"key {key} made {records[key]} cases")
                if answered and records[key] != 1:
                    problems.append(f"key {key} was acknowledged but has {records[key]} cases")
            statuses = Counter(s.status for s in submissions)
            report.figures["answers by status"] = dict(sorted(statuses.items(), key=str))
            report.figures["keys"] = len(keys)
            report.figures["keys acknowledged"] = len({s.key for s in acknowledged})
            report.figures["cases committed for these keys"] = sum(records.values())

        # -- dispatch: every dispatched case reached every bound member of its team ---------
        dispatched = list(dispatched)
        if dispatched:
            rows = session.execute(
                sa.select(Case.id, Case.status, Case.team_id).where(Case.id.in_(dispatched))
            ).all()
            members = Counter(
                session.scalars(
                    sa.select(TeamMember.team_id).where(
                        TeamMember.active, TeamMember.openid.is_not(None)
                    )
                )
            )
            sent_to_team = Counter(
                session.scalars(
                    sa.select(Delivery.case_id)
                    .join(CaseEvent, CaseEvent.id == Delivery.event_id)
                    .where(
                        Delivery.case_id.in_(dispatched),
                        CaseEvent.to_status == CaseStatus.DISPATCHED,
                        Delivery.recipient_role == Role.TEAM_MEMBER,
                        Delivery.state == DeliveryState.SENT,
                    )
                )
            )
            for case_id, status, team_id in rows:
                if status != CaseStatus.DISPATCHED:
                    problems.append(f"case {case_id} is {status.value}, not dispatched")
                elif sent_to_team[case_id] != members[team_id]:
                    problems.append(
                        f"case {case_id}: {sent_to_team[case_id]} of {members[team_id]} team "
                        "members notified"
                    )
            if len(rows) != len(set(dispatched)):
                problems.append(f"{len(set(dispatched)) - len(rows)} dispatched cases are missing")
            report.figures["cases dispatched"] = len(rows)

        # -- effects: everything owed is done, each (event, recipient) told once ------------
        if not effects:
            session.remove()
            return report
        outbox_states = Counter(session.scalars(sa.select(Outbox.state)))
        if outbox_states.get(OutboxState.DONE, 0) != sum(outbox_states.values()):
            problems.append(f"outbox rows not done: {dict(outbox_states)}")
        per_recipient = session.execute(
            sa.select(
                Delivery.event_id, Delivery.recipient_openid, Delivery.template, sa.func.count()
            )
            .group_by(Delivery.event_id, Delivery.recipient_openid, Delivery.template)
            .having(sa.func.count() > 1)
        ).all()
        for event_id, openid, template, count in per_recipient:
            problems.append(f"event {event_id} has {count} deliveries to {openid} ({template})")
        deliveries = session.execute(
            sa.select(Delivery.id, Delivery.state, Delivery.attempts)
        ).all()
        sent_ids = {d.id for d in deliveries if d.state == DeliveryState.SENT}
        pending = [d.id for d in deliveries if d.state == DeliveryState.PENDING]
        if pending:
            problems.append(f"{len(pending)} deliveries still pending: {pending[:10]}")
        if messages is None:  # not observed (a benchmark overflows the sandbox's list)
            received = Counter({delivery_id: 1 for delivery_id in sent_ids})
        else:
            received = messages_per_delivery(messages)
        if messages is not None and len(messages) >= SENT_LIMIT:
            problems.append("the sandbox list is full: message counts would be truncated")
        for delivery_id in sent_ids:
            if received[delivery_id] != 1:
                problems.append(
                    f"delivery {delivery_id} marked sent, WeChat got {received[delivery_id]}"
                )
        for delivery_id, count in received.items():
            if delivery_id not in sent_ids:
                problems.append(f"WeChat got {count} messages for unsent delivery {delivery_id}")
        report.figures["deliveries sent"] = len(sent_ids)
        report.figures["messages WeChat received"] = (
            sum(received.values()) if messages is not None else "not observed"
        )

        # -- duplicates seen: proof that at-least-once really delivered more than once ------
        executions = job_executions(worker_logs)
        redriven = session.scalar(sa.select(sa.func.count()).where(Outbox.attempts > 0))
        report.figures["outbox rows"] = sum(outbox_states.values())
        report.figures["job executions"] = sum(executions.values())
        report.figures["jobs executed more than once"] = sum(
            1 for count in executions.values() if count > 1
        )
        report.figures["duplicate executions"] = sum(
            count - 1 for count in executions.values() if count > 1
        )
        report.figures["outbox rows re-driven by the reconciler"] = redriven
        report.figures["deliveries tried more than once"] = sum(
            1 for d in deliveries if d.attempts > 1
        )
        session.remove()
    return report
