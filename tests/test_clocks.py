"""SLA clocks: working-day arithmetic, the database's clock, pauses, escalation, auto-dispatch."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.cases import clocks
from wagedispute.cases.clocks import (
    add_working_days,
    apply_clocks,
    deadline,
    escalate_breaches,
    is_working_day,
    load_rules,
    parse_rules,
    pause_clocks,
    relevant_clock,
    resume_clocks,
)
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.handling.dispatch import auto_dispatch_overdue_critical, suggest_team
from wagedispute.models import Case, CaseEvent, CaseStatus, Outbox, Role, Urgency
from wagedispute.platform.database import db
from wagedispute.platform.errors import Conflict, InvalidInput
from wagedispute.platform.timekeeping import db_now

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in Beijing time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def fresh(case_id: int) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case_id)


def events_of(case_id: int, kind: str) -> list[CaseEvent]:
    return list(
        db.session.scalars(
            sa.select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
            .order_by(CaseEvent.id)
        )
    )


def outbox_of(case_id: int, topic: str) -> list[Outbox]:
    return list(
        db.session.scalars(
            sa.select(Outbox).where(Outbox.case_id == case_id, Outbox.topic == topic)
        )
    )


# --- Calendar arithmetic (no database) --------------------------------------------------------


def test_normal_case_received_before_national_day_is_due_after_the_holiday():
    # 2026: 9/30 (Wed) is the last working day; 10/1-10/7 off; 10/8 (Thu) back at work.
    assert is_working_day(date(2026, 9, 30))
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(date(2026, 10, 8))

    received = sh(2026, 9, 30, 10)
    assert deadline(received, Urgency.NORMAL, "dispatch") == sh(2026, 10, 8, 18)
    # 3 working days: 10/8, 10/9 and the make-up Saturday 10/10.
    assert deadline(received, Urgency.NORMAL, "contact") == sh(2026, 10, 10, 18)
    # Urgent "4 h" counts office hours: 16:00-18:00 on 9/30, then 09:00-11:00 on 10/8.
    assert deadline(sh(2026, 9, 30, 16), Urgency.URGENT, "dispatch") == sh(2026, 10, 8, 11)


def test_case_received_friday_evening_is_due_on_the_make_up_saturday():
    # 2026-10-10 is a Saturday worked in exchange for the National Day holiday (调休上班).
    assert date(2026, 10, 10).weekday() == 5
    assert is_working_day(date(2026, 10, 10))

    assert deadline(sh(2026, 10, 9, 20), Urgency.NORMAL, "dispatch") == sh(2026, 10, 10, 18)
    # An ordinary Friday evening a week later waits for Monday.
    assert deadline(sh(2026, 10, 16, 20), Urgency.NORMAL, "dispatch") == sh(2026, 10, 19, 18)
    # Urgent: 17:00-18:00 on Friday, then 09:00-12:00 on the make-up Saturday.
    assert deadline(sh(2026, 10, 9, 17), Urgency.URGENT, "accept") == sh(2026, 10, 10, 12)


def test_office_hours_skip_the_lunch_break_and_the_night():
    assert deadline(sh(2026, 10, 14, 11), Urgency.URGENT, "dispatch") == sh(2026, 10, 14, 17)
    assert deadline(sh(2026, 10, 14, 13), Urgency.URGENT, "dispatch") == sh(2026, 10, 14, 18)
    assert deadline(sh(2026, 10, 14, 19), Urgency.URGENT, "dispatch") == sh(2026, 10, 15, 15)


def test_critical_clocks_run_on_the_wall_clock_at_night_weekends_and_holidays():
    saturday_night = sh(2026, 10, 17, 22)
    assert not is_working_day(saturday_night.date())
    assert deadline(saturday_night, Urgency.CRITICAL, "dispatch") == sh(2026, 10, 17, 23)
    assert deadline(saturday_night, Urgency.CRITICAL, "contact") == sh(2026, 10, 18, 0)
    assert deadline(saturday_night, Urgency.CRITICAL, "resolve") == sh(2026, 10, 20, 22)
    assert deadline(sh(2026, 10, 3, 22), Urgency.CRITICAL, "accept") == sh(2026, 10, 3, 23)


def test_statutory_limits_cap_longer_configured_clocks():
    raw = {
        "office_hours": [["09:00", "12:00"], ["14:00", "18:00"]],
        "clocks": {
            level: {
                "dispatch": {"working_days": 1},
                "accept": {"working_days": 10},
                "contact": {"working_days": 3},
                "resolve": {"working_days": 80},
            }
            for level in ("critical", "urgent", "normal")
        },
        "statutory": {"accept": {"working_days": 5}, "resolve": {"working_days": 60}},
        "escalation_grace": {level: {"hours": 1} for level in ("critical", "urgent", "normal")},
    }
    rules = parse_rules(raw)
    received = sh(2026, 9, 30, 10)
    case = Case(
        status=CaseStatus.RECEIVED,
        urgency_suggested=Urgency.NORMAL,
        urgency_confirmed=Urgency.NORMAL,
        created_at=received,
    )
    apply_clocks(case, CaseStatus.DISPATCHED, received + timedelta(hours=1), rules)
    assert case.accept_due_at == add_working_days(received, 5, rules) == sh(2026, 10, 13, 18)
    assert case.resolve_due_at == add_working_days(received, 60, rules)
    assert case.contact_due_at == sh(2026, 10, 10, 18)


def test_bad_rules_are_refused():
    raw = {
        "office_hours": [["09:00", "18:00"]],
        "clocks": {"normal": {"dispatch": {"fortnights": 1}}},
        "statutory": {},
        "escalation_grace": {},
    }
    with pytest.raises(ValueError):
        parse_rules(raw)


def test_unknown_year_falls_back_to_weekdays_and_warns_once(caplog):
    clocks._warned_years.discard(2099)
    week = [date(2099, 6, 1) + timedelta(days=i) for i in range(7)]
    with caplog.at_level(logging.WARNING, logger="wagedispute.cases.clocks"):
        assert [is_working_day(d) for d in week] == [d.weekday() < 5 for d in week]
    warnings = [r for r in caplog.records if "2099" in r.getMessage()]
    assert len(warnings) == 1


def test_staff_calendar_overrides_cover_years_the_package_does_not_know():
    raw = json.loads(clocks.RULES_PATH.read_text(encoding="utf-8"))
    raw["calendar_overrides"] = {"holidays": ["2099-06-01"], "workdays": ["2099-06-06"]}
    rules = parse_rules(raw)
    assert date(2099, 6, 1).weekday() == 0 and date(2099, 6, 6).weekday() == 5
    assert not is_working_day(date(2099, 6, 1), rules)
    assert is_working_day(date(2099, 6, 6), rules)
    # Friday 20:00 -> the Saturday worked in exchange, as staff entered it.
    assert add_working_days(sh(2099, 6, 5, 20), 1, rules) == sh(2099, 6, 6, 18)
    assert add_working_days(sh(2099, 5, 29, 20), 1, rules) == sh(2099, 6, 2, 18)


def test_shipped_rules_match_the_design_defaults():
    rules = load_rules()
    assert rules.clocks[Urgency.CRITICAL]["dispatch"] == ("hours", 1)
    assert rules.clocks[Urgency.URGENT]["contact"] == ("working_days", 1)
    assert rules.clocks[Urgency.NORMAL]["resolve"] == ("working_days", 15)
    assert rules.statutory["resolve"] == ("working_days", 60)


# --- The database's clock and the lifecycle hook ----------------------------------------------


def test_db_now_comes_from_the_database(app):
    if db.engine.dialect.name == "postgresql":
        first = db_now()
        # now() is the transaction's start: the process clock moves on, the database's does not.
        assert db_now() == first
        assert first == db.session.scalar(sa.text("SELECT now()"))
    else:
        raw = "SELECT CURRENT_TIMESTAMP"
        before = datetime.fromisoformat(db.session.scalar(sa.text(raw))).replace(tzinfo=UTC)
        value = db_now()
        after = datetime.fromisoformat(db.session.scalar(sa.text(raw))).replace(tzinfo=UTC)
        assert before <= value.replace(microsecond=0) <= after
    assert db_now().utcoffset() == timedelta(0)
    db.session.rollback()


def test_new_case_gets_a_dispatch_clock_from_its_suggested_urgency(make_case):
    before = db_now()
    db.session.rollback()
    case = make_case(urgency_suggested=Urgency.CRITICAL)
    after = db_now()
    case = fresh(case.id)
    assert before + timedelta(hours=1) <= case.dispatch_due_at <= after + timedelta(hours=1)
    assert case.accept_due_at is None and case.resolve_due_at is None
    assert relevant_clock(case) == ("dispatch", case.dispatch_due_at)


def test_dispatch_starts_team_clocks_from_the_confirmed_urgency(make_case, district):
    case = make_case(urgency_suggested=Urgency.NORMAL)
    foreman = Actor(Role.FOREMAN, case.foreman_id)
    team = suggest_team(case)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        foreman,
        StepRequest(team_id=team.id, urgency=Urgency.URGENT),
    )
    case = fresh(case.id)
    start = case.dispatched_at
    assert case.accept_due_at == deadline(start, Urgency.URGENT, "accept")
    assert case.contact_due_at == deadline(start, Urgency.URGENT, "contact")
    assert case.resolve_due_at == start + timedelta(days=7)
    assert relevant_clock(case) == ("accept", case.accept_due_at)

    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id)
    transition_case(case.id, CaseStatus.ACCEPTED, member)
    case = fresh(case.id)
    assert case.accepted_at is not None
    assert relevant_clock(case) == ("contact", case.contact_due_at)
    case.first_contact_at = case.accepted_at
    assert relevant_clock(case) == ("resolve", case.resolve_due_at)
    db.session.rollback()


def test_pause_and_resume_move_running_deadlines_by_the_paused_time(make_case, district):
    case = make_case(urgency_suggested=Urgency.NORMAL)
    team = suggest_team(case)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.NORMAL),
    )
    case = fresh(case.id)
    due_before = {
        name: getattr(case, f"{name}_due_at") for name in ("dispatch", "accept", "contact")
    } | {"resolve": case.resolve_due_at}
    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id)

    with pytest.raises(InvalidInput):
        pause_clocks(case.id, member, "  ")
    paused_at = case.dispatched_at + timedelta(hours=1)
    pause_clocks(case.id, member, "等待工人补充考勤记录", now=paused_at)
    with pytest.raises(Conflict):
        pause_clocks(case.id, member, "再次暂停", now=paused_at)
    # A paused case is not overdue, however late it gets.
    assert escalate_breaches(now=case.resolve_due_at + timedelta(days=30)) == []

    resume_clocks(case.id, member, now=paused_at + timedelta(hours=3))
    case = fresh(case.id)
    assert case.clock_paused_at is None
    for name in ("accept", "contact", "resolve"):
        assert getattr(case, f"{name}_due_at") == due_before[name] + timedelta(hours=3)
    # The dispatch clock was met already: its deadline stays as it was, for the record.
    assert case.dispatch_due_at == due_before["dispatch"]
    assert [e.data["paused_seconds"] for e in events_of(case.id, "clock_resumed")] == [3 * 3600]
    assert len(events_of(case.id, "clock_paused")) == 1
    with pytest.raises(Conflict):
        resume_clocks(case.id, member)


# --- Escalation -------------------------------------------------------------------------------


def test_breach_escalates_one_level_at_a_time_and_each_level_only_once(make_case):
    case = make_case(urgency_suggested=Urgency.NORMAL)
    apply_clocks(case, CaseStatus.RECEIVED, sh(2026, 10, 14, 10))
    db.session.commit()
    assert case.dispatch_due_at == sh(2026, 10, 15, 18)

    assert escalate_breaches(now=sh(2026, 10, 15, 17)) == []
    assert escalate_breaches(now=sh(2026, 10, 15, 19)) == [case.id]
    assert escalate_breaches(now=sh(2026, 10, 15, 19)) == []
    # The foreman is told a grace period (1 working day) later, the bureau one more later.
    assert escalate_breaches(now=sh(2026, 10, 16, 17)) == []
    assert escalate_breaches(now=sh(2026, 10, 16, 19)) == [case.id]
    assert escalate_breaches(now=sh(2026, 10, 16, 19)) == []
    assert fresh(case.id).flagged_to_bureau is False
    assert escalate_breaches(now=sh(2026, 10, 19, 19)) == [case.id]
    assert escalate_breaches(now=sh(2026, 10, 20, 19)) == []

    case = fresh(case.id)
    assert case.escalation_level == 3 and case.escalation_clock == "dispatch"
    assert case.flagged_to_bureau is True
    breaches = events_of(case.id, "breach")
    assert [(e.data["level"], e.data["recipient"]) for e in breaches] == [
        (1, "foreman"),
        (2, "foreman"),
        (3, "bureau"),
    ]
    assert all(e.actor_role == Role.SYSTEM and e.data["clock"] == "dispatch" for e in breaches)
    rows = outbox_of(case.id, "breach_notify")
    assert sorted(r.dedupe_key.rsplit(":", 1)[0] for r in rows) == [
        f"breach:{case.id}:dispatch:{level}" for level in (1, 2, 3)
    ]
    assert {r.payload["event_id"] for r in rows} == {e.id for e in breaches}


def test_late_run_takes_every_missed_level_and_reminds_the_team_first(make_case, district):
    case = make_case(urgency_suggested=Urgency.CRITICAL)
    team = suggest_team(case)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.CRITICAL),
    )
    case = fresh(case.id)
    late = case.accept_due_at + timedelta(days=2)
    assert escalate_breaches(now=late) == [case.id]
    assert escalate_breaches(now=late) == []
    breaches = events_of(case.id, "breach")
    assert [(e.data["clock"], e.data["recipient"]) for e in breaches] == [
        ("accept", "team"),
        ("accept", "foreman"),
        ("accept", "bureau"),
    ]
    assert len(outbox_of(case.id, "breach_notify")) == 3

    # Accepting starts the next clock from level 0; its own breach is escalated afresh.
    transition_case(case.id, CaseStatus.ACCEPTED, Actor(Role.TEAM_MEMBER, 1, team_id=team.id))
    case = fresh(case.id)
    assert case.escalation_level == 0
    assert escalate_breaches(now=case.contact_due_at + timedelta(minutes=1)) == [case.id]
    last = events_of(case.id, "breach")[-1]
    assert (last.data["clock"], last.data["level"], last.data["recipient"]) == (
        "contact",
        1,
        "team",
    )


def test_closed_or_rejected_case_is_never_escalated(make_case):
    case = make_case(urgency_suggested=Urgency.URGENT)
    transition_case(
        case.id,
        CaseStatus.REJECTED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(reason="不属于欠薪纠纷"),
    )
    case = fresh(case.id)
    assert relevant_clock(case) is None
    assert escalate_breaches(now=case.dispatch_due_at + timedelta(days=90)) == []
    assert events_of(case.id, "breach") == []


# --- Auto-dispatch of overdue critical cases --------------------------------------------------


def test_overdue_critical_case_is_dispatched_by_the_system_to_the_least_loaded_team(
    make_case, district
):
    foreman = district["foremen"][0]
    street_teams = [t for t in district["teams"] if t.street_id == foreman.street_id]
    assert len(street_teams) == 2
    busy, idle = street_teams
    other = make_case(urgency_suggested=Urgency.NORMAL)
    transition_case(
        other.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, foreman.id),
        StepRequest(team_id=busy.id, urgency=Urgency.NORMAL),
    )

    case = make_case(urgency_suggested=Urgency.CRITICAL)
    case = fresh(case.id)
    assert suggest_team(case).id == idle.id
    due = case.dispatch_due_at
    assert auto_dispatch_overdue_critical(now=due - timedelta(minutes=1)) == []
    assert auto_dispatch_overdue_critical(now=due + timedelta(minutes=1)) == [case.id]
    assert auto_dispatch_overdue_critical(now=due + timedelta(minutes=2)) == []

    case = fresh(case.id)
    assert case.status == CaseStatus.DISPATCHED
    assert case.team_id == idle.id
    assert case.urgency_confirmed == Urgency.CRITICAL
    step = events_of(case.id, "status")[-1]
    assert (step.from_status, step.to_status) == (CaseStatus.RECEIVED, CaseStatus.DISPATCHED)
    assert step.actor_role == Role.SYSTEM
    assert step.data["reason"] == "特急案件超时未分派，系统自动分派"
    told = outbox_of(case.id, "foreman_auto_dispatch")
    assert len(told) == 1
    assert told[0].payload == {"case_id": case.id, "team_id": idle.id, "foreman_id": foreman.id}


def test_overdue_non_critical_case_is_not_dispatched_automatically(make_case):
    case = make_case(urgency_suggested=Urgency.URGENT)
    case = fresh(case.id)
    assert auto_dispatch_overdue_critical(now=case.dispatch_due_at + timedelta(days=3)) == []
    case = fresh(case.id)
    assert case.status == CaseStatus.RECEIVED
    assert outbox_of(case.id, "foreman_auto_dispatch") == []
