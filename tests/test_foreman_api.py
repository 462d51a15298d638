"""Staff binding and the foreman's API: queue, urgency, dispatch, reject, return, merge, split."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.access.binding import issue_binding_code
from wagedispute.access.tokens import issue_token
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.models import (
    BindingCode,
    Case,
    CaseEvent,
    CaseStatus,
    Complainant,
    DisputeGroup,
    Foreman,
    Role,
    TeamMember,
    Urgency,
)
from wagedispute.platform.database import db, utcnow


def auth(token: str) -> dict[str, str]:
    """The Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def bind(client, *, openid: str, foreman: Foreman | None = None, member: TeamMember | None = None):
    """Issue a binding code and sign in with it through the API; returns the response."""
    issued = issue_binding_code(
        foreman_id=foreman.id if foreman else None,
        team_member_id=member.id if member else None,
    )
    return client.post(
        "/api/v1/staff-session",
        json={"code": f"sandbox:{openid}", "binding_code": issued.code},
    )


def foreman_token(client, foreman: Foreman) -> str:
    """A bearer token for a foreman, obtained the real way (binding code, then sign-in)."""
    response = bind(client, openid=f"o-foreman-{foreman.id}", foreman=foreman)
    assert response.status_code == 200, response.json
    return response.json["token"]


def member_token(client, member: TeamMember) -> str:
    """A bearer token for a team member, obtained through binding."""
    response = bind(client, openid=f"o-member-{member.id}", member=member)
    assert response.status_code == 200, response.json
    return response.json["token"]


def members_of(team) -> list[TeamMember]:
    """The team's members, by id."""
    return list(
        db.session.scalars(
            sa.select(TeamMember).where(TeamMember.team_id == team.id).order_by(TeamMember.id)
        )
    )


def events(case: Case, kind: str) -> list[CaseEvent]:
    """The case's events of one kind, oldest first."""
    return list(
        db.session.scalars(
            sa.select(CaseEvent)
            .where(CaseEvent.case_id == case.id, CaseEvent.kind == kind)
            .order_by(CaseEvent.id)
        )
    )


def street_team(district: dict[str, Any], case: Case):
    """A team of the case's street."""
    return next(t for t in district["teams"] if t.street_id == case.street_id)


# -- binding --------------------------------------------------------------------------------


def test_binding_code_binds_once_and_later_sign_ins_need_no_code(client, district):
    foreman = district["foremen"][0]
    issued = issue_binding_code(foreman_id=foreman.id)
    first = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-f1", "binding_code": issued.code}
    )
    assert first.status_code == 200
    assert first.json["role"] == "foreman" and first.json["newly_bound"] is True
    assert first.json["name"] == foreman.name

    again = client.post("/api/v1/staff-session", json={"code": "sandbox:o-f1"})
    assert again.status_code == 200 and again.json["newly_bound"] is False
    queue = client.get("/api/v1/foreman/queue", headers=auth(again.json["token"]))
    assert queue.status_code == 200

    reused = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-thief", "binding_code": issued.code}
    )
    assert reused.status_code == 422
    assert reused.json["error"]["code"] == "binding_code_used"
    db.session.expire_all()
    assert db.session.get(Foreman, foreman.id).openid == "o-f1"
    stored = db.session.scalars(sa.select(BindingCode)).one()
    assert issued.code not in stored.code_hash and stored.used_at is not None


def test_expired_binding_code_is_refused_and_binds_nothing(client, district):
    member = members_of(district["teams"][0])[0]
    issued = issue_binding_code(team_member_id=member.id, now=utcnow() - timedelta(hours=73))
    response = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-late", "binding_code": issued.code}
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "binding_code_expired"
    assert response.json["error"]["message"]
    db.session.expire_all()
    assert db.session.get(TeamMember, member.id).openid is None
    assert db.session.scalars(sa.select(BindingCode)).one().used_at is None


def test_unknown_code_and_unbound_wechat_are_refused(client, district):
    unknown = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-x", "binding_code": "ABCDE-FGHJK"}
    )
    assert unknown.status_code == 422
    assert unknown.json["error"]["code"] == "binding_code_invalid"
    unbound = client.post("/api/v1/staff-session", json={"code": "sandbox:o-x"})
    assert unbound.status_code == 401
    assert unbound.json["error"]["code"] == "binding_required"


def test_a_new_code_supersedes_the_unused_one(client, district):
    foreman = district["foremen"][0]
    old = issue_binding_code(foreman_id=foreman.id)
    new = issue_binding_code(foreman_id=foreman.id)
    refused = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-a", "binding_code": old.code}
    )
    assert refused.json["error"]["code"] == "binding_code_expired"
    ok = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-a", "binding_code": new.code}
    )
    assert ok.status_code == 200


def test_a_wechat_bound_to_one_person_cannot_bind_another(client, district):
    foreman_token(client, district["foremen"][0])
    other = district["foremen"][1]
    response = bind(client, openid=f"o-foreman-{district['foremen'][0].id}", foreman=other)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "openid_already_bound"
    db.session.expire_all()
    assert db.session.get(Foreman, other.id).openid is None


def test_team_member_token_carries_team_and_street(client, district):
    team = district["teams"][0]
    member = members_of(team)[0]
    response = bind(client, openid="o-m1", member=member)
    assert response.json["role"] == "team_member"
    assert response.json["team"] == team.name
    assert client.get("/api/v1/team/cases", headers=auth(response.json["token"])).status_code == 200


def test_cli_prints_a_working_binding_code(app, client, district):
    foreman = district["foremen"][1]
    result = app.test_cli_runner().invoke(args=["issue-binding-code", "--foreman-id", foreman.id])
    assert result.exit_code == 0, result.output
    code = result.output.split("绑定码：")[1].split()[0]
    response = client.post(
        "/api/v1/staff-session", json={"code": "sandbox:o-cli", "binding_code": code}
    )
    assert response.status_code == 200 and response.json["name"] == foreman.name
    neither = app.test_cli_runner().invoke(args=["issue-binding-code"])
    assert neither.exit_code != 0


# -- scope ----------------------------------------------------------------------------------


def test_foreman_sees_only_own_cases_and_others_answer_404(client, district, make_case):
    mine = make_case()
    theirs = make_case(foreman=district["foremen"][1])
    token = foreman_token(client, district["foremen"][0])
    queue = client.get("/api/v1/foreman/queue", headers=auth(token)).json["cases"]
    assert [c["number"] for c in queue] == [mine.number]
    assert (
        client.get(f"/api/v1/foreman/cases/{theirs.number}", headers=auth(token)).status_code == 404
    )
    team = street_team(district, theirs)
    response = client.post(
        f"/api/v1/foreman/cases/{theirs.number}/dispatch",
        json={"team_id": team.id},
        headers=auth(token),
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    db.session.expire_all()
    assert db.session.get(Case, theirs.id).status == CaseStatus.RECEIVED


def test_other_roles_on_foreman_routes_answer_404_and_no_token_401(client, district, make_case):
    case = make_case()
    complainant = Complainant(openid="o-worker")
    db.session.add(complainant)
    db.session.commit()
    worker = issue_token(Actor(Role.COMPLAINANT, complainant.id))
    member = member_token(client, members_of(district["teams"][0])[0])
    for token in (worker, member):
        assert client.get("/api/v1/foreman/queue", headers=auth(token)).status_code == 404
        response = client.post(
            f"/api/v1/foreman/cases/{case.number}/urgency",
            json={"urgency": "normal"},
            headers=auth(token),
        )
        assert response.status_code == 404
    assert client.get("/api/v1/foreman/queue").status_code == 401


# -- queue ----------------------------------------------------------------------------------


def test_queue_is_most_urgent_first_then_oldest_with_suggestions(client, district, make_case):
    now = utcnow()
    old_normal = make_case(urgency_suggested=Urgency.NORMAL, created_at=now - timedelta(hours=5))
    new_critical = make_case(
        urgency_suggested=Urgency.CRITICAL,
        urgency_reasons=["涉及讨薪聚集苗头"],
        created_at=now - timedelta(hours=1),
    )
    old_urgent = make_case(urgency_suggested=Urgency.URGENT, created_at=now - timedelta(hours=4))
    new_urgent = make_case(urgency_suggested=Urgency.URGENT, created_at=now - timedelta(hours=2))
    # Confirmed levels count over suggestions.
    confirmed_critical = make_case(
        urgency_suggested=Urgency.NORMAL,
        urgency_confirmed=Urgency.CRITICAL,
        created_at=now - timedelta(hours=3),
    )
    dispatched = make_case(urgency_suggested=Urgency.CRITICAL)
    transition_case(
        dispatched.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, dispatched.foreman_id),
        StepRequest(team_id=street_team(district, dispatched).id, urgency=Urgency.CRITICAL),
    )
    token = foreman_token(client, district["foremen"][0])
    queue = client.get("/api/v1/foreman/queue", headers=auth(token)).json["cases"]
    assert [c["number"] for c in queue] == [
        confirmed_critical.number,
        new_critical.number,
        old_urgent.number,
        new_urgent.number,
        old_normal.number,
    ]
    critical = queue[1]
    assert critical["urgency_suggested"] == "critical" and critical["urgency_label"] == "特急"
    assert critical["urgency_reasons"] == ["涉及讨薪聚集苗头"]
    assert critical["suggested_team"]["street_id"] == new_critical.street_id


# -- urgency and dispatch ---------------------------------------------------------------------


def test_urgency_override_needs_a_reason_and_is_logged(client, district, make_case):
    case = make_case(urgency_suggested=Urgency.NORMAL)
    token = foreman_token(client, district["foremen"][0])
    url = f"/api/v1/foreman/cases/{case.number}/urgency"
    refused = client.post(url, json={"urgency": "critical"}, headers=auth(token))
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "reason_required"
    assert events(case, "urgency") == []

    ok = client.post(
        url, json={"urgency": "critical", "reason": "工人称明日将聚集讨薪"}, headers=auth(token)
    )
    assert ok.status_code == 200 and ok.json["urgency"] == "critical"
    [event] = events(case, "urgency")
    assert event.data["from"] == "normal" and event.data["to"] == "critical"
    assert event.data["reason"] == "工人称明日将聚集讨薪" and event.data["override"] is True
    assert event.actor_role == Role.FOREMAN and event.worker_visible is False


def test_confirming_the_suggestion_needs_no_reason(client, district, make_case):
    case = make_case(urgency_suggested=Urgency.URGENT)
    token = foreman_token(client, district["foremen"][0])
    response = client.post(
        f"/api/v1/foreman/cases/{case.number}/urgency",
        json={"urgency": "urgent"},
        headers=auth(token),
    )
    assert response.status_code == 200 and response.json["urgency_confirmed"] == "urgent"
    [event] = events(case, "urgency")
    assert event.data["override"] is False


def test_dispatch_confirms_urgency_and_assigns_the_team(client, district, make_case):
    case = make_case(urgency_suggested=Urgency.NORMAL)
    team = street_team(district, case)
    token = foreman_token(client, district["foremen"][0])
    url = f"/api/v1/foreman/cases/{case.number}/dispatch"
    no_reason = client.post(
        url, json={"team_id": team.id, "urgency": "urgent"}, headers=auth(token)
    )
    assert no_reason.status_code == 422
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.RECEIVED
    assert events(case, "urgency") == []

    response = client.post(
        url,
        json={"team_id": team.id, "urgency": "urgent", "urgency_reason": "已拖欠半年"},
        headers=auth(token),
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == "dispatched"
    assert response.json["team"]["id"] == team.id
    db.session.expire_all()
    stored = db.session.get(Case, case.id)
    assert stored.urgency_confirmed == Urgency.URGENT and stored.dispatched_at is not None
    assert [e.data["to"] for e in events(case, "urgency")] == ["urgent"]
    detail = client.get(f"/api/v1/foreman/cases/{case.number}", headers=auth(token)).json
    assert [e["kind"] for e in detail["events"]][-2:] == ["urgency", "status"]


def test_dispatch_to_unknown_team_is_refused(client, district, make_case):
    case = make_case()
    token = foreman_token(client, district["foremen"][0])
    response = client.post(
        f"/api/v1/foreman/cases/{case.number}/dispatch",
        json={"team_id": 99999},
        headers=auth(token),
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "team_not_found"


def test_reject_records_reason_and_referral(client, district, make_case):
    case = make_case()
    token = foreman_token(client, district["foremen"][0])
    url = f"/api/v1/foreman/cases/{case.number}/reject"
    assert client.post(url, json={"reason": ""}, headers=auth(token)).status_code == 422
    response = client.post(
        url,
        json={"reason": "系劳务合同纠纷，不属欠薪", "referral": "盐田区劳动人事争议仲裁委员会"},
        headers=auth(token),
    )
    assert response.status_code == 200 and response.json["status"] == "rejected"
    [referral] = events(case, "referral")
    assert referral.data["referral"] == "盐田区劳动人事争议仲裁委员会"
    assert referral.worker_visible is True
    status = events(case, "status")[-1]
    assert status.to_status == CaseStatus.REJECTED
    assert status.data["reason"] == "系劳务合同纠纷，不属欠薪"


def test_a_returned_case_comes_back_to_the_queue_and_is_dispatched_again(
    client, district, make_case
):
    case = make_case(urgency_suggested=Urgency.URGENT)
    teams = [t for t in district["teams"] if t.street_id == case.street_id] + district["teams"]
    first, second = teams[0], next(t for t in teams if t.id != teams[0].id)
    token = foreman_token(client, district["foremen"][0])
    url = f"/api/v1/foreman/cases/{case.number}/dispatch"
    assert client.post(url, json={"team_id": first.id}, headers=auth(token)).status_code == 200
    member = member_token(client, members_of(first)[0])
    returned = client.post(
        f"/api/v1/team/cases/{case.number}/return",
        json={"reason": "工地不在本小组辖区"},
        headers=auth(member),
    )
    assert returned.status_code == 200 and returned.json["status"] == "returned"

    queue = client.get("/api/v1/foreman/queue", headers=auth(token)).json["cases"]
    assert [(c["number"], c["status"]) for c in queue] == [(case.number, "returned")]
    again = client.post(url, json={"team_id": second.id}, headers=auth(token))
    assert again.status_code == 200 and again.json["team"]["id"] == second.id
    # The old team no longer sees it.
    gone = client.get(f"/api/v1/team/cases/{case.number}", headers=auth(member))
    assert gone.status_code == 404


# -- groups ---------------------------------------------------------------------------------


def group_of(case: Case) -> DisputeGroup | None:
    db.session.expire_all()
    stored = db.session.get(Case, case.id)
    return stored.group


def test_merge_and_split_keep_group_totals_right(client, district, make_case):
    a = make_case(workers_affected=3, amount_owed_fen=1_000_000)
    b = make_case(workers_affected=5, amount_owed_fen=2_500_000, site_name="另一工地")
    c = make_case(workers_affected=2, amount_owed_fen=400_000, site_name="第三工地")
    token = foreman_token(client, district["foremen"][0])

    merged = client.post(
        f"/api/v1/foreman/cases/{b.number}/merge", json={"into": a.number}, headers=auth(token)
    )
    assert merged.status_code == 200, merged.json
    assert merged.json["case_count"] == 2
    assert merged.json["workers_total"] == 8
    assert merged.json["amount_total_fen"] == 3_500_000
    client.post(
        f"/api/v1/foreman/cases/{c.number}/merge", json={"into": b.number}, headers=auth(token)
    )
    group = group_of(a)
    assert group.id == group_of(b).id == group_of(c).id
    assert (group.case_count, group.workers_total, group.amount_total_fen) == (3, 10, 3_900_000)

    split = client.post(f"/api/v1/foreman/cases/{b.number}/split", headers=auth(token))
    assert split.status_code == 200
    assert (split.json["case_count"], split.json["workers_total"]) == (1, 5)
    group = group_of(a)
    assert (group.case_count, group.workers_total, group.amount_total_fen) == (2, 5, 1_400_000)
    assert group_of(b).id != group.id

    # Every case whose group changed has its history.
    assert [e.data["action"] for e in events(b, "group")] == ["merge", "split"]
    assert [e.data["action"] for e in events(c, "group")] == ["merge"]
    split_event = events(b, "group")[-1]
    assert split_event.data["from_group_id"] == group.id
    assert split_event.data["from_group_totals"]["workers_total"] == 5

    again = client.post(f"/api/v1/foreman/cases/{b.number}/split", headers=auth(token))
    assert again.status_code == 409


def test_merge_into_a_case_outside_scope_is_404(client, district, make_case):
    mine = make_case()
    theirs = make_case(foreman=district["foremen"][1])
    token = foreman_token(client, district["foremen"][0])
    response = client.post(
        f"/api/v1/foreman/cases/{mine.number}/merge",
        json={"into": theirs.number},
        headers=auth(token),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["queue", "teams"])
def test_foreman_lists_answer_json(client, district, path):
    token = foreman_token(client, district["foremen"][0])
    response = client.get(f"/api/v1/foreman/{path}", headers=auth(token))
    assert response.status_code == 200 and response.is_json


def test_foreman_team_and_followup_endpoints_are_documented(client, district):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    for path, method in [
        ("/api/v1/staff-session", "post"),
        ("/api/v1/foreman/queue", "get"),
        ("/api/v1/foreman/cases/{number}/dispatch", "post"),
        ("/api/v1/foreman/cases/{number}/merge", "post"),
        ("/api/v1/team/cases/{number}/resolve", "post"),
        ("/api/v1/team/cases/{number}/notes", "post"),
        ("/api/v1/complaints/{number}/confirm", "post"),
        ("/api/v1/complaints/{number}/rating", "post"),
    ]:
        assert method in paths[path], path
    schemas = document["components"]["schemas"]
    assert {"outcome"} <= set(schemas["ResolutionIn"]["required"])
    assert "suggested_team" in schemas["QueueItemOut"]["properties"]
