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

Overdue is not a period figure: it is a clock state (``wagedispute.cases.clocks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wagedispute.models import Case, CaseStatus, Outcome
from wagedispute.platform.database import db

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


def recovered_fen(case: Case) -> int:
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

    def add(self, other: PeriodFigures) -> None:
        """Add another scope's figures to these (a street's teams into the street, ...)."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def on_time_rate(self) -> float | None:
        """Per cent of the resolved cases with a deadline resolved by it."""
        return percent(self.resolved_on_time, self.resolved_with_due)

    @property
    def closure_rate(self) -> float | None:
        """Per cent of the received cases (less rejected and withdrawn) now closed."""
        return percent(self.received_closed, self.received - self.received_excluded)


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
