"""The disposal team's API: scope, accept or return, progress notes, resolve with proof."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from PIL import Image

from tests.test_foreman_api import auth, events, foreman_token, member_token, members_of
from wagedispute.access.actors import Actor
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.models import Case, CaseStatus, Evidence, Outcome, Role, Urgency
from wagedispute.platform.database import db


def png_bytes(colour: str = "white") -> bytes:
    """A small real PNG (evidence is checked by content)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return out.getvalue()


def dispatched_case(make_case, district: dict[str, Any], **fields: Any) -> tuple[Case, Any]:
    """A case dispatched by its foreman to a team of its street; returns (case, team)."""
    case = make_case(**fields)
    team = next(t for t in district["teams"] if t.street_id == case.street_id)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.URGENT),
    )
    return case, team


def accepted_case(client, make_case, district, **fields: Any) -> tuple[Case, str]:
    """A case accepted by a team member through the API; returns (case, member token)."""
    case, team = dispatched_case(make_case, district, **fields)
    token = member_token(client, members_of(team)[0])
    response = client.post(f"/api/v1/team/cases/{case.number}/accept", headers=auth(token))
    assert response.status_code == 200, response.json
    return case, token


def upload(client, case: Case, token: str, colour: str = "white") -> int:
    """Upload a PNG to the case as the team; returns the evidence id."""
    response = client.post(
        f"/api/v1/team/cases/{case.number}/evidence",
        data=png_bytes(colour),
        content_type="application/octet-stream",
        headers=auth(token),
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def stored(case: Case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def test_team_sees_only_its_own_cases(client, district, make_case):
    mine, team = dispatched_case(make_case, district)
    other_team = next(t for t in district["teams"] if t.id != team.id)
    theirs = make_case()
    transition_case(
        theirs.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, theirs.foreman_id),
        StepRequest(team_id=other_team.id, urgency=Urgency.NORMAL),
    )
    undispatched = make_case()
    token = member_token(client, members_of(team)[0])
    listed = client.get("/api/v1/team/cases", headers=auth(token)).json["cases"]
    assert [c["number"] for c in listed] == [mine.number]
    for number in (theirs.number, undispatched.number):
        assert client.get(f"/api/v1/team/cases/{number}", headers=auth(token)).status_code == 404
        response = client.post(f"/api/v1/team/cases/{number}/accept", headers=auth(token))
        assert response.status_code == 404
    assert stored(theirs).status == CaseStatus.DISPATCHED


def test_foreman_token_on_team_routes_is_404(client, district, make_case):
    case, _team = dispatched_case(make_case, district)
    token = foreman_token(client, district["foremen"][0])
    assert client.get("/api/v1/team/cases", headers=auth(token)).status_code == 404
    response = client.post(f"/api/v1/team/cases/{case.number}/accept", headers=auth(token))
    assert response.status_code == 404


def test_accept_sets_accepted_at_and_start_moves_to_in_progress(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    assert stored(case).status == CaseStatus.ACCEPTED
    assert stored(case).accepted_at is not None
    again = client.post(f"/api/v1/team/cases/{case.number}/accept", headers=auth(token))
    assert again.status_code == 409
    started = client.post(f"/api/v1/team/cases/{case.number}/start", headers=auth(token))
    assert started.status_code == 200 and started.json["status"] == "in_progress"


def test_return_needs_a_reason(client, district, make_case):
    case, team = dispatched_case(make_case, district)
    token = member_token(client, members_of(team)[0])
    url = f"/api/v1/team/cases/{case.number}/return"
    assert client.post(url, json={"reason": ""}, headers=auth(token)).status_code == 422
    assert stored(case).status == CaseStatus.DISPATCHED
    response = client.post(url, json={"reason": "非本街道工地"}, headers=auth(token))
    assert response.status_code == 200 and response.json["status"] == "returned"
    assert events(case, "status")[-1].data["reason"] == "非本街道工地"


def test_first_contact_note_sets_first_contact_once(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    url = f"/api/v1/team/cases/{case.number}/notes"
    internal = client.post(url, json={"text": "已调取考勤表"}, headers=auth(token))
    assert internal.status_code == 201 and internal.json["worker_visible"] is False
    assert stored(case).first_contact_at is None

    evidence_id = upload(client, case, token)
    contact = client.post(
        url,
        json={
            "text": "已电话联系工人核实欠薪情况",
            "contacted_worker": True,
            "worker_visible": True,
            "evidence_ids": [evidence_id],
        },
        headers=auth(token),
    )
    assert contact.status_code == 201
    assert contact.json["data"]["evidence_ids"] == [evidence_id]
    first = stored(case).first_contact_at
    assert first is not None
    client.post(url, json={"text": "再次联系", "contacted_worker": True}, headers=auth(token))
    assert stored(case).first_contact_at == first
    notes = events(case, "note")
    assert [n.worker_visible for n in notes] == [False, True, False]
    assert "message" not in notes[0].data and notes[1].data["message"]


def test_note_with_another_cases_evidence_is_refused(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    other, other_token = accepted_case(client, make_case, district, site_name="别的工地")
    foreign = upload(client, other, other_token)
    response = client.post(
        f"/api/v1/team/cases/{case.number}/notes",
        json={"text": "附件", "evidence_ids": [foreign]},
        headers=auth(token),
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "evidence_not_found"
    assert events(case, "note") == []


def test_note_before_accepting_is_refused(client, district, make_case):
    case, team = dispatched_case(make_case, district)
    token = member_token(client, members_of(team)[0])
    response = client.post(
        f"/api/v1/team/cases/{case.number}/notes", json={"text": "x"}, headers=auth(token)
    )
    assert response.status_code == 409


def test_paid_resolution_without_proof_is_refused_and_changes_nothing(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    url = f"/api/v1/team/cases/{case.number}/resolve"
    payments = [{"worker": "工人甲", "amount_fen": 400_000}]
    no_proof = client.post(
        url, json={"outcome": "paid_in_full", "payments": payments}, headers=auth(token)
    )
    assert no_proof.status_code == 422
    assert no_proof.json["error"]["code"] == "proof_required"
    evidence_id = upload(client, case, token)
    no_amounts = client.post(
        url,
        json={"outcome": "paid_in_part", "proof_evidence_ids": [evidence_id]},
        headers=auth(token),
    )
    assert no_amounts.json["error"]["code"] == "payments_required"
    made_up = client.post(
        url,
        json={"outcome": "paid_in_full", "proof_evidence_ids": [987654], "payments": payments},
        headers=auth(token),
    )
    assert made_up.json["error"]["code"] == "evidence_not_found"
    after = stored(case)
    assert after.status == CaseStatus.ACCEPTED and after.outcome is None


def test_proof_from_another_case_is_refused(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    other, other_token = accepted_case(client, make_case, district, site_name="别的工地")
    foreign = upload(client, other, other_token)
    response = client.post(
        f"/api/v1/team/cases/{case.number}/resolve",
        json={
            "outcome": "paid_in_full",
            "proof_evidence_ids": [foreign],
            "payments": [{"worker": "工人甲", "amount_fen": 1}],
        },
        headers=auth(token),
    )
    assert response.status_code == 422
    assert stored(case).status == CaseStatus.ACCEPTED


def test_paid_resolution_records_the_amount_per_worker(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    proof = [upload(client, case, token, "white"), upload(client, case, token, "gray")]
    response = client.post(
        f"/api/v1/team/cases/{case.number}/resolve",
        json={
            "outcome": "paid_in_part",
            "summary": "总包代付两名工人工资，余款协商中",
            "proof_evidence_ids": proof,
            "payments": [
                {"worker": "工人甲", "amount_fen": 400_000},
                {"worker": "工人乙", "amount_fen": 350_000},
            ],
        },
        headers=auth(token),
    )
    assert response.status_code == 200, response.json
    after = stored(case)
    assert after.status == CaseStatus.RESOLVED and after.outcome == Outcome.PAID_IN_PART
    assert after.resolved_at is not None
    assert after.outcome_data["amount_paid_fen"] == 750_000
    assert after.outcome_data["proof_evidence_ids"] == sorted(proof)
    assert [p["worker"] for p in after.outcome_data["payments"]] == ["工人甲", "工人乙"]
    evidence = db.session.scalars(sa.select(Evidence).where(Evidence.id.in_(proof))).all()
    assert {e.uploaded_by_role for e in evidence} == {Role.TEAM_MEMBER}


def test_instalment_plan_and_transfer_outcomes(client, district, make_case):
    plan_case, token = accepted_case(client, make_case, district)
    url = f"/api/v1/team/cases/{plan_case.number}/resolve"
    missing = client.post(url, json={"outcome": "instalment_plan"}, headers=auth(token))
    assert missing.json["error"]["code"] == "instalments_required"
    response = client.post(
        url,
        json={
            "outcome": "instalment_plan",
            "instalments": [
                {"due_date": "2026-03-31", "amount_fen": 600_000},
                {"due_date": "2026-02-28", "amount_fen": 600_000},
            ],
        },
        headers=auth(token),
    )
    assert response.status_code == 200, response.json
    data = stored(plan_case).outcome_data
    assert [i["due_date"] for i in data["instalments"]] == ["2026-02-28", "2026-03-31"]
    assert data["amount_planned_fen"] == 1_200_000 and data["amount_paid_fen"] == 0

    transfer_case, token2 = accepted_case(client, make_case, district, site_name="移交工地")
    response = client.post(
        f"/api/v1/team/cases/{transfer_case.number}/resolve",
        json={
            "outcome": "transferred_arbitration",
            "transfer_reference": "深盐劳人仲案〔2026〕8号",
        },
        headers=auth(token2),
    )
    assert response.status_code == 200
    data = stored(transfer_case).outcome_data
    assert data["transferred_to"] == "劳动仲裁"
    assert data["transfer_reference"] == "深盐劳人仲案〔2026〕8号"


def test_unsubstantiated_needs_a_summary(client, district, make_case):
    case, token = accepted_case(client, make_case, district)
    url = f"/api/v1/team/cases/{case.number}/resolve"
    refused = client.post(url, json={"outcome": "unsubstantiated"}, headers=auth(token))
    assert refused.json["error"]["code"] == "summary_required"
    ok = client.post(
        url,
        json={"outcome": "unsubstantiated", "summary": "工资已按月足额发放，有银行流水为证"},
        headers=auth(token),
    )
    assert ok.status_code == 200 and ok.json["outcome"] == "unsubstantiated"
