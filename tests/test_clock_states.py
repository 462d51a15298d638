"""The one definition of each clock's state and of "overdue": SQL and Python agree, and every
screen (list, detail, dashboard, weekly pack, export, letters, escalation) reads it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.cases.clocks import (
    CLOCKS,
    ClockState,
    breached_clause,
    clock_state,
    clock_state_expr,
    clock_states,
    escalate_breaches,
    is_overdue,
    overdue_clause,
    pause_clocks,
    relevant_clock,
)
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.handling.dispatch import suggest_team
from wagedispute.handling.team import add_note
from wagedispute.models import (
    Case,
    CaseStatus,
    Channel,
    Complainant,
    Outcome,
    Role,
    StaffRole,
    Urgency,
)
from wagedispute.platform.database import db
from wagedispute.supervision.casebook import CaseFilter, bureau_case_detail, list_cases
from wagedispute.supervision.exports import export_cases
from wagedispute.supervision.indicators import compute_dashboard
from wagedispute.supervision.letters import case_facts

NOW = datetime(2026, 11, 18, 6, 30, tzinfo=UTC)
ADMIN = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)


def _moment(rng: random.Random, around: datetime) -> datetime:
    """A time near ``around``: often exactly on it (ties are where rules drift apart)."""
    if rng.random() < 0.1:
        return around
    return around + timedelta(minutes=rng.randint(-4 * 24 * 60, 4 * 24 * 60))


def _maybe(rng: random.Random, around: datetime, p_none: float = 0.3) -> datetime | None:
    return None if rng.random() < p_none else _moment(rng, around)


def generated_cases(street_id: int, count: int, seed: int) -> list[Case]:
    """Cases in every status with deadlines around NOW, including reassigned ones (contact
    before the last dispatch), reopened ones (old round's dates still set) and paused ones."""
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        status = rng.choice(list(CaseStatus))
        created = NOW - timedelta(days=rng.randint(1, 20))
        dispatched = _maybe(rng, NOW - timedelta(days=2))
        story = rng.choice(["plain", "reassigned", "contacted", "reopened"])
        first_contact = _maybe(rng, NOW - timedelta(days=2))
        if story == "reassigned" and dispatched is not None:
            # Contacted by the first team; a later dispatch made it another team's case.
            first_contact = dispatched - timedelta(hours=rng.randint(0, 30))
        elif story == "contacted" and dispatched is not None:
            first_contact = dispatched + timedelta(hours=rng.randint(0, 30))
        elif story == "reopened":
            status = CaseStatus.REOPENED
        cases.append(
            Case(
                number=f"GEN-{seed}-{i:05d}",
                status=status,
                channel=Channel.PHONE,
                street_id=street_id,
                site_name="生成工地",
                urgency_suggested=rng.choice(list(Urgency)),
                created_at=created,
                dispatched_at=dispatched,
                accepted_at=_maybe(rng, NOW - timedelta(days=1)),
                first_contact_at=first_contact,
                resolved_at=_maybe(rng, NOW, p_none=0.5),
                dispatch_due_at=_maybe(rng, NOW, p_none=0.1),
                accept_due_at=_maybe(rng, NOW),
                contact_due_at=_maybe(rng, NOW),
                resolve_due_at=_maybe(rng, NOW),
                clock_paused_at=_maybe(rng, NOW, p_none=0.75),
            )
        )
    return cases


def test_overdue_and_every_clock_state_agree_in_sql_and_python_on_generated_cases(district):
    street_id = next(iter(district["streets"].values())).id
    db.session.add_all(generated_cases(street_id, 600, seed=8))
    db.session.commit()
    db.session.expire_all()
    loaded = {c.id: c for c in db.session.scalars(sa.select(Case))}
    assert {c.status for c in loaded.values()} == set(CaseStatus)
    seen_states: set[ClockState] = set()
    for now in (NOW, NOW - timedelta(days=2), NOW + timedelta(days=3)):
        in_sql = {
            case_id: dict(zip(CLOCKS, states, strict=True))
            for case_id, *states in db.session.execute(
                sa.select(Case.id, *(clock_state_expr(name, now) for name in CLOCKS))
            )
        }
        for case_id, case in loaded.items():
            in_python = {name: state.value for name, state in clock_states(case, now).items()}
            assert in_sql[case_id] == in_python, (case_id, now)
            seen_states |= set(clock_states(case, now).values())
        overdue_sql = set(db.session.scalars(sa.select(Case.id).where(overdue_clause(now))))
        overdue_py = {i for i, c in loaded.items() if is_overdue(c, now)}
        assert overdue_sql == overdue_py
        assert overdue_py, "the generator must produce overdue cases"
        for name in CLOCKS:
            breached_sql = set(
                db.session.scalars(sa.select(Case.id).where(breached_clause(name, now)))
            )
            breached_py = {
                i for i, c in loaded.items() if clock_state(c, name, now) == ClockState.BREACHED
            }
            assert breached_sql == breached_py, name
    assert seen_states == set(ClockState)


def test_overdue_counts_agree_on_the_list_the_dashboard_and_the_export(district):
    street_id = next(iter(district["streets"].values())).id
    db.session.add_all(generated_cases(street_id, 200, seed=3))
    db.session.commit()
    db.session.expire_all()
    now = NOW
    expected = {c.number for c in db.session.scalars(sa.select(Case)) if is_overdue(c, now)}
    page = list_cases(ADMIN, CaseFilter(overdue=True), page_size=500, now=now)
    assert {row.number for row in page.rows} == expected
    assert all(row.overdue for row in page.rows)
    assert compute_dashboard(ADMIN, now=now).overdue_total == len(expected)
    everything = list_cases(ADMIN, CaseFilter(), page_size=500, now=now)
    assert {row.number for row in everything.rows if row.overdue} == expected


def _dispatch(case: Case, team_id: int, actor: Actor, reason: str | None = None) -> None:
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        actor,
        StepRequest(team_id=team_id, urgency=Urgency.URGENT, reason=reason),
    )


def test_a_reassigned_case_owes_the_new_team_a_first_contact(make_case, district):
    case = make_case(urgency_suggested=Urgency.URGENT)
    foreman = Actor(Role.FOREMAN, case.foreman_id)
    first = suggest_team(case)
    other = next(t for t in district["teams"] if t.street_id == case.street_id and t != first)
    _dispatch(case, first.id, foreman)
    member = Actor(Role.TEAM_MEMBER, 1, team_id=first.id)
    transition_case(case.id, CaseStatus.ACCEPTED, member)
    add_note(member, case.number, "已电话联系工人", contacted_worker=True)
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert clock_state(case, "contact", NOW) == ClockState.MET

    staff = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)
    _dispatch(case, other.id, staff, reason="原小组人手不足")
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    late = case.contact_due_at + timedelta(minutes=1)
    # The console list, the detail page, escalation and letters all see one breached clock.
    assert clock_state(case, "contact", late) == ClockState.BREACHED
    assert relevant_clock(case, late) == ("accept", case.accept_due_at)
    rows = list_cases(staff, CaseFilter(overdue=True), now=late).rows
    assert [(r.number, r.overdue) for r in rows] == [(case.number, ["accept", "contact"])]
    detail = {k.key: k.state for k in bureau_case_detail(staff, case.id, now=late).clocks}
    assert detail == {
        "dispatch": ClockState.MET,
        "accept": ClockState.BREACHED,
        "contact": ClockState.BREACHED,
        "resolve": ClockState.RUNNING,
    }
    assert escalate_breaches(now=late) == [case.id]
    facts = case_facts(db.session.get(Case, case.id), late)
    assert facts["clock"] == "接收时限" and facts["days_overdue"] >= 1

    new_member = Actor(Role.TEAM_MEMBER, 2, team_id=other.id)
    transition_case(case.id, CaseStatus.ACCEPTED, new_member)
    event = add_note(new_member, case.number, "新小组已联系工人", contacted_worker=True)
    assert event.data["first_contact"] is True
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert clock_state(case, "contact", late) == ClockState.MET


def test_a_reopened_case_shows_its_dispatch_clock_running_again(make_case, district):
    worker = Complainant(openid="o-reopen")
    db.session.add(worker)
    db.session.commit()
    case = make_case(urgency_suggested=Urgency.URGENT, complainant_id=worker.id)
    team = suggest_team(case)
    _dispatch(case, team.id, Actor(Role.FOREMAN, case.foreman_id))
    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id)
    transition_case(case.id, CaseStatus.ACCEPTED, member)
    add_note(member, case.number, "已联系工人", contacted_worker=True)
    transition_case(
        case.id,
        CaseStatus.RESOLVED,
        member,
        StepRequest(outcome=Outcome.UNSUBSTANTIATED),
    )
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    resolved_states = clock_states(case, NOW)
    assert set(resolved_states.values()) == {ClockState.MET}

    complainant = Actor(Role.COMPLAINANT, worker.id)
    transition_case(case.id, CaseStatus.REOPENED, complainant, StepRequest(reason="工人有异议"))
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    staff = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)
    clocks = {k.key: k for k in bureau_case_detail(staff, case.id, now=NOW).clocks}
    assert clocks["dispatch"].state in {ClockState.RUNNING, ClockState.BREACHED}
    assert clocks["dispatch"].met_at is None
    assert {clocks[n].state for n in ("accept", "contact", "resolve")} == {ClockState.NOT_STARTED}
    late = case.dispatch_due_at + timedelta(minutes=1)
    assert is_overdue(case, late)
    assert [r.overdue for r in list_cases(staff, CaseFilter(overdue=True), now=late).rows] == [
        ["dispatch"]
    ]


def test_a_paused_case_is_not_overdue_anywhere(make_case, district):
    case = make_case(urgency_suggested=Urgency.CRITICAL)
    member_team = suggest_team(case)
    _dispatch(case, member_team.id, Actor(Role.FOREMAN, case.foreman_id))
    pause_clocks(case.id, Actor(Role.TEAM_MEMBER, 1, team_id=member_team.id), "等工人补材料")
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    much_later = case.resolve_due_at + timedelta(days=30)
    assert set(clock_states(case, much_later).values()) == {ClockState.MET, ClockState.PAUSED}
    assert not is_overdue(case, much_later)
    staff = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)
    assert list_cases(staff, CaseFilter(overdue=True), now=much_later).rows == []
    assert escalate_breaches(now=much_later) == []
    export = export_cases(staff, "csv")
    assert export.data.decode("utf-8-sig").splitlines()[1].endswith(",否")


@pytest.mark.parametrize("status", [CaseStatus.REJECTED, CaseStatus.WITHDRAWN])
def test_a_clock_cut_short_by_the_case_ending_is_stopped_not_met(status):
    case = Case(status=status, dispatch_due_at=NOW, accept_due_at=None)
    assert clock_state(case, "dispatch", NOW) == ClockState.STOPPED
    assert clock_state(case, "accept", NOW) == ClockState.NOT_STARTED
    assert ClockState.STOPPED.label == "已终止"
