"""The dashboard's daily_figures rows always equal the period figures computed from the cases."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from wagedispute.cases.figures import (
    PeriodFigures,
    counted_figures,
    period_figures,
    rebuild_daily_figures,
    total,
)
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    DailyFigures,
    EventKind,
    Outcome,
    Role,
)
from wagedispute.platform.database import db
from wagedispute.platform.timekeeping import district_midnight

# Local midnight of 2026-11-16 is 16:00 UTC the day before: moments are drawn around it too.
AROUND = datetime(2026, 11, 15, 16, 0, tzinfo=UTC)
RATING_FIELDS = ("rating_total", "ratings")


def _moment(rng: random.Random) -> datetime:
    if rng.random() < 0.15:  # on a local midnight, where a day boundary can drift
        return AROUND + timedelta(days=rng.randint(-30, 30))
    return AROUND + timedelta(minutes=rng.randint(-40 * 24 * 60, 40 * 24 * 60))


def _resolution(rng: random.Random) -> dict[str, Any]:
    resolved_at = _moment(rng)
    due = rng.choice([None, resolved_at, resolved_at + timedelta(hours=rng.randint(-72, 72))])
    # The resolve step only stores whole fen (validated); a resolution may have none.
    paid = rng.choice([None, 0, rng.randint(1, 9_000_000)])
    return {
        "resolved_at": resolved_at,
        "resolve_due_at": due,
        "outcome": rng.choice([*Outcome, None]),
        "outcome_data": {} if paid is None else {"amount_paid_fen": paid},
    }


def _new_case(rng: random.Random, street_ids: list[int], index: int) -> Case:
    case = Case(
        number=f"DF-{index:05d}",
        status=rng.choice(list(CaseStatus)),
        channel=Channel.PHONE,
        street_id=rng.choice(street_ids),
        site_name="统计工地",
        workers_affected=rng.randint(1, 30),
        created_at=_moment(rng),
    )
    if rng.random() < 0.6:
        for name, value in _resolution(rng).items():
            setattr(case, name, value)
    return case


def _change(rng: random.Random, case: Case) -> None:
    """One change a real flow makes: a new status, a (re-)resolution, a new deadline, ..."""
    step = rng.choice(["status", "resolve", "due", "workers", "outcome"])
    if step == "status":
        case.status = rng.choice(list(CaseStatus))
    elif step == "resolve":
        case.status = rng.choice([CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REOPENED])
        for name, value in _resolution(rng).items():
            setattr(case, name, value)
    elif step == "due":
        case.resolve_due_at = rng.choice([None, _moment(rng)])
    elif step == "workers":
        case.workers_affected = rng.randint(1, 30)
    else:
        case.outcome_data = {"amount_paid_fen": rng.randint(0, 5_000_000)}


def _rate(rng: random.Random, case: Case) -> None:
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind=EventKind.RATING,
            actor_role=Role.COMPLAINANT,
            data={"score": rng.choice([1, 2, 3, 4, 5, 5, 0, "5", None])},
            created_at=_moment(rng),
        )
    )


def _from_cases(street_id: int | None, first: date, end: date) -> PeriodFigures:
    """The figures computed from the cases and rating events, as the definitions say."""
    start, stop = district_midnight(first), district_midnight(end)
    scope = sa.true() if street_id is None else Case.street_id == street_id
    figures = total(period_figures(scope, start, stop))
    scores = db.session.scalars(
        sa.select(CaseEvent.data["score"])
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            scope,
            CaseEvent.kind == EventKind.RATING,
            CaseEvent.created_at >= start,
            CaseEvent.created_at < stop,
        )
    ).all()
    valid = [s for s in scores if isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 5]
    figures.rating_total, figures.ratings = sum(valid), len(valid)
    return figures


def _rows() -> dict[tuple[date, int], dict[str, int]]:
    """The non-zero figures of each day (a day whose cases all moved away keeps a zero row)."""
    summed: dict[tuple[date, int], PeriodFigures] = {}
    for r in db.session.scalars(sa.select(DailyFigures)):  # a day's shards added up
        row = PeriodFigures(**{name: getattr(r, name) for name in asdict(PeriodFigures())})
        summed.setdefault((r.day, r.street_id), PeriodFigures()).add(row)
    out = {}
    for key, figures in summed.items():
        non_zero = {name: value for name, value in asdict(figures).items() if value}
        if non_zero:
            out[key] = non_zero
    return out


def test_daily_figures_agree_with_the_cases_after_random_lifecycles(district):
    rng = random.Random(13)
    street_ids = [s.id for s in district["streets"].values()]
    cases = [_new_case(rng, street_ids, i) for i in range(300)]
    db.session.add_all(cases)
    db.session.commit()
    ids = [c.id for c in cases]

    for round_ in range(40):
        picked = [db.session.get(Case, i) for i in rng.sample(ids, 12)]
        for case in picked:
            _change(rng, case)
            if rng.random() < 0.3:
                _rate(rng, case)
        if round_ % 7 == 3:
            db.session.rollback()  # abandoned: counts nothing
            continue
        if round_ % 5 == 1:
            with db.session.begin_nested():
                _change(rng, picked[0])
                db.session.flush()
                db.session.rollback()  # the savepoint only
        db.session.commit()
        # A change to a case whose attributes the commit expired (nothing loaded before it).
        expired = db.session.get(Case, rng.choice(ids))
        db.session.expire(expired)
        expired.status = rng.choice(list(CaseStatus))
        db.session.commit()

    periods = [(date(2026, 1, 1), date(2027, 1, 1)), (date(2026, 10, 1), date(2026, 12, 1))]
    periods += [
        (date(2026, 11, 16) + timedelta(days=d), date(2026, 11, 16) + timedelta(days=d + 7))
        for d in range(-35, 35, 7)
    ]
    periods += [(date(2026, 11, 16), date(2026, 11, 17)), (date(2026, 11, 15), date(2026, 11, 16))]
    compared = 0
    for street_id in [None, *street_ids]:
        for first, end in periods:
            expected = _from_cases(street_id, first, end)
            assert counted_figures(street_id, first, end) == expected, (street_id, first, end)
            compared += expected.received + expected.resolved + expected.ratings
    assert compared > 1000  # the periods hold real cases, resolutions and ratings

    kept = _rows()
    used = db.session.scalar(sa.select(sa.func.count(sa.distinct(DailyFigures.shard))))
    assert used > 1  # concurrent writers of a day spread over its shards
    assert any(v.get("recovered_fen") for v in kept.values())
    assert any(v.get("ratings") for v in kept.values())
    rebuild_daily_figures()
    db.session.commit()
    assert _rows() == kept  # maintained row by row == recomputed from scratch
    used = db.session.scalar(sa.select(sa.func.count(sa.distinct(DailyFigures.shard))))
    assert used == 1  # the rebuild writes one row per day and street


def test_a_case_change_that_moves_no_figure_writes_no_row(district, make_case):
    case = make_case()
    before = db.session.scalar(sa.select(sa.func.sum(DailyFigures.received)))
    assert before == 1
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        db.session.get(Case, case.id).site_name = "改名后的工地"
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert not [s for s in statements if "daily_figures" in s]
