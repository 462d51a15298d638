"""Durable dispatch: outbox rows reach RQ, jobs send each message once, lost jobs are re-driven."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq.job import Job
from rq.serializers import JSONSerializer

from wagedispute.access.actors import Actor
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.jobs import run_outbox
from wagedispute.messaging.outbox import job_id_for
from wagedispute.models import (
    CaseStatus,
    Delivery,
    DeliveryState,
    Outbox,
    OutboxState,
    Role,
    TeamMember,
    Urgency,
)
from wagedispute.platform import wechat
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.queues import get_queue, get_redis
from wagedispute.relay import reconcile, relay_pending


@pytest.fixture
def bound_team(district):
    """The first demo team with both members bound to WeChat openids."""
    team = district["teams"][0]
    members = db.session.scalars(sa.select(TeamMember).where(TeamMember.team_id == team.id)).all()
    for index, member in enumerate(members):
        member.openid = f"o-team-{team.id}-{index}"
    db.session.commit()
    return team


def dispatch(case, team):
    return transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.URGENT),
    )


def team_messages(team):
    return [
        m for m in wechat.sandbox_sent_messages() if m["touser"].startswith(f"o-team-{team.id}-")
    ]


def test_dispatch_notifies_each_team_member_once(make_case, bound_team, drain):
    case = make_case()
    dispatch(case, bound_team)
    drain()
    messages = team_messages(bound_team)
    assert len(messages) == 2
    assert {m["touser"] for m in messages} == {
        f"o-team-{bound_team.id}-0",
        f"o-team-{bound_team.id}-1",
    }
    assert all(m["data"]["case_number"]["value"] == case.number for m in messages)
    states = db.session.scalars(sa.select(Outbox.state)).all()
    assert set(states) == {OutboxState.DONE}


def test_running_a_job_twice_sends_once(make_case, bound_team, drain):
    case = make_case()
    dispatch(case, bound_team)
    drain()
    row = db.session.scalars(sa.select(Outbox).order_by(Outbox.id.desc())).first()
    # A second execution of the same row (a duplicate job), even one that finds it not done:
    row.state = OutboxState.ENQUEUED
    db.session.commit()
    run_outbox(row.id)
    assert len(team_messages(bound_team)) == 2
    sent = db.session.scalars(sa.select(Delivery).where(Delivery.state == DeliveryState.SENT)).all()
    assert len(sent) == 2


def test_relay_uses_deterministic_job_ids_on_the_dispatch_queue(make_case, bound_team):
    case = make_case()
    dispatch(case, bound_team)
    moved = relay_pending()
    assert moved == 2  # creation and dispatch
    queue = get_queue("dispatch")
    ids = set(queue.job_ids)
    rows = db.session.scalars(sa.select(Outbox)).all()
    assert ids == {job_id_for(r.id) for r in rows}
    assert {r.state for r in rows} == {OutboxState.ENQUEUED}
    assert relay_pending() == 0


def test_jobs_lost_with_redis_are_redriven(make_case, bound_team, drain):
    case = make_case()
    dispatch(case, bound_team)
    relay_pending()
    get_redis().flushdb()  # Redis restarted empty: every queued job is gone
    report = reconcile()
    assert report.missing == 0  # just enqueued: left to settle
    db.session.execute(sa.update(Outbox).values(enqueued_at=utcnow() - timedelta(seconds=30)))
    db.session.commit()
    report = reconcile()
    assert report.missing == 2
    drain()
    assert len(team_messages(bound_team)) == 2
    assert set(db.session.scalars(sa.select(Outbox.state))) == {OutboxState.DONE}


def test_abandoned_started_job_is_cleaned_and_redriven(make_case, bound_team, drain):
    case = make_case()
    dispatch(case, bound_team)
    relay_pending()
    redis = get_redis()
    queue = get_queue("dispatch")
    # Simulate a worker killed mid-job: the job is "started" and its heartbeat stops.
    job_id = queue.job_ids[-1]
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    queue.remove(job_id)
    started_long_ago = utcnow() - timedelta(minutes=5)
    job.set_status("started")
    job.started_at = started_long_ago
    job.heartbeat(started_long_ago, ttl=60)
    job.save()
    db.session.execute(sa.update(Outbox).values(enqueued_at=started_long_ago))
    db.session.commit()
    report = reconcile()
    assert report.abandoned == 1
    drain()
    assert len(team_messages(bound_team)) == 2


def test_unbound_team_members_are_skipped_not_lost(make_case, district, drain):
    case = make_case()
    dispatch(case, district["teams"][0])
    drain()
    deliveries = db.session.scalars(sa.select(Delivery)).all()
    assert deliveries and {d.state for d in deliveries} == {DeliveryState.SKIPPED}
    assert {d.error for d in deliveries} == {"not_bound"}


def test_every_periodic_maintenance_target_is_an_imported_function():
    from wagedispute.jobs import PERIODIC

    assert PERIODIC
    for name, periodic in PERIODIC.items():
        assert periodic.interval_seconds >= 60, name
        assert callable(periodic.run), name


def test_periodic_names_queued_before_the_regroup_still_run(app, monkeypatch):
    from wagedispute import jobs

    ran = []
    for legacy, name in jobs.LEGACY_PERIODIC_NAMES.items():
        periodic = jobs.PERIODIC[name]
        monkeypatch.setitem(
            jobs.PERIODIC,
            name,
            jobs.Periodic(periodic.interval_seconds, lambda n=name: ran.append(n)),
        )
        jobs.run_periodic(legacy)
    assert sorted(ran) == sorted(jobs.PERIODIC)


def test_relay_enqueues_a_periodic_run_once_per_interval(app):
    from wagedispute.relay import enqueue_periodic

    enqueue_periodic("escalate_breaches", 3600)
    enqueue_periodic("escalate_breaches", 3600)
    assert get_queue("maintenance").count == 1


def test_worker_messages_use_configured_template_ids_and_need_consent(
    app, make_case, bound_team, drain, monkeypatch
):
    from wagedispute.models import Complainant, SubscriptionConsent

    monkeypatch.setitem(app.config, "WECHAT_TEMPLATE_IDS", "case_progress=TPL-PROGRESS-1")
    consenting = Complainant(openid="o-worker-yes")
    silent = Complainant(openid="o-worker-no")
    db.session.add_all([consenting, silent])
    db.session.flush()
    db.session.add(
        SubscriptionConsent(openid="o-worker-yes", template="TPL-PROGRESS-1", accepted=True)
    )
    db.session.commit()
    for complainant in (consenting, silent):
        dispatch(make_case(complainant_id=complainant.id), bound_team)
    drain()
    to_workers = [m for m in wechat.sandbox_sent_messages() if m["touser"].startswith("o-worker")]
    assert [(m["touser"], m["template_id"]) for m in to_workers] == [
        ("o-worker-yes", "TPL-PROGRESS-1")
    ]
    skipped = db.session.scalars(
        sa.select(Delivery).where(Delivery.recipient_openid == "o-worker-no")
    ).all()
    assert [d.error for d in skipped] == ["no_consent"]
    consent = db.session.scalars(sa.select(SubscriptionConsent)).one()
    assert consent.remaining == 0  # a one-time subscription is used up by the send
