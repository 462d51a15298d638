"""The whole loop over HTTP, with wechatpy's real client against the local WeChat sandbox.

worker submits → foreman (bound with a binding code) confirms and dispatches → the team is
notified (the sandbox's log, via the outbox relay and a real RQ worker) → accepts → resolves
with proof → the worker confirms → closed; and the dispute path → reopened and flagged.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from tests.test_foreman_api import auth, members_of
from tests.test_team_api import png_bytes
from wagedispute.access.binding import issue_binding_code
from wagedispute.models import Case, CaseStatus, Delivery, DeliveryState, QrCode
from wagedispute.platform import wechat
from wagedispute.platform.database import db


def sign_in_worker(client, openid: str) -> str:
    """The worker opens the mini-program: wx.login code → our token; accepts progress messages."""
    response = client.post("/api/v1/session", json={"code": f"sandbox:{openid}"})
    assert response.status_code == 200, response.json
    token = response.json["token"]
    consent = client.post(
        "/api/v1/subscriptions",
        json={"accepted": ["case_progress"]},
        headers=auth(token),
    )
    assert consent.status_code in {200, 201, 204}, consent.json
    return token


def sign_in_staff(client, openid: str, *, foreman_id=None, team_member_id=None) -> str:
    """A foreman or team member binds WeChat with the bureau's one-time code and signs in."""
    issued = issue_binding_code(foreman_id=foreman_id, team_member_id=team_member_id)
    response = client.post(
        "/api/v1/staff-session",
        json={"code": f"sandbox:{openid}", "binding_code": issued.code},
    )
    assert response.status_code == 200, response.json
    return response.json["token"]


def submit(client, token: str, qr_token: str, site: str) -> str:
    """The worker submits a complaint; returns its public number."""
    response = client.post(
        "/api/v1/complaints",
        json={
            "name": "王小明",
            "mobile": "13800138000",
            "site_name": site,
            "workers_affected": 3,
            "amount_owed_fen": 1_800_000,
            "description": "木工班组三人两个月工资未发",
            "qr_token": qr_token,
        },
        headers={**auth(token), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.json
    return response.json["number"]


def sent_to(openid: str) -> list[dict[str, Any]]:
    """What the sandbox recorded as sent to one openid, oldest first."""
    return [m for m in reversed(wechat.sandbox_sent_messages(1000)) if m["touser"] == openid]


def case_status(number: str) -> Case:
    db.session.expire_all()
    return db.session.scalars(sa.select(Case).where(Case.number == number)).one()


def handle_to_resolution(client, foreman: str, member: str, number: str, drain) -> None:
    """Foreman confirms and dispatches; the team accepts, uploads proof and resolves."""
    queue = client.get("/api/v1/foreman/queue", headers=auth(foreman)).json["cases"]
    [lead] = [c for c in queue if c["number"] == number]
    team_id = lead["suggested_team"]["id"]
    confirmed = client.post(
        f"/api/v1/foreman/cases/{number}/urgency",
        json={"urgency": lead["urgency_suggested"]},
        headers=auth(foreman),
    )
    assert confirmed.status_code == 200, confirmed.json
    dispatched = client.post(
        f"/api/v1/foreman/cases/{number}/dispatch", json={"team_id": team_id}, headers=auth(foreman)
    )
    assert dispatched.status_code == 200, dispatched.json
    drain()

    listed = client.get("/api/v1/team/cases", headers=auth(member)).json["cases"]
    assert number in [c["number"] for c in listed]
    accepted = client.post(f"/api/v1/team/cases/{number}/accept", headers=auth(member))
    assert accepted.status_code == 200, accepted.json
    note = client.post(
        f"/api/v1/team/cases/{number}/notes",
        json={"text": "已电话联系工人，约总包明日到场", "contacted_worker": True},
        headers=auth(member),
    )
    assert note.status_code == 201
    proof = client.post(
        f"/api/v1/team/cases/{number}/evidence",
        data=png_bytes(),
        content_type="application/octet-stream",
        headers=auth(member),
    )
    assert proof.status_code == 201, proof.json
    resolved = client.post(
        f"/api/v1/team/cases/{number}/resolve",
        json={
            "outcome": "paid_in_full",
            "summary": "总包代发全部欠薪",
            "proof_evidence_ids": [proof.json["id"]],
            "payments": [
                {"worker": "王小明", "amount_fen": 600_000},
                {"worker": "工人乙", "amount_fen": 600_000},
                {"worker": "工人丙", "amount_fen": 600_000},
            ],
        },
        headers=auth(member),
    )
    assert resolved.status_code == 200, resolved.json
    drain()


def test_the_whole_loop_over_http(client, district, drain):
    foreman = district["foremen"][0]
    qr_token = db.session.scalars(
        sa.select(QrCode.token).where(QrCode.foreman_id == foreman.id)
    ).one()
    team = next(t for t in district["teams"] if t.street_id == foreman.street_id)
    team_member = members_of(team)[0]

    worker = sign_in_worker(client, "o-loop-worker")
    foreman_token = sign_in_staff(client, "o-loop-foreman", foreman_id=foreman.id)
    member_token = sign_in_staff(client, "o-loop-member", team_member_id=team_member.id)

    number = submit(client, worker, qr_token, "海景花园二期工地")
    drain()
    assert [m["template_id"] for m in sent_to("o-loop-foreman")] == ["new_lead"]

    handle_to_resolution(client, foreman_token, member_token, number, drain)
    # The team was told of the dispatch exactly once, through the sandbox.
    assigned = [m for m in sent_to("o-loop-member") if m["template_id"] == "case_assigned"]
    assert len(assigned) == 1
    assert assigned[0]["data"]["case_number"]["value"] == number
    resolved = case_status(number)
    assert resolved.status == CaseStatus.RESOLVED
    assert resolved.outcome_data["amount_paid_fen"] == 1_800_000
    assert resolved.accepted_at is not None and resolved.first_contact_at is not None

    confirmed = client.post(
        f"/api/v1/complaints/{number}/confirm",
        json={"score": 5, "comment": "工资已到账"},
        headers=auth(worker),
    )
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["status"] == "closed"
    drain()
    assert case_status(number).status == CaseStatus.CLOSED
    timeline = client.get(f"/api/v1/complaints/{number}", headers=auth(worker)).json["timeline"]
    assert [t["status"] for t in timeline if t["status"]][-1] == "closed"
    worker_messages = sent_to("o-loop-worker")
    assert len(worker_messages) >= 1
    deliveries = db.session.scalars(
        sa.select(Delivery).where(Delivery.recipient_openid == "o-loop-member")
    ).all()
    assert [d.state for d in deliveries] == [DeliveryState.SENT]


def test_the_dispute_path_reopens_and_flags_the_case(client, district, drain):
    foreman = district["foremen"][0]
    qr_token = db.session.scalars(
        sa.select(QrCode.token).where(QrCode.foreman_id == foreman.id)
    ).one()
    team = next(t for t in district["teams"] if t.street_id == foreman.street_id)

    worker = sign_in_worker(client, "o-dispute-worker")
    foreman_token = sign_in_staff(client, "o-dispute-foreman", foreman_id=foreman.id)
    member_token = sign_in_staff(client, "o-dispute-member", team_member_id=members_of(team)[0].id)
    number = submit(client, worker, qr_token, "滨海大道改造工地")
    handle_to_resolution(client, foreman_token, member_token, number, drain)

    disputed = client.post(
        f"/api/v1/complaints/{number}/dispute",
        json={"reason": "只收到一半工资", "score": 1},
        headers=auth(worker),
    )
    assert disputed.status_code == 200, disputed.json
    drain()
    case = case_status(number)
    assert case.status == CaseStatus.REOPENED and case.flagged_to_bureau is True
    # Back in the foreman's queue, and the foreman was told.
    queue = client.get("/api/v1/foreman/queue", headers=auth(foreman_token)).json["cases"]
    assert [(c["number"], c["status"], c["flagged_to_bureau"]) for c in queue] == [
        (number, "reopened", True)
    ]
    assert "case_returned" in [m["template_id"] for m in sent_to("o-dispute-foreman")]
