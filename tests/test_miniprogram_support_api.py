"""What the mini-program needs from the API: the outcome on the worker's case, evidence
downloads in scope, cursor paging, the foreman's dispatched cases and teams, subscribe template
ids, the phone-number exchange, and a readable API reference."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.test_foreman_api import auth, foreman_token, member_token, members_of
from tests.test_team_api import png_bytes
from tests.test_whole_loop import handle_to_resolution, sign_in_worker, submit
from wagedispute.models import QrCode
from wagedispute.platform import wechat
from wagedispute.platform.database import db


def live_token(foreman) -> str:
    return db.session.scalars(sa.select(QrCode.token).where(QrCode.foreman_id == foreman.id)).one()


def resolved_case(client, district, drain, openid: str):
    """A worker's case resolved as paid in full with proof; returns (number, tokens)."""
    foreman = district["foremen"][0]
    team = next(t for t in district["teams"] if t.street_id == foreman.street_id)
    worker = sign_in_worker(client, openid)
    tokens = {
        "worker": worker,
        "foreman": foreman_token(client, foreman),
        "team": member_token(client, members_of(team)[0]),
    }
    number = submit(client, worker, live_token(foreman), "海景花园二期工地")
    handle_to_resolution(client, tokens["foreman"], tokens["team"], number, drain)
    return number, tokens


def test_worker_case_detail_carries_outcome_amounts_and_proof(client, district, drain):
    number, tokens = resolved_case(client, district, drain, "o-outcome")
    detail = client.get(f"/api/v1/complaints/{number}", headers=auth(tokens["worker"])).json
    outcome = detail["outcome"]
    assert outcome["code"] == "paid_in_full" and outcome["label"] == "已全额支付"
    assert outcome["summary"] == "总包代发全部欠薪"
    assert outcome["amount_paid_fen"] == 1_800_000
    assert [p["amount_fen"] for p in outcome["payments"]] == [600_000, 600_000, 600_000]
    [proof] = outcome["proof"]
    assert proof["content_type"] == "image/png"
    assert detail["rating"] is None and detail["resolved_at"]

    download = client.get(
        f"/api/v1/complaints/{number}/evidence/{proof['id']}", headers=auth(tokens["worker"])
    )
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.data.startswith(b"\x89PNG")

    client.post(
        f"/api/v1/complaints/{number}/confirm", json={"score": 4}, headers=auth(tokens["worker"])
    )
    rated = client.get(f"/api/v1/complaints/{number}", headers=auth(tokens["worker"])).json
    assert rated["rating"] == {"score": 4, "comment": None}


def test_an_open_case_has_no_outcome_yet(client, district):
    worker = sign_in_worker(client, "o-no-outcome")
    number = submit(client, worker, live_token(district["foremen"][0]), "某工地")
    detail = client.get(f"/api/v1/complaints/{number}", headers=auth(worker)).json
    assert detail["outcome"] is None and detail["rating"] is None


def test_evidence_downloads_stay_in_scope(client, district, drain):
    number, tokens = resolved_case(client, district, drain, "o-scope")
    staff_view = client.get(f"/api/v1/team/cases/{number}", headers=auth(tokens["team"])).json
    ids = [e["id"] for e in staff_view["evidence"]]
    # A team note's internal photo: the team sees it, the worker does not.
    internal = client.post(
        f"/api/v1/complaints/{number}/dispute",
        json={"reason": "只收到一半"},
        headers=auth(tokens["worker"]),
    )
    assert internal.status_code == 200
    proof_id = ids[0]
    team_file = client.get(
        f"/api/v1/team/cases/{number}/evidence/{proof_id}", headers=auth(tokens["team"])
    )
    assert team_file.status_code == 200 and team_file.data.startswith(b"\x89PNG")
    assert (
        team_file.headers["Content-Disposition"]
        == f'attachment; filename="evidence-{proof_id}.png"'
    )

    # Another team's member, another worker, another role: all 404 in the one error shape.
    other_team = next(
        t for t in district["teams"] if t.street_id != district["foremen"][0].street_id
    )
    outsider = member_token(client, members_of(other_team)[0])
    stranger = sign_in_worker(client, "o-stranger")
    for url, token in [
        (f"/api/v1/team/cases/{number}/evidence/{proof_id}", outsider),
        (f"/api/v1/complaints/{number}/evidence/{proof_id}", stranger),
        (f"/api/v1/team/cases/{number}/evidence/{proof_id}", tokens["worker"]),
        (f"/api/v1/team/cases/{number}/evidence/999999", tokens["team"]),
    ]:
        answer = client.get(url, headers=auth(token))
        assert answer.status_code == 404, url
        assert answer.json["error"]["details"] == {}


def test_worker_cannot_download_the_teams_internal_files(client, district, drain):
    foreman = district["foremen"][0]
    team = next(t for t in district["teams"] if t.street_id == foreman.street_id)
    worker = sign_in_worker(client, "o-internal")
    foreman_t = foreman_token(client, foreman)
    member_t = member_token(client, members_of(team)[0])
    number = submit(client, worker, live_token(foreman), "某工地")
    client.post(
        f"/api/v1/foreman/cases/{number}/dispatch",
        json={"team_id": team.id, "urgency": "normal", "urgency_reason": "核实后一般"},
        headers=auth(foreman_t),
    )
    client.post(f"/api/v1/team/cases/{number}/accept", headers=auth(member_t))
    internal = client.post(
        f"/api/v1/team/cases/{number}/evidence",
        data=png_bytes("red"),
        content_type="application/octet-stream",
        headers=auth(member_t),
    )
    assert internal.status_code == 201
    answer = client.get(
        f"/api/v1/complaints/{number}/evidence/{internal.json['id']}", headers=auth(worker)
    )
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "evidence_not_found"


def test_lists_page_with_a_cursor(client, district):
    worker = sign_in_worker(client, "o-pages")
    token = live_token(district["foremen"][0])
    numbers = [submit(client, worker, token, f"工地{i}") for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/complaints?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=auth(worker)).json
        seen += [c["number"] for c in page["cases"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(numbers)) and pages == 3

    foreman_t = foreman_token(client, district["foremen"][0])
    first = client.get("/api/v1/foreman/queue?limit=3", headers=auth(foreman_t)).json
    rest = client.get(
        f"/api/v1/foreman/queue?cursor={first['next_cursor']}", headers=auth(foreman_t)
    ).json
    assert len(first["cases"]) == 3 and len(rest["cases"]) == 2 and rest["next_cursor"] is None
    assert not {c["number"] for c in first["cases"]} & {c["number"] for c in rest["cases"]}

    for bad in ["garbage", "eyJvIjotMX0", "eyJvIjoiMSJ9"]:
        answer = client.get(f"/api/v1/complaints?cursor={bad}", headers=auth(worker))
        assert answer.status_code == 422 and answer.json["error"]["code"] == "cursor_invalid"
    too_big = client.get("/api/v1/complaints?limit=101", headers=auth(worker))
    assert too_big.status_code == 422


def test_foreman_follows_dispatched_cases_and_sees_which_teams_can_be_told(client, district, drain):
    foreman = district["foremen"][0]
    street_teams = [t for t in district["teams"] if t.street_id == foreman.street_id]
    foreman_t = foreman_token(client, foreman)
    before = client.get("/api/v1/foreman/teams", headers=auth(foreman_t)).json["teams"]
    assert {t["notifiable_members"] for t in before} == {0}
    member_token(client, members_of(street_teams[0])[0])
    teams = {
        t["id"]: t
        for t in client.get("/api/v1/foreman/teams", headers=auth(foreman_t)).json["teams"]
    }
    assert teams[street_teams[0].id]["notifiable_members"] == 1
    assert teams[street_teams[0].id]["open_cases"] == 0
    first = client.get("/api/v1/foreman/teams?limit=2", headers=auth(foreman_t)).json
    rest = client.get(
        f"/api/v1/foreman/teams?cursor={first['next_cursor']}", headers=auth(foreman_t)
    ).json
    assert [t["id"] for t in first["teams"] + rest["teams"]] == list(teams)
    assert rest["next_cursor"] is None

    worker = sign_in_worker(client, "o-follow")
    number = submit(client, worker, live_token(foreman), "某工地")
    assert client.get("/api/v1/foreman/dispatched", headers=auth(foreman_t)).json == {
        "cases": [],
        "next_cursor": None,
    }
    detail = client.get(f"/api/v1/foreman/cases/{number}", headers=auth(foreman_t)).json
    assert detail["suggested_team"]["street_id"] == foreman.street_id
    client.post(
        f"/api/v1/foreman/cases/{number}/dispatch",
        json={"team_id": street_teams[0].id, "urgency": detail["urgency_suggested"]},
        headers=auth(foreman_t),
    )
    followed = client.get("/api/v1/foreman/dispatched", headers=auth(foreman_t)).json["cases"]
    assert [(c["number"], c["status"], c["team"]["id"]) for c in followed] == [
        (number, "dispatched", street_teams[0].id)
    ]
    assert followed[0]["accept_due_at"]


def test_subscribe_template_ids_come_from_configuration(make_app, district):
    app = make_app(WECHAT_TEMPLATE_IDS="case_progress=TPL-PROGRESS,new_lead=TPL-LEAD")
    templates = app.test_client().get("/api/v1/subscribe-templates").json["templates"]
    assert [t["id"] for t in templates["complainant"]] == ["TPL-PROGRESS"]
    assert templates["foreman"][0] == {"name": "new_lead", "id": "TPL-LEAD", "title": "新线索提醒"}
    assert [t["name"] for t in templates["team_member"]] == ["case_assigned", "breach_alert"]


def test_phone_code_becomes_a_verified_mobile_through_the_sandbox(client, district):
    worker = sign_in_worker(client, "o-phone")
    answer = client.post(
        "/api/v1/phone-number", json={"code": "sandbox-phone:13900139000"}, headers=auth(worker)
    )
    assert answer.status_code == 200 and answer.json == {"mobile": "13900139000"}
    refused = client.post("/api/v1/phone-number", json={"code": "forged"}, headers=auth(worker))
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "wechat_phone_code_invalid"
    assert client.post("/api/v1/phone-number", json={"code": "x"}).status_code == 401


def test_the_api_reference_page_is_readable_offline(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script" not in html and not re.search(r"(src|href)=\"https?://", html)
    assert "/api/v1/team/cases/{number}/resolve" in html
    assert "办结规则" in html and "特急" in html and "已全额支付" in html
    assert "foreman_dispatched" in html


def test_the_wechat_link_verification_file_is_served_only_when_configured(make_app, client):
    assert client.get("/Yz8JnD1kQp.txt").status_code == 404
    app = make_app(WECHAT_LINK_VERIFY_FILE="Yz8JnD1kQp.txt:4f1c2e8a9b7d6c5e")
    verified = app.test_client().get("/Yz8JnD1kQp.txt")
    assert verified.status_code == 200 and verified.mimetype == "text/plain"
    assert verified.get_data(as_text=True) == "4f1c2e8a9b7d6c5e"
    other = app.test_client().get("/other.txt")
    assert other.status_code == 404 and other.json["error"]["details"] == {}


def test_a_message_opens_the_case_it_is_about(client, district, drain):
    number, _tokens = resolved_case(client, district, drain, "o-page-link")
    pages = [m["page"] for m in wechat.sandbox_sent_messages(100) if m["touser"] == "o-page-link"]
    assert pages and all(
        re.fullmatch(rf"pages/case/index\?delivery=\d+&number={number}", p) for p in pages
    )
