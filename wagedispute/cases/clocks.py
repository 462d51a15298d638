"""SLA clocks (DESIGN.md §5): deadlines on the Chinese working-day calendar, pauses, escalation.

The rules live in ``sla_rules.json`` (readable by staff). Every "now" comes from the database's
clock (``db_now``), so web and worker processes on different machines agree on what is overdue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.calendar import working_day_from_notices
from wagedispute.models import Case, CaseEvent, CaseStatus, EventKind, Outbox, Role, Urgency
from wagedispute.platform.database import db, unit_of_work
from wagedispute.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from wagedispute.platform.timekeeping import db_now, district_zone

log = logging.getLogger(__name__)

RULES_PATH = Path(__file__).resolve().parent / "sla_rules.json"

S = CaseStatus
CLOCKS = ("dispatch", "accept", "contact", "resolve")
UNITS = frozenset({"minutes", "hours", "days", "office_hours", "working_days"})
# A deadline search never needs to look further ahead than this (60 working days ≈ 3 months).
_MAX_DAYS_AHEAD = 800

# Statuses in which some clock runs; resolved waits for the worker (回访 has its own timer).
WAITING_FOR_DISPATCH = frozenset({S.RECEIVED, S.RETURNED, S.REOPENED})
WITH_TEAM = frozenset({S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS})
STOPPING_STATUSES = frozenset({S.RESOLVED, S.CLOSED, S.REJECTED, S.WITHDRAWN})

PAUSE_ROLES = frozenset({Role.FOREMAN, Role.TEAM_MEMBER, Role.STAFF, Role.SYSTEM})
ESCALATION_LEVELS = {1: "assignee", 2: "foreman", 3: "bureau"}
BUREAU_LEVEL = 3

Duration = tuple[str, float]


@dataclass(frozen=True)
class SlaRules:
    """The parsed rules file: office hours, per-urgency clocks, statutory caps, escalation grace."""

    office_hours: tuple[tuple[time, time], ...]
    clocks: dict[Urgency, dict[str, Duration]]
    statutory: dict[str, Duration]
    grace: dict[Urgency, Duration]
    # Staff-entered dates for years chinese_calendar does not know yet (or corrections).
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()


def _duration(spec: Any, where: str) -> Duration:
    """One ``{"unit": amount}`` entry of the rules file."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(f"sla rules: {where} must be one {{unit: amount}}")
    ((unit, amount),) = spec.items()
    if unit not in UNITS or not isinstance(amount, int | float) or amount < 0:
        raise ValueError(f"sla rules: {where} has a bad unit or amount: {spec!r}")
    if unit == "working_days" and int(amount) != amount:
        raise ValueError(f"sla rules: {where}: working_days must be whole days")
    return unit, amount


def parse_rules(raw: dict[str, Any]) -> SlaRules:
    """Validate and parse the rules file's content (keys ending in 说明 are for people)."""
    periods = tuple(
        (time.fromisoformat(start), time.fromisoformat(end)) for start, end in raw["office_hours"]
    )
    if not periods or any(start >= end for start, end in periods):
        raise ValueError("sla rules: office_hours must be non-empty ordered periods")
    if any(a[1] > b[0] for a, b in zip(periods, periods[1:], strict=False)):
        raise ValueError("sla rules: office_hours periods must not overlap")
    clocks = {
        Urgency(level): {
            name: _duration(per_level[name], f"clocks.{level}.{name}") for name in CLOCKS
        }
        for level, per_level in raw["clocks"].items()
    }
    grace = {
        Urgency(level): _duration(spec, f"escalation_grace.{level}")
        for level, spec in raw["escalation_grace"].items()
    }
    if set(clocks) != set(Urgency) or set(grace) != set(Urgency):
        raise ValueError("sla rules: clocks and escalation_grace need every urgency level")
    statutory = {
        name: _duration(spec, f"statutory.{name}") for name, spec in raw["statutory"].items()
    }
    if not set(statutory) <= set(CLOCKS):
        raise ValueError("sla rules: statutory caps must name clocks")
    overrides = raw.get("calendar_overrides", {})
    holidays = frozenset(date.fromisoformat(d) for d in overrides.get("holidays", []))
    workdays = frozenset(date.fromisoformat(d) for d in overrides.get("workdays", []))
    if holidays & workdays:
        raise ValueError("sla rules: a date cannot be both a holiday and a working day")
    return SlaRules(periods, clocks, statutory, grace, holidays, workdays)


@cache
def load_rules(path: str = str(RULES_PATH)) -> SlaRules:
    """The SLA rules, read once per process from the JSON data file."""
    return parse_rules(json.loads(Path(path).read_text(encoding="utf-8")))


# --- The calendar -----------------------------------------------------------------------------

_warned_years: set[int] = set()


def is_working_day(day: date, rules: SlaRules | None = None) -> bool:
    """Whether ``day`` is a working day in mainland China (holidays and 调休 make-up days)."""
    rules = rules or load_rules()
    if day in rules.extra_workdays:
        return True
    if day in rules.extra_holidays:
        return False
    # The State Council notices staff entered in the console come before the package.
    by_notice = working_day_from_notices(day)
    if by_notice is not None:
        return by_notice
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # The package only knows years the State Council has announced; a stale install must
        # not stop the clocks, so count Monday to Friday and say so once per year.
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinese_calendar has no holiday data for %d: counting Monday-Friday as working "
                "days; upgrade chinese-calendar",
                day.year,
            )
        return day.weekday() < 5


def _office_periods(day: date, rules: SlaRules) -> list[tuple[datetime, datetime]]:
    # Office hours are the district's wall clock (the TIMEZONE setting).
    tz = district_zone()
    return [
        (datetime.combine(day, start, tz), datetime.combine(day, end, tz))
        for start, end in rules.office_hours
    ]


def add_office_hours(start: datetime, hours: float, rules: SlaRules | None = None) -> datetime:
    """``start`` plus ``hours`` counted only inside office hours of working days (UTC)."""
    rules = rules or load_rules()
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(district_zone())
    day = cursor.date()
    for _ in range(_MAX_DAYS_AHEAD):
        if is_working_day(day, rules):
            for period_start, period_end in _office_periods(day, rules):
                begin = max(period_start, cursor)
                if begin >= period_end:
                    continue
                available = period_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("no office hours found ahead: check the SLA rules")


def add_working_days(start: datetime, days: int, rules: SlaRules | None = None) -> datetime:
    """The close of office on the ``days``-th working day after the day of ``start`` (UTC).

    The day something arrives does not count (民法典 art. 201: a period starts the next day),
    so a complaint received at 20:00 on the last working day before a holiday is due at the
    close of the first working day after it.
    """
    rules = rules or load_rules()
    day = start.astimezone(district_zone()).date()
    counted = 0
    for _ in range(_MAX_DAYS_AHEAD):
        if counted >= days:
            break
        day += timedelta(days=1)
        if is_working_day(day, rules):
            counted += 1
    else:
        raise ValueError("working-day search ran too far ahead")
    close = rules.office_hours[-1][1]
    return datetime.combine(day, close, district_zone()).astimezone(UTC)


def add_duration(start: datetime, spec: Duration, rules: SlaRules | None = None) -> datetime:
    """``start`` plus one rules-file duration, in its unit (see sla_rules.json)."""
    rules = rules or load_rules()
    unit, amount = spec
    if unit == "minutes":
        return (start + timedelta(minutes=amount)).astimezone(UTC)
    if unit == "hours":
        return (start + timedelta(hours=amount)).astimezone(UTC)
    if unit == "days":
        return (start + timedelta(days=amount)).astimezone(UTC)
    if unit == "office_hours":
        return add_office_hours(start, amount, rules)
    return add_working_days(start, int(amount), rules)


def deadline(
    start: datetime, urgency: Urgency, clock: str, rules: SlaRules | None = None
) -> datetime:
    """When ``clock`` runs out for a case of ``urgency`` whose clock started at ``start``."""
    rules = rules or load_rules()
    return add_duration(start, rules.clocks[urgency][clock], rules)


def _capped(due: datetime, clock: str, since: datetime, rules: SlaRules) -> datetime:
    """A deadline bounded by the statutory limit for that clock, counted from ``since``."""
    bound = rules.statutory.get(clock)
    return due if bound is None else min(due, add_duration(since, bound, rules))


# --- The one definition of each clock's state and of "overdue" -------------------------------
#
# Every figure (console list and detail, dashboard, weekly packs, exports, letters, escalation)
# reads a clock's state from here. The rule is written twice, side by side: in Python over a
# loaded ``Case`` (``clock_state``) and in SQL over the ``cases`` columns (``clock_state_expr``);
# ``tests/test_clock_states.py`` checks on generated cases that the two always agree.


class ClockState(StrEnum):
    """Where one SLA clock of a case stands."""

    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"
    BREACHED = "breached"
    MET = "met"
    STOPPED = "stopped"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return CLOCK_STATE_LABELS[self]


CLOCK_STATE_LABELS = {
    ClockState.NOT_STARTED: "未开始",
    ClockState.RUNNING: "计时中",
    ClockState.PAUSED: "已暂停",
    ClockState.BREACHED: "已超期",
    ClockState.MET: "已完成",
    ClockState.STOPPED: "已终止",
}
# A clock "in force" is ticking (or paused) for the status the case is in now.
IN_FORCE_STATES = frozenset({ClockState.RUNNING, ClockState.PAUSED, ClockState.BREACHED})


def contacted(case: Case) -> bool:
    """The team in charge has contacted the worker since the case was (last) dispatched to it."""
    if case.first_contact_at is None:
        return False
    return case.dispatched_at is None or case.first_contact_at >= case.dispatched_at


def contacted_clause() -> sa.ColumnElement[bool]:
    """``contacted`` in SQL."""
    return sa.and_(
        Case.first_contact_at.is_not(None),
        sa.or_(Case.dispatched_at.is_(None), Case.first_contact_at >= Case.dispatched_at),
    )


def record_contact(case: Case, now: datetime) -> bool:
    """Stop the contact clock of the current round; True if this was its first contact.

    ``first_contact_at`` is the first contact since the last dispatch: a reassigned case's new
    team has its own contact clock, so its first contact is recorded again.
    """
    if contacted(case):
        return False
    case.first_contact_at = now
    return True


@dataclass(frozen=True)
class ClockRule:
    """When one clock is in force, met, waiting for the next round, or ended with the case.

    A status in none of the three sets has ended the case's handling (resolved and closed for
    the contact clock, rejected and withdrawn for all): the clock is then met if its step was
    done, stopped if it had been started, and not started otherwise.
    """

    name: str
    label: str
    in_force: frozenset[CaseStatus]
    met: frozenset[CaseStatus]
    waiting: frozenset[CaseStatus]
    done: Callable[[Case], bool]
    done_clause: Callable[[], sa.ColumnElement[bool]]
    # The contact clock stops within the same statuses once the step is done.
    until_done: bool = False

    def due(self, case: Case) -> datetime | None:
        """The clock's deadline on a loaded case."""
        return getattr(case, f"{self.name}_due_at")

    def due_column(self) -> Any:
        """The clock's deadline column."""
        return getattr(Case, f"{self.name}_due_at")


AFTER_ACCEPT = frozenset({S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED})
CLOCK_RULES = {
    rule.name: rule
    for rule in (
        ClockRule(
            "dispatch",
            "分派",
            in_force=WAITING_FOR_DISPATCH,
            met=frozenset({S.DISPATCHED}) | AFTER_ACCEPT,
            waiting=frozenset(),
            done=lambda case: case.dispatched_at is not None,
            done_clause=lambda: Case.dispatched_at.is_not(None),
        ),
        ClockRule(
            "accept",
            "接收",
            in_force=frozenset({S.DISPATCHED}),
            met=AFTER_ACCEPT,
            waiting=WAITING_FOR_DISPATCH,
            done=lambda case: case.accepted_at is not None,
            done_clause=lambda: Case.accepted_at.is_not(None),
        ),
        ClockRule(
            "contact",
            "首次联系",
            in_force=WITH_TEAM,
            met=WITH_TEAM,
            waiting=WAITING_FOR_DISPATCH,
            done=contacted,
            done_clause=contacted_clause,
            until_done=True,
        ),
        ClockRule(
            "resolve",
            "办结",
            # A return keeps the resolve deadline: the worker's wait goes on meanwhile.
            in_force=WITH_TEAM | {S.RETURNED},
            met=frozenset({S.RESOLVED, S.CLOSED}),
            waiting=frozenset({S.RECEIVED, S.REOPENED}),
            done=lambda case: case.resolved_at is not None,
            done_clause=lambda: Case.resolved_at.is_not(None),
        ),
    )
}
CLOCK_LABELS = {name: rule.label for name, rule in CLOCK_RULES.items()}


def _in_force(rule: ClockRule, case: Case) -> bool:
    return case.status in rule.in_force and not (rule.until_done and rule.done(case))


def _in_force_clause(rule: ClockRule) -> sa.ColumnElement[bool]:
    clause = Case.status.in_(rule.in_force)
    return sa.and_(clause, sa.not_(rule.done_clause())) if rule.until_done else clause


def clock_state(case: Case, name: str, now: datetime) -> ClockState:
    """The state of one clock of a loaded case at ``now`` (the rule ``clock_state_expr`` is)."""
    rule = CLOCK_RULES[name]
    due = rule.due(case)
    if _in_force(rule, case):
        if due is None:
            return ClockState.NOT_STARTED
        if case.clock_paused_at is not None:
            return ClockState.PAUSED
        return ClockState.BREACHED if due < now else ClockState.RUNNING
    if case.status in rule.met:
        return ClockState.MET
    if case.status in rule.waiting:
        return ClockState.NOT_STARTED
    if rule.done(case):
        return ClockState.MET
    return ClockState.NOT_STARTED if due is None else ClockState.STOPPED


def clock_state_expr(name: str, now: datetime) -> sa.ColumnElement[str]:
    """The state of one clock at ``now`` as a SQL expression (the rule ``clock_state`` is)."""
    rule = CLOCK_RULES[name]
    due = rule.due_column()
    in_force = _in_force_clause(rule)
    whens: list[tuple[sa.ColumnElement[bool], str]] = [
        (sa.and_(in_force, due.is_(None)), ClockState.NOT_STARTED.value),
        (sa.and_(in_force, Case.clock_paused_at.is_not(None)), ClockState.PAUSED.value),
        (sa.and_(in_force, due < now), ClockState.BREACHED.value),
        (in_force, ClockState.RUNNING.value),
        (Case.status.in_(rule.met), ClockState.MET.value),
    ]
    if rule.waiting:
        whens.append((Case.status.in_(rule.waiting), ClockState.NOT_STARTED.value))
    whens += [
        (rule.done_clause(), ClockState.MET.value),
        (due.is_not(None), ClockState.STOPPED.value),
    ]
    return sa.case(*whens, else_=ClockState.NOT_STARTED.value)


def clock_states(case: Case, now: datetime) -> dict[str, ClockState]:
    """Every clock's state, in the order the case meets them."""
    return {name: clock_state(case, name, now) for name in CLOCKS}


def breached_clause(name: str, now: datetime) -> sa.ColumnElement[bool]:
    """``clock_state(...) == BREACHED`` for one clock, as plain conditions an index can serve."""
    rule = CLOCK_RULES[name]
    return sa.and_(_in_force_clause(rule), Case.clock_paused_at.is_(None), rule.due_column() < now)


def overdue_clauses(now: datetime) -> dict[str, sa.ColumnElement[bool]]:
    """Per clock, the SQL condition "this clock is breached" (what the figures count)."""
    return {name: breached_clause(name, now) for name in CLOCKS}


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    """Overdue in SQL: some clock of the case is breached (the rule ``is_overdue`` is)."""
    return sa.or_(*overdue_clauses(now).values())


def overdue_clocks(case: Case, now: datetime) -> list[str]:
    """The breached clocks of a loaded case."""
    return [name for name in CLOCKS if clock_state(case, name, now) == ClockState.BREACHED]


def is_overdue(case: Case, now: datetime) -> bool:
    """Overdue: some clock of the case is breached (the rule ``overdue_clause`` is)."""
    return bool(overdue_clocks(case, now))


def relevant_clock(case: Case, now: datetime | None = None) -> tuple[str, datetime] | None:
    """The clock that a breach is about: the first breached one, else the first in force.

    Without ``now`` the first clock in force, whatever its deadline.
    """
    in_force = [name for name in CLOCKS if _in_force(CLOCK_RULES[name], case)]
    in_force = [name for name in in_force if CLOCK_RULES[name].due(case) is not None]
    if not in_force:
        return None
    if now is not None:
        late = [n for n in in_force if clock_state(case, n, now) == ClockState.BREACHED]
        if late:
            return late[0], CLOCK_RULES[late[0]].due(case)
    return in_force[0], CLOCK_RULES[in_force[0]].due(case)


def _running_clocks(case: Case) -> list[str]:
    """The clocks in force (those a pause moves later)."""
    return [
        name
        for name in CLOCKS
        if _in_force(CLOCK_RULES[name], case) and CLOCK_RULES[name].due(case) is not None
    ]


# --- The lifecycle hook -----------------------------------------------------------------------


def _reset_escalation(case: Case) -> None:
    case.escalation_level = 0
    case.escalation_clock = None


def _shift_running_clocks(case: Case, by: timedelta) -> None:
    for name in _running_clocks(case):
        setattr(case, f"{name}_due_at", getattr(case, f"{name}_due_at") + by)


def apply_clocks(
    case: Case, to_status: CaseStatus | None, now: datetime, rules: SlaRules | None = None
) -> None:
    """Start, move or stop the case's clocks for a step; called inside the lifecycle transaction.

    ``case.status`` is still the status the case leaves (creation passes ``RECEIVED`` for a
    case already in ``received``). Nothing is committed here.
    """
    rules = rules or load_rules()
    from_status = case.status
    if to_status is None:
        return
    if case.clock_paused_at is not None:
        # Any step ends the wait for the worker: resume first so the paused time is not lost.
        paused_for = max(now - case.clock_paused_at, timedelta(0))
        if to_status not in STOPPING_STATUSES:
            _shift_running_clocks(case, paused_for)
        case.clock_paused_at = None
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.CLOCK_RESUMED,
                actor_role=Role.SYSTEM,
                data={"paused_seconds": int(paused_for.total_seconds()), "automatic": True},
            )
        )

    received_at = case.created_at or now
    if to_status == S.RECEIVED:
        due = deadline(now, case.urgency_suggested, "dispatch", rules)
        case.dispatch_due_at = _capped(due, "dispatch", now, rules)
        _reset_escalation(case)
    elif to_status == S.DISPATCHED:
        urgency = case.urgency
        case.accept_due_at = deadline(now, urgency, "accept", rules)
        case.contact_due_at = deadline(now, urgency, "contact", rules)
        if from_status == S.RECEIVED:
            case.accept_due_at = _capped(case.accept_due_at, "accept", received_at, rules)
            due = deadline(now, urgency, "resolve", rules)
            case.resolve_due_at = _capped(due, "resolve", received_at, rules)
        elif from_status == S.REOPENED or case.resolve_due_at is None:
            # A disputed outcome starts a new round of handling.
            due = deadline(now, urgency, "resolve", rules)
            case.resolve_due_at = _capped(due, "resolve", now, rules)
        # A reassignment or a return keeps the resolve deadline: moving a case between teams
        # must not lengthen the worker's wait.
        _reset_escalation(case)
    elif to_status == S.ACCEPTED:
        case.accepted_at = now
        _reset_escalation(case)
    elif to_status in {S.RETURNED, S.REOPENED}:
        case.dispatch_due_at = deadline(now, case.urgency, "dispatch", rules)
        _reset_escalation(case)
    elif to_status in STOPPING_STATUSES:
        # Deadlines stay for audit and indicators; no clock is in force from now on.
        _reset_escalation(case)


# --- Pausing while waiting for the worker -----------------------------------------------------


def _check_pauser(actor: Actor) -> None:
    if actor.role not in PAUSE_ROLES:
        raise Forbidden()


def pause_clocks(case_id: int, actor: Actor, reason: str, *, now: datetime | None = None) -> Case:
    """Stop the case's clocks while waiting for the worker (e.g. for materials); commits."""
    _check_pauser(actor)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请填写暂停计时的原因", code="reason_required")
    with unit_of_work():
        case = get_case_for(actor, case_id, for_update=True)
        now = now or db_now()
        if not _running_clocks(case):
            raise Conflict("案件当前状态下没有正在计算的时限", code="clock_not_running")
        if case.clock_paused_at is not None:
            raise Conflict("时限已暂停", code="clock_already_paused")
        case.clock_paused_at = now
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.CLOCK_PAUSED,
                actor_role=actor.role,
                actor_id=actor.id,
                data={"message": "等待您补充材料或回复，办理时限暂停计算", "reason": reason},
                worker_visible=True,
            )
        )
    return case


def resume_clocks(case_id: int, actor: Actor, *, now: datetime | None = None) -> Case:
    """Restart paused clocks; every running deadline moves later by the paused time; commits."""
    _check_pauser(actor)
    with unit_of_work():
        case = get_case_for(actor, case_id, for_update=True)
        now = now or db_now()
        if case.clock_paused_at is None:
            raise Conflict("时限未暂停", code="clock_not_paused")
        paused_for = max(now - case.clock_paused_at, timedelta(0))
        _shift_running_clocks(case, paused_for)
        case.clock_paused_at = None
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.CLOCK_RESUMED,
                actor_role=actor.role,
                actor_id=actor.id,
                data={
                    "message": "办理时限恢复计算",
                    "paused_seconds": int(paused_for.total_seconds()),
                },
                worker_visible=True,
            )
        )
    return case


def _case_id_for_number(actor: Actor, number: str) -> int:
    case_id = db.session.scalar(sa.select(Case.id).where(Case.number == number, case_scope(actor)))
    if case_id is None:
        raise NotFound("找不到该案件")
    return case_id


def pause_case_clocks(actor: Actor, number: str, reason: str) -> Case:
    """``pause_clocks`` for a case named by its public number (the mini-program APIs)."""
    _check_pauser(actor)
    return pause_clocks(_case_id_for_number(actor, number), actor, reason)


def resume_case_clocks(actor: Actor, number: str) -> Case:
    """``resume_clocks`` for a case named by its public number (the mini-program APIs)."""
    _check_pauser(actor)
    return resume_clocks(_case_id_for_number(actor, number), actor)


# --- Escalation -------------------------------------------------------------------------------


def warranted_level(case: Case, due: datetime, now: datetime, rules: SlaRules | None = None) -> int:
    """0 on time; 1 past due; 2 a grace period later; 3 (the bureau) another grace period on."""
    rules = rules or load_rules()
    if now <= due:
        return 0
    grace = rules.grace[case.urgency]
    foreman_at = add_duration(due, grace, rules)
    if now <= foreman_at:
        return 1
    bureau_at = add_duration(foreman_at, grace, rules)
    return 2 if now <= bureau_at else BUREAU_LEVEL


def _recipient(case: Case, level: int) -> str:
    """Who a breach step tells: the assignee first (the team once dispatched), then up."""
    if level == 1:
        return "team" if case.status in WITH_TEAM and case.team_id else "foreman"
    return ESCALATION_LEVELS[level]


def _overdue_case_ids(now: datetime) -> list[int]:
    ids = db.session.scalars(sa.select(Case.id).where(overdue_clause(now)).order_by(Case.id)).all()
    db.session.rollback()
    return list(ids)


def _escalate_case(case_id: int, now: datetime, rules: SlaRules) -> bool:
    """One unit of work: raise one case's escalation to the level its breach warrants."""
    case = db.session.scalars(
        sa.select(Case)
        .where(Case.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    found = None if case is None or case.clock_paused_at else relevant_clock(case, now)
    if found is None:
        db.session.rollback()
        return False
    clock, due = found
    current = case.escalation_level if case.escalation_clock == clock else 0
    target = warranted_level(case, due, now, rules)
    if target <= current:
        db.session.rollback()
        return False
    due_key = due.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Steps skipped while the scheduler was down are still taken, in order.
    for level in range(current + 1, target + 1):
        recipient = _recipient(case, level)
        data = {
            "clock": clock,
            "level": level,
            "due_at": due.isoformat(),
            "recipient": recipient,
        }
        event = CaseEvent(case_id=case.id, kind=EventKind.BREACH, actor_role=Role.SYSTEM, data=data)
        db.session.add(event)
        db.session.flush()
        db.session.add(
            Outbox(
                topic="breach_notify",
                dedupe_key=f"breach:{case.id}:{clock}:{level}:{due_key}",
                case_id=case.id,
                payload={
                    **data,
                    "case_id": case.id,
                    "event_id": event.id,
                    "team_id": case.team_id,
                    "foreman_id": case.foreman_id,
                    "street_id": case.street_id,
                },
            )
        )
    if target >= BUREAU_LEVEL:
        case.flagged_to_bureau = True
    case.escalation_level = target
    case.escalation_clock = clock
    db.session.commit()
    log.info("case %s: %s clock breached, escalation level %s", case.id, clock, target)
    return True


def escalate_breaches(now: datetime | None = None) -> list[int]:
    """Escalate every open case whose relevant clock is overdue; each case is its own commit.

    Safe to run twice or concurrently: the row lock, the stored level and the outbox's unique
    dedupe keys let each level happen once per deadline. Returns the ids escalated this run.
    """
    rules = load_rules()
    now = now or db_now()
    escalated = []
    for case_id in _overdue_case_ids(now):
        try:
            if _escalate_case(case_id, now, rules):
                escalated.append(case_id)
        except (IntegrityError, StaleDataError):
            # Another run escalated (or a person changed) this case first: nothing to add.
            db.session.rollback()
            log.info("case %s changed during escalation; left to the next run", case_id)
    return escalated
