"""The period figures the dashboard, the weekly packs and the exports share, each defined once.

For a period [start, end) (a local calendar year on the dashboard, a local week in a pack):

- received: cases created in the period.
- resolved: cases whose latest resolution (``resolved_at``) falls in the period, whatever
  happened to them since.
- on time: of those resolved ones that have a resolve-by time, the ones resolved by it.
- settled: resolved ones that stayed resolved or were closed (a reopened case's payment is
  disputed, so it counts nowhere until it is resolved again).
- money recovered: ``outcome_data["amount_paid_fen"]`` (integer fen) of the settled cases.
- workers helped: ``workers_affected`` of the settled cases paid in full, in part or by
  instalments.
- closed / excluded: of the received cases, those now closed / rejected or withdrawn.
- satisfaction: the mean of the ratings given in the period (one per case).

Overdue is not a period figure: it is a clock state (``wagedispute.cases.clocks``).

``period_figures`` computes the figures from the cases (the weekly packs and exports, which
group by team, use it). The dashboard reads the same figures from ``daily_figures``, one row per
street and district-local day (in a few shards), kept current by two flush hooks
(``note_changed_cases`` before, ``count_flushed_changes`` after): whenever a flush inserts or
changes a case or adds a rating, the same flush adds the difference the change makes to the
days it counts on (``case_contributions``, the Python form of the definitions above).
``tests/test_daily_figures.py`` checks that the rows equal ``period_figures`` after random
lifecycles; ``rebuild_daily_figures`` recomputes them after rows were written in bulk SQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wagedispute.models import Case, CaseEvent, CaseStatus, DailyFigures, EventKind, Outcome
from wagedispute.platform.database import db, upsert_insert
from wagedispute.platform.timekeeping import district_today

SETTLED_STATUSES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
EXCLUDED_STATUSES = (CaseStatus.REJECTED, CaseStatus.WITHDRAWN)
HELPED_OUTCOMES = (Outcome.PAID_IN_FULL, Outcome.PAID_IN_PART, Outcome.INSTALMENT_PLAN)


def received_in(start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """Created in the period."""
    return sa.and_(Case.created_at >= start, Case.created_at < end)


def resolved_in(start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """Latest resolution in the period."""
    return sa.and_(Case.resolved_at >= start, Case.resolved_at < end)


def settled() -> sa.ColumnElement[bool]:
    """Resolved and not disputed since: its payment counts."""
    return Case.status.in_(SETTLED_STATUSES)


def recovered_fen_expr() -> sa.ColumnElement[int]:
    """Money recovered on one case in SQL (fen); 0 unless settled with an amount paid."""
    paid = sa.func.coalesce(Case.outcome_data["amount_paid_fen"].as_integer(), 0)
    return sa.case((settled(), paid), else_=0)


def recovered_fen(case: Case | CaseFacts) -> int:
    """Money recovered on one loaded case (fen): the rule ``recovered_fen_expr`` is."""
    if case.status not in SETTLED_STATUSES:
        return 0
    paid = (case.outcome_data or {}).get("amount_paid_fen")
    return paid if isinstance(paid, int) and not isinstance(paid, bool) else 0


def helped_workers_expr() -> sa.ColumnElement[int]:
    """Workers helped on one case in SQL."""
    return sa.case(
        (sa.and_(settled(), Case.outcome.in_(HELPED_OUTCOMES)), Case.workers_affected), else_=0
    )


@dataclass
class PeriodFigures:
    """The shared figures of one scope over one period."""

    received: int = 0
    received_closed: int = 0
    received_excluded: int = 0
    resolved: int = 0
    resolved_with_due: int = 0
    resolved_on_time: int = 0
    recovered_fen: int = 0
    workers_helped: int = 0
    # Sum and number of the ratings given in the period (``daily_figures`` only).
    rating_total: int = 0
    ratings: int = 0

    def add(self, other: PeriodFigures) -> None:
        """Add another scope's figures to these (a street's teams into the street, ...)."""
        for name in FIGURE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def on_time_rate(self) -> float | None:
        """Per cent of the resolved cases with a deadline resolved by it."""
        return percent(self.resolved_on_time, self.resolved_with_due)

    @property
    def closure_rate(self) -> float | None:
        """Per cent of the received cases (less rejected and withdrawn) now closed."""
        return percent(self.received_closed, self.received - self.received_excluded)

    @property
    def satisfaction(self) -> float | None:
        """The mean rating (1-5, two decimals); none without ratings."""
        return round(self.rating_total / self.ratings, 2) if self.ratings else None

    def is_zero(self) -> bool:
        """Whether adding these figures changes nothing."""
        return not any(getattr(self, name) for name in FIGURE_FIELDS)

    def scaled(self, factor: int) -> PeriodFigures:
        """These figures times ``factor`` (-1 takes a contribution back)."""
        return PeriodFigures(**{name: getattr(self, name) * factor for name in FIGURE_FIELDS})


def percent(part: int, whole: int) -> float | None:
    """A share in per cent with two decimals; none of nothing."""
    return round(100.0 * part / whole, 2) if whole > 0 else None


def _flag(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def period_figures(
    scope: sa.ColumnElement[bool],
    start: datetime,
    end: datetime,
    *,
    by: tuple[Any, ...] = (),
) -> dict[tuple[Any, ...], PeriodFigures]:
    """The figures of the cases in ``scope`` over [start, end), per value of the ``by`` columns.

    With no ``by`` the one key is ``()``. Two index-backed queries: by creation, by resolution.
    """
    out: dict[tuple[Any, ...], PeriodFigures] = {}

    def row_for(key: tuple[Any, ...]) -> PeriodFigures:
        return out.setdefault(key, PeriodFigures())

    created = sa.select(
        *by,
        sa.func.count(),
        _flag(Case.status == CaseStatus.CLOSED),
        _flag(Case.status.in_(EXCLUDED_STATUSES)),
    ).where(scope, received_in(start, end))
    for row in db.session.execute(created.group_by(*by) if by else created):
        figures = row_for(tuple(row[: len(by)]))
        count, closed, excluded = row[len(by) :]
        figures.received += int(count or 0)
        figures.received_closed += int(closed or 0)
        figures.received_excluded += int(excluded or 0)

    has_due = Case.resolve_due_at.is_not(None)
    resolved = sa.select(
        *by,
        sa.func.count(),
        _flag(has_due),
        _flag(sa.and_(has_due, Case.resolved_at <= Case.resolve_due_at)),
        sa.func.sum(recovered_fen_expr()),
        sa.func.sum(helped_workers_expr()),
    ).where(scope, resolved_in(start, end))
    for row in db.session.execute(resolved.group_by(*by) if by else resolved):
        figures = row_for(tuple(row[: len(by)]))
        count, with_due, on_time, money, helped = row[len(by) :]
        figures.resolved += int(count or 0)
        figures.resolved_with_due += int(with_due or 0)
        figures.resolved_on_time += int(on_time or 0)
        figures.recovered_fen += int(money or 0)
        figures.workers_helped += int(helped or 0)
    return out


def total(figures: dict[tuple[Any, ...], PeriodFigures]) -> PeriodFigures:
    """All keys' figures added up."""
    result = PeriodFigures()
    for value in figures.values():
        result.add(value)
    return result


FIGURE_FIELDS = tuple(f.name for f in fields(PeriodFigures))


# --- daily_figures: the same figures per street and day, kept current -------------------------


class CaseFacts(NamedTuple):
    """What of a case its figures depend on (``CASE_FACTS``, in this order)."""

    status: CaseStatus | None
    street_id: int | None
    created_at: datetime | None
    resolved_at: datetime | None
    resolve_due_at: datetime | None
    outcome: Outcome | None
    outcome_data: Mapping[str, Any] | None
    workers_affected: int | None


CASE_FACTS = CaseFacts._fields
DayKey = tuple[date, int]  # (district-local day, street id)


def case_contributions(facts: CaseFacts) -> dict[DayKey, PeriodFigures]:
    """What one case adds to the days it counts on: the Python form of ``period_figures``.

    Its received day (received, closed or excluded now) and, once resolved, the day of its
    latest resolution (resolved, on time, money recovered, workers helped).
    """
    out: dict[DayKey, PeriodFigures] = {}
    if facts.street_id is None or facts.created_at is None:
        return out
    out[(district_today(facts.created_at), facts.street_id)] = PeriodFigures(
        received=1,
        received_closed=int(facts.status == CaseStatus.CLOSED),
        received_excluded=int(facts.status in EXCLUDED_STATUSES),
    )
    if facts.resolved_at is not None:
        with_due = facts.resolve_due_at is not None
        settled_now = facts.status in SETTLED_STATUSES
        resolution = PeriodFigures(
            resolved=1,
            resolved_with_due=int(with_due),
            resolved_on_time=int(with_due and facts.resolved_at <= facts.resolve_due_at),
            recovered_fen=recovered_fen(facts),
            workers_helped=(
                facts.workers_affected or 0
                if settled_now and facts.outcome in HELPED_OUTCOMES
                else 0
            ),
        )
        key = (district_today(facts.resolved_at), facts.street_id)
        out.setdefault(key, PeriodFigures()).add(resolution)
    return out


def rating_score(data: Mapping[str, Any] | None) -> int | None:
    """A rating event's score when it is a valid 1-5 integer."""
    score = (data or {}).get("score")
    valid = isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5
    return score if valid else None


def _facts_before(session: Session, case: Case) -> CaseFacts:
    """The case's facts as the database holds them before this flush writes the change."""
    state = sa.inspect(case)
    values = []
    for name in CASE_FACTS:
        history = state.attrs[name].history
        if history.deleted:
            values.append(history.deleted[0])
        elif history.unchanged:
            values.append(history.unchanged[0])
        elif history.added:
            # Set on a row whose old value was never loaded (a column left empty at insert):
            # the database still has it, before this flush's UPDATE.
            columns = [getattr(Case, n) for n in CASE_FACTS]
            row = session.connection().execute(sa.select(*columns).where(Case.id == case.id))
            return CaseFacts(*row.one())
        else:
            values.append(getattr(case, name))
    return CaseFacts(*values)


def _facts_now(case: Case) -> CaseFacts:
    return CaseFacts(*(getattr(case, name) for name in CASE_FACTS))


def _street_of(session: Session, case_id: int) -> int | None:
    case = session.identity_map.get(sa.inspect(Case).identity_key_from_primary_key((case_id,)))
    if case is not None:
        return case.street_id
    return session.connection().scalar(sa.select(Case.street_id).where(Case.id == case_id))


PENDING_DELTAS = "wagedispute.daily_figures.pending"
# Rows per (day, street): more shards, less waiting between concurrent intakes of one street.
DAY_SHARDS = 16


def _add_contributions(
    deltas: dict[DayKey, PeriodFigures], contributions: dict[DayKey, PeriodFigures], factor: int
) -> None:
    for key, figures in contributions.items():
        deltas.setdefault(key, PeriodFigures()).add(figures.scaled(factor))


def note_changed_cases(session: Session, flush_context: Any, instances: Any) -> None:
    """Before a flush: what each changed case counted until now and will count after it.

    Taken before the UPDATE goes out, while the database still holds the old values.
    """
    deltas: dict[DayKey, PeriodFigures] = {}
    for obj in session.dirty:
        if isinstance(obj, Case) and session.is_modified(obj, include_collections=False):
            _add_contributions(deltas, case_contributions(_facts_before(session, obj)), -1)
            _add_contributions(deltas, case_contributions(_facts_now(obj)), 1)
    for obj in session.deleted:
        if isinstance(obj, Case):
            _add_contributions(deltas, case_contributions(_facts_before(session, obj)), -1)
    session.info[PENDING_DELTAS] = deltas


def count_flushed_changes(session: Session, flush_context: Any) -> None:
    """After a flush: add to ``daily_figures`` what its case and rating changes made differ.

    New cases are counted here (their defaults, such as ``created_at``, are set by now),
    changed ones as ``note_changed_cases`` found them. Runs inside the flush's transaction, so
    the rows commit or roll back with the change (a savepoint included). Rows are written in
    key order, so two transactions touching the same days lock them in the same order.
    """
    deltas: dict[DayKey, PeriodFigures] = session.info.pop(PENDING_DELTAS, None) or {}
    for obj in session.new:
        if isinstance(obj, Case):
            _add_contributions(deltas, case_contributions(_facts_now(obj)), 1)
        elif isinstance(obj, CaseEvent) and obj.kind == EventKind.RATING:
            score = rating_score(obj.data)
            street_id = _street_of(session, obj.case_id)
            if score is not None and street_id is not None:
                key = (district_today(obj.created_at), street_id)
                _add_contributions(deltas, {key: PeriodFigures(rating_total=score, ratings=1)}, 1)
    changed = {key: figures for key, figures in deltas.items() if not figures.is_zero()}
    if changed:
        _add_to_days(session.connection(), changed)


def _add_to_days(connection: sa.Connection, deltas: Mapping[DayKey, PeriodFigures]) -> None:
    table = DailyFigures.__table__
    insert = upsert_insert(connection)
    # One shard per flush, picked at random: concurrent writers of a day seldom share a row.
    shard = random.randrange(DAY_SHARDS)
    for (day, street_id), figures in sorted(deltas.items()):
        values = {name: getattr(figures, name) for name in FIGURE_FIELDS}
        stmt = insert(table).values(day=day, street_id=street_id, shard=shard, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.day, table.c.street_id, table.c.shard],
            set_={name: table.c[name] + stmt.excluded[name] for name in FIGURE_FIELDS},
        )
        connection.execute(stmt)


def install_daily_figures() -> None:
    """Keep ``daily_figures`` current in every session of the process (idempotent)."""
    if not sa.event.contains(Session, "after_flush", count_flushed_changes):
        sa.event.listen(Session, "before_flush", note_changed_cases)
        sa.event.listen(Session, "after_flush", count_flushed_changes)


def rebuild_daily_figures(*, batch: int = 5000) -> int:
    """Recompute every ``daily_figures`` row from the cases and ratings (after bulk SQL loads);
    the caller commits. Returns the number of rows written."""
    totals: dict[DayKey, PeriodFigures] = {}

    def add(contributions: Iterable[tuple[DayKey, PeriodFigures]]) -> None:
        for key, figures in contributions:
            totals.setdefault(key, PeriodFigures()).add(figures)

    columns = [getattr(Case, name) for name in CASE_FACTS]
    for row in db.session.execute(sa.select(*columns).execution_options(yield_per=batch)):
        add(case_contributions(CaseFacts(*row)).items())
    ratings = (
        sa.select(Case.street_id, CaseEvent.created_at, CaseEvent.data)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.kind == EventKind.RATING)
        .execution_options(yield_per=batch)
    )
    for street_id, created_at, data in db.session.execute(ratings):
        score = rating_score(data)
        if score is not None:
            add(
                [
                    (
                        (district_today(created_at), street_id),
                        PeriodFigures(rating_total=score, ratings=1),
                    )
                ]
            )
    db.session.execute(sa.delete(DailyFigures))
    rows = [
        {"day": day, "street_id": street_id, **{n: getattr(f, n) for n in FIGURE_FIELDS}}
        for (day, street_id), f in sorted(totals.items())
    ]
    for start in range(0, len(rows), batch):
        db.session.execute(sa.insert(DailyFigures), rows[start : start + batch])
    return len(rows)


def counted_figures(street_id: int | None, first_day: date, end_day: date) -> PeriodFigures:
    """The figures of a street (``None``: the district) over the days [first_day, end_day),
    read from ``daily_figures``."""
    return total(counted_by_day(street_id, first_day, end_day))


def counted_by_day(
    street_id: int | None, first_day: date, end_day: date
) -> dict[date, PeriodFigures]:
    """The ``daily_figures`` of a street (``None``: the district) per day in [first_day,
    end_day), its shards (and the district's streets) added up."""
    table = DailyFigures.__table__
    stmt = (
        sa.select(table.c.day, *(sa.func.sum(table.c[name]) for name in FIGURE_FIELDS))
        .where(table.c.day >= first_day, table.c.day < end_day)
        .group_by(table.c.day)
    )
    if street_id is not None:
        stmt = stmt.where(table.c.street_id == street_id)
    return {
        day: PeriodFigures(**{n: int(v) for n, v in zip(FIGURE_FIELDS, sums, strict=True)})
        for day, *sums in db.session.execute(stmt)
    }
