"""A simulated year of a district: every dashboard figure equals a count made from the events."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.cases.lifecycle import TRANSITIONS
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    DisposalTeam,
    Foreman,
    IndicatorTarget,
    Outcome,
    Role,
    StaffRole,
    Urgency,
)
from wagedispute.platform.database import db
from wagedispute.supervision.indicators import compute_dashboard

S = CaseStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = 2025
# "Now" for the dashboard: a Wednesday afternoon in December, local time.
NOW = datetime(2025, 12, 17, 15, 30, tzinfo=SHANGHAI).astimezone(UTC)
NEXT = defaultdict(list)
for (src, dst), roles in TRANSITIONS.items():
    if src is not None:
        NEXT[src].append((dst, sorted(roles)))
PAID = (Outcome.PAID_IN_FULL, Outcome.PAID_IN_PART, Outcome.INSTALMENT_PLAN)


def simulate_year(seed: int = 2026, cases: int = 260) -> None:
    """Insert cases and events spread over the year, each walk following the state machine."""
    rng = random.Random(seed)
    foremen = list(db.session.scalars(sa.select(Foreman)))
    teams = list(db.session.scalars(sa.select(DisposalTeam)))
    start = datetime(YEAR, 1, 1, tzinfo=SHANGHAI).astimezone(UTC) - timedelta(days=20)
    span = (NOW - start).total_seconds()
    for n in range(cases):
        foreman = rng.choice(foremen)
        created = start + timedelta(seconds=rng.random() * span)
        case = Case(
            number=f"YT-SIM-{n:05d}",
            channel=rng.choice(list(Channel)),
            foreman_id=foreman.id,
            street_id=foreman.street_id,
            site_name=f"模拟工地{n % 17}",
            workers_affected=rng.randint(1, 30),
            amount_owed_fen=rng.randint(1, 500) * 10_000,
            urgency_suggested=rng.choice(list(Urgency)),
            status=S.RECEIVED,
            created_at=created,
            updated_at=created,
            dispatch_due_at=created + timedelta(hours=rng.choice([1, 4, 24, 48])),
        )
        db.session.add(case)
        db.session.flush()
        events = [
            CaseEvent(
                case_id=case.id,
                kind="status",
                from_status=None,
                to_status=S.RECEIVED,
                actor_role=Role.FOREMAN,
                actor_id=foreman.id,
                data={},
                created_at=created,
            )
        ]
        at = created
        status = S.RECEIVED
        for _ in range(rng.randint(0, 9)):
            choices = NEXT[status]
            if not choices:
                break
            # Most walks go on: withdrawing or rejecting everywhere would leave little resolved.
            ongoing = [c for c in choices if c[0] not in (S.WITHDRAWN, S.REJECTED)]
            if ongoing and rng.random() < 0.85:
                choices = ongoing
            target, roles = rng.choice(choices)
            at = at + timedelta(hours=rng.expovariate(1 / 30))
            if at >= NOW:
                break
            data: dict = {}
            if target == S.DISPATCHED:
                team = rng.choice([t for t in teams if t.street_id == case.street_id] or teams)
                case.team_id = team.id
                case.urgency_confirmed = case.urgency_confirmed or case.urgency_suggested
                case.dispatched_at = at
                case.accept_due_at = at + timedelta(hours=rng.choice([1, 4, 24]))
                case.contact_due_at = at + timedelta(hours=rng.choice([2, 24, 72]))
                case.resolve_due_at = at + timedelta(days=rng.choice([3, 7, 15]))
                data["team_id"] = team.id
            elif target == S.ACCEPTED:
                case.accepted_at = at
                if rng.random() < 0.7:
                    case.first_contact_at = at + timedelta(hours=rng.random() * 40)
            elif target == S.RESOLVED:
                outcome = rng.choice(list(Outcome))
                case.outcome = outcome
                paid = outcome in (Outcome.PAID_IN_FULL, Outcome.PAID_IN_PART)
                case.outcome_data = (
                    {"amount_paid_fen": rng.randint(1, case.amount_owed_fen // 100) * 100}
                    if paid
                    else {}
                )
                case.resolved_at = at
                data["outcome"] = outcome.value
            elif target == S.REOPENED:
                case.flagged_to_bureau = True
            elif target in (S.CLOSED, S.REJECTED, S.WITHDRAWN):
                case.closed_at = at
            events.append(
                CaseEvent(
                    case_id=case.id,
                    kind="status",
                    from_status=status,
                    to_status=target,
                    actor_role=rng.choice(roles),
                    data=data,
                    created_at=at,
                )
            )
            status = target
        case.status = status
        case.updated_at = at
        if status in OPEN_STATUSES and rng.random() < 0.08:
            case.clock_paused_at = at
        # A worker rates a case once (handling.followup refuses a second rating).
        if status in (S.CLOSED, S.RESOLVED) and rng.random() < 0.8:
            at = at + timedelta(hours=rng.random() * 100)
            if at < NOW:
                events.append(
                    CaseEvent(
                        case_id=case.id,
                        kind="rating",
                        actor_role=Role.COMPLAINANT,
                        data={"score": rng.randint(1, 5)},
                        created_at=at,
                    )
                )
        if rng.random() < 0.3:
            events.append(
                CaseEvent(
                    case_id=case.id,
                    kind="note",
                    actor_role=Role.TEAM_MEMBER,
                    data={"text": "已约谈总包"},
                    created_at=created + timedelta(hours=1),
                )
            )
        db.session.add_all(events)
    db.session.commit()


def local_week(moment: datetime) -> date:
    day = moment.astimezone(SHANGHAI).date()
    return day - timedelta(days=day.weekday())


def expected_figures(street_id: int | None) -> dict:
    """Every dashboard figure, counted in plain Python from the event rows (and case facts)."""
    cases = {c.id: c for c in db.session.scalars(sa.select(Case))}
    events = defaultdict(list)
    for e in db.session.scalars(sa.select(CaseEvent).order_by(CaseEvent.created_at, CaseEvent.id)):
        events[e.case_id].append(e)
    in_year = lambda t: t is not None and t.astimezone(SHANGHAI).year == YEAR  # noqa: E731
    this_week = local_week(NOW)
    weeks = [this_week - timedelta(weeks=11 - i) for i in range(12)]
    out = {
        "by_status": Counter(),
        "by_urgency": Counter(),
        "by_street": Counter(),
        "by_clock": Counter(),
        "overdue": 0,
        "received": 0,
        "closed": 0,
        "excluded": 0,
        "with_due": 0,
        "on_time": 0,
        "money": 0,
        "helped": 0,
        "scores": [],
        "trend_received": Counter(),
        "trend_resolved": Counter(),
    }
    for case_id, evs in events.items():
        case = cases[case_id]
        if street_id is not None and case.street_id != street_id:
            continue
        status_events = [e for e in evs if e.kind == "status"]
        created = status_events[0].created_at
        status = status_events[-1].to_status
        resolutions = [e.created_at for e in status_events if e.to_status == S.RESOLVED]
        resolved_at = resolutions[-1] if resolutions else None
        if status in OPEN_STATUSES:
            out["by_status"][status.value] += 1
            out["by_urgency"][(case.urgency_confirmed or case.urgency_suggested).value] += 1
            out["by_street"][case.street_id] += 1
            late = set()
            # The clocks' definition (README "Clocks"): the contact owed is the one since the
            # last dispatch (a reassignment owes the new team's), and a returned case's resolve
            # deadline keeps running.
            contacted = case.first_contact_at is not None and (
                case.dispatched_at is None or case.first_contact_at >= case.dispatched_at
            )
            with_team = (S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS)
            if case.clock_paused_at is None:
                if status in (S.RECEIVED, S.RETURNED, S.REOPENED) and case.dispatch_due_at < NOW:
                    late.add("dispatch")
                if status == S.DISPATCHED and case.accept_due_at < NOW:
                    late.add("accept")
                if status in with_team and not contacted and case.contact_due_at < NOW:
                    late.add("contact")
                if status in (*with_team, S.RETURNED) and case.resolve_due_at < NOW:
                    late.add("resolve")
            for clock in late:
                out["by_clock"][clock] += 1
            out["overdue"] += bool(late)
        if in_year(created):
            out["received"] += 1
            out["closed"] += status == S.CLOSED
            out["excluded"] += status in (S.REJECTED, S.WITHDRAWN)
        if in_year(resolved_at):
            if case.resolve_due_at is not None:
                out["with_due"] += 1
                out["on_time"] += resolved_at <= case.resolve_due_at
            if status in (S.RESOLVED, S.CLOSED):
                out["money"] += case.outcome_data.get("amount_paid_fen", 0)
                if case.outcome in PAID:
                    out["helped"] += case.workers_affected
        ratings = [e for e in evs if e.kind == "rating" and in_year(e.created_at)]
        if ratings:
            out["scores"].append(ratings[-1].data["score"])
        if local_week(created) in weeks and created < NOW:
            out["trend_received"][local_week(created)] += 1
        if resolved_at is not None and local_week(resolved_at) in weeks:
            out["trend_resolved"][local_week(resolved_at)] += 1
    out["weeks"] = weeks
    return out


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def assert_dashboard_matches(actor: Actor, street_id: int | None) -> None:
    dash = compute_dashboard(actor, now=NOW)
    want = expected_figures(street_id)
    assert dash.year == YEAR
    assert dict(dash.open_by_status) == {
        s.value: want["by_status"][s.value] for s in S if s in OPEN_STATUSES
    }
    assert dict(dash.open_by_urgency) == {u.value: want["by_urgency"][u.value] for u in Urgency}
    assert sum(n for _, n in dash.open_by_street) == sum(want["by_street"].values())
    assert dash.open_total == sum(want["by_status"].values())
    labels = {"分派": "dispatch", "接收": "accept", "首次联系": "contact", "办结": "resolve"}
    assert {labels[k]: v for k, v in dash.overdue_by_clock} == {
        k: want["by_clock"][k] for k in labels.values()
    }
    assert dash.overdue_total == want["overdue"]
    assert dash.received_this_year == want["received"]
    assert dash.closure_rate == pct(want["closed"], want["received"] - want["excluded"])
    assert dash.on_time_rate == pct(want["on_time"], want["with_due"])
    assert dash.money_recovered_fen == want["money"]
    assert dash.workers_helped == want["helped"]
    scores = want["scores"]
    assert dash.ratings == len(scores)
    assert dash.satisfaction == (round(sum(scores) / len(scores), 2) if scores else None)
    assert [p.week_start for p in dash.trend] == [w.isoformat() for w in want["weeks"]]
    assert [p.received for p in dash.trend] == [want["trend_received"][w] for w in want["weeks"]]
    assert [p.resolved for p in dash.trend] == [want["trend_resolved"][w] for w in want["weeks"]]
    assert dash.new_this_week == want["trend_received"][want["weeks"][-1]]
    # The simulation must exercise every figure, or the comparison proves little.
    assert want["overdue"] and want["money"] and want["helped"] and scores
    assert want["with_due"] > want["on_time"] > 0


def test_every_dashboard_figure_equals_an_independent_count_over_a_simulated_year(app, district):
    simulate_year()
    supervisor = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_SUPERVISOR)
    assert_dashboard_matches(supervisor, None)
    street = district["streets"]["yantian"]
    street_staff = Actor(Role.STAFF, 2, street_id=street.id, staff_role=StaffRole.STREET_STAFF)
    assert_dashboard_matches(street_staff, street.id)
    dash = compute_dashboard(street_staff, now=NOW)
    assert [name for name, _ in dash.open_by_street] == [street.name]


def test_indicators_stand_beside_their_targets(app, district):
    simulate_year(seed=7, cases=80)
    street = district["streets"]["haishan"]
    db.session.add_all(
        [
            IndicatorTarget(year=YEAR, indicator="on_time_rate", scope="district", value=90),
            IndicatorTarget(year=YEAR, indicator="money_recovered", scope="district", value=1e6),
            IndicatorTarget(
                year=YEAR, indicator="closure_rate", scope=f"street:{street.id}", value=80
            ),
        ]
    )
    db.session.commit()
    district_view = compute_dashboard(
        Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN), now=NOW
    )
    figures = {f.key: f for f in district_view.figures}
    assert figures["on_time_rate"].target == 90
    assert figures["money_recovered"].target == 1e6
    assert figures["money_recovered"].value == district_view.money_recovered_fen / 100
    assert figures["closure_rate"].target is None
    street_view = compute_dashboard(
        Actor(Role.STAFF, 2, street_id=street.id, staff_role=StaffRole.STREET_STAFF), now=NOW
    )
    figures = {f.key: f for f in street_view.figures}
    # A street borrows the district's rate targets but never its absolute ones.
    assert figures["on_time_rate"].target == 90
    assert figures["closure_rate"].target == 80
    assert figures["money_recovered"].target is None


def test_dashboard_figures_are_shared_briefly_then_refreshed_by_one_request(
    app, district, make_case
):
    import json as jsonlib

    from wagedispute.supervision.indicators import (
        CACHE_PREFIX,
        dashboard_for,
        set_indicator_targets,
    )

    redis = app.extensions["wagedispute.redis"]
    admin = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)
    make_case()
    assert dashboard_for(admin).open_total == 1
    make_case()
    # Within the freshness window every request shares the stored figures.
    assert dashboard_for(admin).open_total == 1
    key = CACHE_PREFIX + "district"
    stored = jsonlib.loads(redis.get(key))
    stored["at"] -= 3600
    redis.set(key, jsonlib.dumps(stored))
    # Aged, while another request holds the refresh: the old figures are served meanwhile.
    redis.set(key + ":refresh", "1")
    assert dashboard_for(admin).open_total == 1
    redis.delete(key + ":refresh")
    assert dashboard_for(admin).open_total == 2
    make_case()
    # Saving targets clears the stored figures.
    set_indicator_targets(admin, year=2026, values={"on_time_rate": 95})
    assert dashboard_for(admin).open_total == 3
