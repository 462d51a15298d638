"""回访: the worker confirms, disputes and rates; an unanswered resolution closes itself only when
the worker was told of it, otherwise the team must phone them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tests.test_foreman_api import auth, events, member_token, members_of, street_team
from wagedispute.access.actors import Actor
from wagedispute.access.tokens import issue_token
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.handling.followup import (
    close_unanswered,
    followup_call_overdue,
    record_followup_call,
)
from wagedispute.models import (
    Case,
    CaseStatus,
    Complainant,
    Delivery,
    DeliveryState,
    Outcome,
    Role,
    SubscriptionConsent,
    Urgency,
)
from wagedispute.platform.database import db, utcnow


def worker(openid: str = "o-worker") -> tuple[Complainant, str]:
    """A complainant and their bearer token."""
    complainant = Complainant(openid=openid)
    db.session.add(complainant)
    db.session.commit()
    return complainant, issue_token(Actor(Role.COMPLAINANT, complainant.id))


def resolved_case(make_case, district: dict[str, Any], complainant: Complainant) -> Case:
    """A worker's case taken through dispatch and acceptance to ``resolved``."""
    case = make_case(complainant_id=complainant.id)
    team = next(t for t in district["teams"] if t.street_id == case.street_id)
    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.NORMAL),
    )
    transition_case(case.id, CaseStatus.ACCEPTED, member)
    transition_case(
        case.id,
        CaseStatus.RESOLVED,
        member,
        StepRequest(outcome=Outcome.TRANSFERRED_INSPECTION, data={"transferred_to": "劳动监察"}),
    )
    return case


def stored(case: Case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def test_confirming_closes_the_case_with_a_rating(client, district, make_case):
    complainant, token = worker()
    case = resolved_case(make_case, district, complainant)
    response = client.post(
        f"/api/v1/complaints/{case.number}/confirm",
        json={"score": 4, "comment": "处理及时"},
        headers=auth(token),
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == "closed"
    after = stored(case)
    assert after.status == CaseStatus.CLOSED and after.closed_at is not None
    [rating] = events(case, "rating")
    assert rating.data == {"score": 4, "comment": "处理及时"}
    assert rating.actor_role == Role.COMPLAINANT and rating.actor_id == complainant.id
    closed = events(case, "status")[-1]
    assert closed.actor_role == Role.COMPLAINANT


def test_disputing_reopens_and_flags_to_the_bureau(client, district, make_case):
    complainant, token = worker()
    case = resolved_case(make_case, district, complainant)
    url = f"/api/v1/complaints/{case.number}/dispute"
    assert client.post(url, json={"reason": ""}, headers=auth(token)).status_code == 422
    response = client.post(
        url, json={"reason": "实际没有收到任何款项", "score": 1}, headers=auth(token)
    )
    assert response.status_code == 200 and response.json["status"] == "reopened"
    after = stored(case)
    assert after.status == CaseStatus.REOPENED and after.flagged_to_bureau is True
    assert events(case, "status")[-1].data["reason"] == "实际没有收到任何款项"
    assert events(case, "rating")[0].data["score"] == 1


def test_rating_is_once_per_resolved_case_and_1_to_5(client, district, make_case):
    complainant, token = worker()
    open_case = make_case(complainant_id=complainant.id)
    early = client.post(
        f"/api/v1/complaints/{open_case.number}/rating", json={"score": 5}, headers=auth(token)
    )
    assert early.status_code == 409 and early.json["error"]["code"] == "not_resolved"

    case = resolved_case(make_case, district, complainant)
    url = f"/api/v1/complaints/{case.number}/rating"
    assert client.post(url, json={"score": 6}, headers=auth(token)).status_code == 422
    assert client.post(url, json={"score": 0}, headers=auth(token)).status_code == 422
    ok = client.post(url, json={"score": 5}, headers=auth(token))
    assert ok.status_code == 201 and ok.json["score"] == 5
    twice = client.post(url, json={"score": 3}, headers=auth(token))
    assert twice.status_code == 409 and twice.json["error"]["code"] == "already_rated"
    assert [e.data for e in events(case, "rating")] == [{"score": 5, "comment": None}]
    # Rated already: a second score is refused, confirming without one closes.
    confirm = client.post(
        f"/api/v1/complaints/{case.number}/confirm", json={"score": 2}, headers=auth(token)
    )
    assert confirm.status_code == 409
    assert stored(case).status == CaseStatus.RESOLVED
    confirm = client.post(f"/api/v1/complaints/{case.number}/confirm", json={}, headers=auth(token))
    assert confirm.status_code == 200 and len(events(case, "rating")) == 1


def test_another_workers_case_is_404(client, district, make_case):
    owner, _ = worker("o-owner")
    _other, other_token = worker("o-other")
    case = resolved_case(make_case, district, owner)
    for action, body in (("confirm", {}), ("dispute", {"reason": "x"}), ("rating", {"score": 5})):
        response = client.post(
            f"/api/v1/complaints/{case.number}/{action}", json=body, headers=auth(other_token)
        )
        assert response.status_code == 404
    assert stored(case).status == CaseStatus.RESOLVED


def test_confirming_an_unresolved_case_is_refused(client, district, make_case):
    complainant, token = worker()
    case = make_case(complainant_id=complainant.id)
    response = client.post(
        f"/api/v1/complaints/{case.number}/confirm", json={}, headers=auth(token)
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "invalid_transition"


def told_worker(openid: str = "o-worker") -> Complainant:
    """A mini-program worker who subscribed to progress messages (so the outcome reaches them)."""
    complainant, _ = worker(openid)
    db.session.add(
        SubscriptionConsent(openid=openid, template="case_progress", accepted=True, remaining=20)
    )
    db.session.commit()
    return complainant


def test_unanswered_resolutions_close_after_seven_days_when_the_worker_was_told(
    app, district, make_case, drain
):
    complainant = told_worker()
    old = resolved_case(make_case, district, complainant)
    recent = resolved_case(make_case, district, complainant)
    answered = resolved_case(make_case, district, complainant)
    drain()
    transition_case(
        answered.id,
        CaseStatus.REOPENED,
        Actor(Role.COMPLAINANT, complainant.id),
        StepRequest(reason="未收到"),
    )
    now = utcnow()
    for case, age in ((old, timedelta(days=7, minutes=1)), (recent, timedelta(days=6, hours=23))):
        row = db.session.get(Case, case.id)
        row.resolved_at = now - age
    db.session.commit()

    assert close_unanswered(now) == [old.id]
    assert stored(old).status == CaseStatus.CLOSED
    assert stored(recent).status == CaseStatus.RESOLVED
    assert stored(answered).status == CaseStatus.REOPENED
    closing = events(old, "status")[-1]
    assert closing.actor_role == Role.SYSTEM and "7日" in closing.data["reason"]
    assert close_unanswered(now) == []
    assert close_unanswered(now + timedelta(hours=2)) == [recent.id]


def test_a_case_whose_worker_was_never_told_is_not_auto_closed_but_becomes_a_followup_call(
    app, district, make_case, drain
):
    # A worker with no consent and no mobile: no message about the outcome can reach them.
    complainant, _ = worker("o-never-told")
    case = resolved_case(make_case, district, complainant)
    drain()
    told = db.session.scalars(
        sa.select(Delivery).where(
            Delivery.case_id == case.id,
            Delivery.recipient_role == Role.COMPLAINANT,
            Delivery.state == DeliveryState.SENT,
        )
    ).all()
    assert told == []
    now = utcnow() + timedelta(days=8)

    assert close_unanswered(now) == []
    after = stored(case)
    assert after.status == CaseStatus.RESOLVED
    assert after.followup_call_due_at is not None and after.followup_call_due_at > now
    [task] = events(case, "followup_call")
    assert task.actor_role == Role.SYSTEM and not task.worker_visible
    # Asking again changes nothing: one task, one clock.
    assert close_unanswered(now + timedelta(days=30)) == []
    assert len(events(case, "followup_call")) == 1
    assert stored(case).status == CaseStatus.RESOLVED
    # The team is told to call (a WeChat message to the bound members of the team).
    team = street_team(district, case)
    member = members_of(team)[0]
    member.openid = "o-member-caller"
    db.session.commit()
    drain()
    calls = db.session.scalars(
        sa.select(Delivery).where(Delivery.case_id == case.id, Delivery.template == "followup_call")
    ).all()
    assert any(d.state == DeliveryState.SENT for d in calls)

    # The team reaches the worker by phone: seven days from the call, silence closes the case.
    actor = Actor(Role.TEAM_MEMBER, member.id, team_id=team.id)
    record_followup_call(actor, case.number, reached=True, note="已电话告知处置结果")
    called_at = stored(case).followup_called_at
    assert close_unanswered(called_at + timedelta(days=6)) == []
    assert close_unanswered(called_at + timedelta(days=7, minutes=1)) == [case.id]
    assert stored(case).status == CaseStatus.CLOSED


def test_a_missed_followup_call_is_logged_and_the_call_stays_due(app, district, make_case, drain):
    complainant, _ = worker("o-never-told-2")
    case = resolved_case(make_case, district, complainant)
    now = utcnow() + timedelta(days=8)
    close_unanswered(now)
    team = street_team(district, case)
    member = members_of(team)[0]
    actor = Actor(Role.TEAM_MEMBER, member.id, team_id=team.id)
    record_followup_call(actor, case.number, reached=False, note="无人接听")
    assert len(events(case, "followup_call_missed")) == 1
    assert stored(case).followup_called_at is None
    assert close_unanswered(now + timedelta(days=30)) == []
    assert followup_call_overdue(stored(case), now + timedelta(days=30))


def test_the_team_records_its_followup_call_through_the_api(client, district, make_case):
    complainant, _ = worker("o-never-told-3")
    case = resolved_case(make_case, district, complainant)
    member = members_of(street_team(district, case))[0]
    token = member_token(client, member)
    path = f"/api/v1/team/cases/{case.number}/followup-call"
    early = client.post(path, json={"reached": True}, headers=auth(token))
    assert early.status_code == 409 and early.json["error"]["code"] == "no_followup_call"
    close_unanswered(utcnow() + timedelta(days=8))
    answer = client.post(path, json={"reached": True, "note": "已告知"}, headers=auth(token))
    assert answer.status_code == 200, answer.json
    assert stored(case).followup_called_at is not None
    assert events(case, "followup_call_made")[0].data["note"] == "已告知"
