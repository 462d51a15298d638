"""Clocks pause while waiting for the worker (DESIGN §5): team API, console, worker timeline."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.test_console import PASSWORDS, csrf_of, post
from tests.test_foreman_api import auth, events, member_token, members_of
from tests.test_miniprogram_api import sign_in as worker_sign_in
from tests.test_team_api import dispatched_case, stored
from wagedispute.cases.clocks import ClockState, clock_state
from wagedispute.models import Case, Complainant
from wagedispute.platform.database import db

PAUSED = "等待您补充材料或回复，办理时限暂停计算"
RESUMED = "办理时限恢复计算"


def worker_case(client, make_case, district):
    """A dispatched case filed by a signed-in worker; returns (case, team, worker headers)."""
    headers = worker_sign_in(client, "o-pause-worker")
    case, team = dispatched_case(make_case, district)
    worker = db.session.scalars(
        sa.select(Complainant).where(Complainant.openid == "o-pause-worker")
    ).one()
    db.session.get(Case, case.id).complainant_id = worker.id
    db.session.commit()
    return case, team, headers


def timeline(client, case: Case, headers) -> list[str]:
    detail = client.get(f"/api/v1/complaints/{case.number}", headers=headers)
    assert detail.status_code == 200, detail.get_json()
    return [step["message"] for step in detail.get_json()["timeline"]]


def test_team_pauses_and_resumes_and_the_worker_sees_both(client, make_case, district):
    case, team, worker = worker_case(client, make_case, district)
    token = member_token(client, members_of(team)[0])
    before = stored(case)
    due = {n: getattr(before, f"{n}_due_at") for n in ("accept", "contact", "resolve")}

    answer = client.post(
        f"/api/v1/team/cases/{case.number}/pause",
        json={"reason": "等待工人补充考勤记录"},
        headers=auth(token),
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["clock_paused_at"] is not None
    paused = stored(case)
    much_later = paused.resolve_due_at + timedelta(days=10)
    assert clock_state(paused, "accept", much_later) == ClockState.PAUSED
    assert events(case, "clock_paused")[0].data["reason"] == "等待工人补充考勤记录"
    assert PAUSED in timeline(client, case, worker)

    again = client.post(
        f"/api/v1/team/cases/{case.number}/pause", json={"reason": "再停"}, headers=auth(token)
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "clock_already_paused"

    resumed = client.post(f"/api/v1/team/cases/{case.number}/resume", headers=auth(token))
    assert resumed.status_code == 200, resumed.json
    assert resumed.json["clock_paused_at"] is None
    after = stored(case)
    shift = timedelta(seconds=events(case, "clock_resumed")[0].data["paused_seconds"])
    for name, was in due.items():
        # The event records whole seconds; the deadlines moved by the exact paused time.
        assert shift <= getattr(after, f"{name}_due_at") - was < shift + timedelta(seconds=1)
    assert timeline(client, case, worker)[-2:] == [PAUSED, RESUMED]

    not_paused = client.post(f"/api/v1/team/cases/{case.number}/resume", headers=auth(token))
    assert not_paused.status_code == 409
    assert not_paused.json["error"]["code"] == "clock_not_paused"


def test_pause_needs_a_reason_and_the_teams_own_case(client, make_case, district):
    case, team, _ = worker_case(client, make_case, district)
    token = member_token(client, members_of(team)[0])
    blank = client.post(
        f"/api/v1/team/cases/{case.number}/pause", json={"reason": "  "}, headers=auth(token)
    )
    assert blank.status_code == 422
    other = next(t for t in district["teams"] if t.id != team.id)
    stranger = member_token(client, members_of(other)[0])
    answer = client.post(
        f"/api/v1/team/cases/{case.number}/pause", json={"reason": "等材料"}, headers=auth(stranger)
    )
    assert answer.status_code == 404
    assert stored(case).clock_paused_at is None


def test_staff_pause_and_resume_from_the_case_page(app, make_case, district):
    case, _ = dispatched_case(make_case, district)
    staff = app.test_client()
    signed = staff.post(
        "/console/sign-in",
        data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf_of(staff)},
    )
    assert signed.status_code == 302
    page = f"/console/cases/{case.id}"
    html = staff.get(page).get_data(as_text=True)
    assert 'data-clock-form="pause"' in html and "暂停计时" in html

    answer = post(staff, f"/console/cases/{case.id}/pause-clocks", {"reason": "等工人回电"}, page)
    assert answer.status_code == 302
    html = staff.get(page).get_data(as_text=True)
    assert "已暂停计时" in html  # the flash
    assert 'data-state="paused"' in html and 'data-clock-form="resume"' in html
    assert stored(case).clock_paused_at is not None

    answer = post(staff, f"/console/cases/{case.id}/resume-clocks", {}, page)
    assert answer.status_code == 302
    html = staff.get(page).get_data(as_text=True)
    assert "已恢复计时" in html and 'data-state="paused"' not in html
    assert stored(case).clock_paused_at is None

    # Resuming what is not paused says so on the page instead of failing.
    post(staff, f"/console/cases/{case.id}/resume-clocks", {}, page)
    assert "时限未暂停" in staff.get(page).get_data(as_text=True)
