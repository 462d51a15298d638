"""The dashboard, the weekly pack and the indicator export read one definition of each figure."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.cases.figures import recovered_fen
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.handling.dispatch import suggest_team
from wagedispute.models import Case, CaseStatus, Complainant, Outcome, Role, StaffRole, Urgency
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision.exports import export_indicators
from wagedispute.supervision.indicators import compute_dashboard
from wagedispute.supervision.weekly_packs import build_weekly_packs, week_start_of

ADMIN = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)


def _resolved(make_case, paid_fen: int, workers: int, *, complainant_id: int | None = None):
    """A case dispatched, accepted and resolved as paid in full."""
    case = make_case(urgency_suggested=Urgency.URGENT, workers_affected=workers)
    if complainant_id is not None:
        db.session.get(Case, case.id).complainant_id = complainant_id
        db.session.commit()
    team = suggest_team(case)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.URGENT),
    )
    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id)
    transition_case(case.id, CaseStatus.ACCEPTED, member)
    transition_case(
        case.id,
        CaseStatus.RESOLVED,
        member,
        StepRequest(
            outcome=Outcome.PAID_IN_FULL,
            data={
                "amount_paid_fen": paid_fen,
                "proof_evidence_ids": [1],
                "payments": [{"amount_fen": paid_fen}],
            },
        ),
    )
    return case


def test_dashboard_weekly_pack_and_export_agree_on_money_counts_and_overdue(make_case, district):
    # 50,000 元 paid and accepted; 64,000 元 paid but disputed by the worker (reopened): the
    # weekly pack used to count the disputed payment too, and showed 114,000 元.
    _resolved(make_case, 5_000_000, 4)
    worker = Complainant(openid="o-disputes")
    db.session.add(worker)
    db.session.commit()
    disputed = _resolved(make_case, 6_400_000, 6, complainant_id=worker.id)
    transition_case(
        disputed.id,
        CaseStatus.REOPENED,
        Actor(Role.COMPLAINANT, worker.id),
        StepRequest(reason="实际没有收到工资"),
    )
    late = make_case(urgency_suggested=Urgency.CRITICAL)
    db.session.get(Case, late.id).dispatch_due_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    make_case()

    now = utcnow()
    dashboard = compute_dashboard(ADMIN, now=now)
    packs = build_weekly_packs(week_start_of(district_today(now)))
    streets = [pack.figures["street"] for pack in packs]

    assert dashboard.money_recovered_fen == 5_000_000
    assert sum(s["recovered_fen"] for s in streets) == dashboard.money_recovered_fen
    assert sum(s["new"] for s in streets) == dashboard.new_this_week == 4
    assert sum(s["resolved"] for s in streets) == dashboard.trend[-1].resolved == 2
    assert sum(s["overdue"] for s in streets) == dashboard.overdue_total
    assert dashboard.overdue_total == 1  # the late one; the reopened one's new clock runs
    assert sum(t["recovered_fen"] for p in packs for t in p.figures["teams"]) == 5_000_000

    export = export_indicators(ADMIN, "xlsx", district_today(now).year)
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    header, district_row = [c.value for c in sheet[1]], [c.value for c in sheet[2]]
    row = dict(zip(header, district_row, strict=True))
    assert row["追回欠薪（元）"] == dashboard.money_recovered_fen / 100
    assert row["帮助工人"] == dashboard.workers_helped == 4
    assert row["受理案件"] == dashboard.received_this_year

    # The Python rule for one loaded case is the SQL rule the sums use.
    cases = list(db.session.scalars(sa.select(Case)))
    assert sum(recovered_fen(c) for c in cases) == dashboard.money_recovered_fen


def test_a_street_dashboard_agrees_with_its_own_weekly_pack(make_case, district):
    case = _resolved(make_case, 1_234_500, 2)
    street = Actor(Role.STAFF, 2, street_id=case.street_id, staff_role=StaffRole.STREET_STAFF)
    now = utcnow()
    dashboard = compute_dashboard(street, now=now)
    pack = next(
        p
        for p in build_weekly_packs(week_start_of(district_today(now)))
        if p.street_id == case.street_id
    )
    assert pack.figures["street"]["recovered_fen"] == dashboard.money_recovered_fen == 1_234_500
    assert pack.figures["street"]["new"] == dashboard.new_this_week == 1
