"""The dashboard's figures and the annual indicator targets they are judged against.

Definitions (period = the calendar year in Asia/Shanghai; scope = the district, or the street
of a street staff member):

- open cases: status in ``OPEN_STATUSES``, by status, by urgency in force, by street.
- overdue: open cases past the due time of the clock running in their status
  (``clocks.overdue_clauses``, the one definition), per clock and in total (distinct cases).
- new this week: cases created since Monday 00:00 of the current week.
- received this year, on-time rate, closure rate, satisfaction, money recovered, workers
  helped: the period figures of ``cases.figures`` over the year (the weekly packs use the same,
  per week), read from the ``daily_figures`` rows kept current beside the cases, so no request
  reads the year's cases or ratings.
- 12-week trend: per week (Monday to Sunday), cases created and cases resolved (latest
  resolution), from the same rows.
"""

from __future__ import annotations

import json
import logging
import time as clock
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from wagedispute.access.actors import Actor, case_scope
from wagedispute.cases.clocks import CLOCK_LABELS, overdue_clauses
from wagedispute.cases.figures import PeriodFigures, counted_by_day, counted_figures
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    IndicatorTarget,
    Role,
    StaffRole,
    Street,
    Urgency,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import Forbidden, InvalidInput
from wagedispute.platform.timekeeping import district_today, district_year
from wagedispute.supervision.casebook import urgency_expr

log = logging.getLogger(__name__)

TREND_WEEKS = 12
# Figures are cached per scope for CONSOLE_DASHBOARD_CACHE_SECONDS (0 turns the cache off).
CACHE_PREFIX = "wd:console:dashboard:"


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator with an annual target: its name, unit and which direction is better."""

    key: str
    label: str
    unit: str
    higher_is_better: bool = True


INDICATORS = [
    IndicatorSpec("on_time_rate", "按时办结率", "%"),
    IndicatorSpec("closure_rate", "结案率", "%"),
    IndicatorSpec("satisfaction", "群众满意度", "分"),
    IndicatorSpec("money_recovered", "追回欠薪", "元"),
    IndicatorSpec("workers_helped", "帮助工人", "人"),
]
INDICATOR_KEYS = {spec.key for spec in INDICATORS}


@dataclass
class Figure:
    """An indicator's value this year beside its annual target."""

    key: str
    label: str
    unit: str
    value: float | None
    target: float | None
    # value / target as a share of the way (0-1+), when both exist.
    progress: float | None
    met: bool | None


@dataclass
class WeekPoint:
    """One week of the trend."""

    week_start: str
    received: int
    resolved: int


@dataclass
class Dashboard:
    """Every figure of the 总览 page, for one scope at one moment."""

    year: int
    generated_at: str
    street_id: int | None
    open_total: int
    open_by_status: list[tuple[str, int]]
    open_by_urgency: list[tuple[str, int]]
    open_by_street: list[tuple[str, int]]
    overdue_total: int
    overdue_by_clock: list[tuple[str, int]]
    new_this_week: int
    received_this_year: int
    on_time_rate: float | None
    closure_rate: float | None
    satisfaction: float | None
    ratings: int
    money_recovered_fen: int
    workers_helped: int
    trend: list[WeekPoint]
    figures: list[Figure]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Dashboard:
        """Rebuild a cached dashboard."""
        raw = dict(raw)
        raw["trend"] = [WeekPoint(**w) for w in raw["trend"]]
        raw["figures"] = [Figure(**f) for f in raw["figures"]]
        for key in ("open_by_status", "open_by_urgency", "open_by_street", "overdue_by_clock"):
            raw[key] = [tuple(pair) for pair in raw[key]]
        return cls(**raw)


def week_start(now: datetime) -> date:
    """The Monday of the local week containing ``now``."""
    today = district_today(now)
    return today - timedelta(days=today.weekday())


_EVERYTHING = sa.true()


def _scoped(actor: Actor) -> sa.ColumnElement[bool]:
    if actor.role != Role.STAFF:
        raise Forbidden()
    # District staff see everything: skip the join a street scope needs.
    return _EVERYTHING if actor.street_id is None else case_scope(actor)


def compute_dashboard(actor: Actor, *, now: datetime | None = None) -> Dashboard:
    """Compute every dashboard figure for the actor's scope, straight from the database."""
    now = now or utcnow()
    scope = _scoped(actor)
    year = district_year(now)
    late = overdue_clauses(now)

    def flag(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    urgency = urgency_expr().label("urgency")
    open_rows = db.session.execute(
        sa.select(
            Case.status,
            urgency,
            Case.street_id,
            sa.func.count(),
            *(flag(cond) for cond in late.values()),
            flag(sa.or_(*late.values())),
        )
        .where(scope, Case.status.in_(OPEN_STATUSES))
        .group_by(Case.status, urgency, Case.street_id)
    ).all()
    by_status: dict[str, int] = {}
    by_urgency: dict[str, int] = {}
    by_street: dict[int, int] = {}
    by_clock = dict.fromkeys(late, 0)
    overdue_total = 0
    for row in open_rows:
        status, level, street_id, count = row[0], row[1], row[2], row[3]
        by_status[CaseStatus(status).value] = by_status.get(CaseStatus(status).value, 0) + count
        by_urgency[str(level)] = by_urgency.get(str(level), 0) + count
        by_street[street_id] = by_street.get(street_id, 0) + count
        for key, value in zip(late, row[4:-1], strict=True):
            by_clock[key] += int(value or 0)
        overdue_total += int(row[-1] or 0)

    street_names = dict(db.session.execute(sa.select(Street.id, Street.name)).all())
    street_ids = [actor.street_id] if actor.street_id is not None else sorted(street_names)

    year_figures = counted_figures(actor.street_id, date(year, 1, 1), date(year + 1, 1, 1))
    trend = _trend(actor.street_id, now)

    dashboard = Dashboard(
        year=year,
        generated_at=now.isoformat(),
        street_id=actor.street_id,
        open_total=sum(by_status.values()),
        open_by_status=[
            (s.value, by_status.get(s.value, 0)) for s in CaseStatus if s in OPEN_STATUSES
        ],
        open_by_urgency=[(u.value, by_urgency.get(u.value, 0)) for u in Urgency],
        open_by_street=[
            (street_names.get(sid, str(sid)), by_street.get(sid, 0)) for sid in street_ids
        ],
        overdue_total=overdue_total,
        overdue_by_clock=[(CLOCK_LABELS[k], v) for k, v in by_clock.items()],
        new_this_week=trend[-1].received,
        received_this_year=year_figures.received,
        on_time_rate=year_figures.on_time_rate,
        closure_rate=year_figures.closure_rate,
        satisfaction=year_figures.satisfaction,
        ratings=year_figures.ratings,
        money_recovered_fen=year_figures.recovered_fen,
        workers_helped=year_figures.workers_helped,
        trend=trend,
        figures=[],
    )
    dashboard.figures = _figures(dashboard, year, actor.street_id)
    return dashboard


def _trend(street_id: int | None, now: datetime) -> list[WeekPoint]:
    """Cases created and resolved per week over the last 12 weeks (this week last)."""
    first = week_start(now) - timedelta(weeks=TREND_WEEKS - 1)
    days = counted_by_day(street_id, first, first + timedelta(weeks=TREND_WEEKS))
    weeks = [PeriodFigures() for _ in range(TREND_WEEKS)]
    for day, figures in days.items():
        weeks[(day - first).days // 7].add(figures)
    return [
        WeekPoint((first + timedelta(weeks=i)).isoformat(), week.received, week.resolved)
        for i, week in enumerate(weeks)
    ]


def _figures(dash: Dashboard, year: int, street_id: int | None) -> list[Figure]:
    targets = annual_targets(year, street_id)
    values: dict[str, float | None] = {
        "on_time_rate": dash.on_time_rate,
        "closure_rate": dash.closure_rate,
        "satisfaction": dash.satisfaction,
        "money_recovered": dash.money_recovered_fen / 100,
        "workers_helped": float(dash.workers_helped),
    }
    out = []
    for spec in INDICATORS:
        value, target = values[spec.key], targets.get(spec.key)
        progress = met = None
        if value is not None and target:
            progress = round(value / target, 4)
            met = value >= target if spec.higher_is_better else value <= target
        out.append(Figure(spec.key, spec.label, spec.unit, value, target, progress, met))
    return out


def target_scope(street_id: int | None) -> str:
    """The scope key of a target: ``district`` or ``street:<id>``."""
    return "district" if street_id is None else f"street:{street_id}"


def annual_targets(year: int, street_id: int | None = None) -> dict[str, float]:
    """The year's targets for a scope; a street without its own rate targets uses the district's.

    Absolute targets (money, workers) are never borrowed from the district: a street's share of
    them is not known.
    """
    rows = db.session.execute(
        sa.select(IndicatorTarget.scope, IndicatorTarget.indicator, IndicatorTarget.value).where(
            IndicatorTarget.year == year,
            IndicatorTarget.scope.in_({"district", target_scope(street_id)}),
        )
    ).all()
    district = {ind: val for scope, ind, val in rows if scope == "district"}
    if street_id is None:
        return district
    own = {ind: val for scope, ind, val in rows if scope == target_scope(street_id)}
    for key in ("on_time_rate", "closure_rate", "satisfaction"):
        if key not in own and key in district:
            own[key] = district[key]
    return own


def set_indicator_targets(
    actor: Actor, *, year: int, values: dict[str, float | None], street_id: int | None = None
) -> None:
    """Set (or clear, with ``None``) a scope's annual targets at once; district admins only."""
    if actor.role != Role.STAFF or actor.staff_role != StaffRole.DISTRICT_ADMIN:
        raise Forbidden()
    if not 2000 <= year <= 2100:
        raise InvalidInput("年份无效", code="invalid_year")
    if street_id is not None and db.session.get(Street, street_id) is None:
        raise InvalidInput("街道不存在", code="street_not_found")
    scope = target_scope(street_id)
    for indicator, value in values.items():
        _check_target(indicator, value)
    existing = {
        row.indicator: row
        for row in db.session.scalars(
            sa.select(IndicatorTarget).where(
                IndicatorTarget.year == year, IndicatorTarget.scope == scope
            )
        )
    }
    for indicator, value in values.items():
        row = existing.get(indicator)
        if value is None:
            if row is not None:
                db.session.delete(row)
            continue
        if row is None:
            row = IndicatorTarget(year=year, indicator=indicator, scope=scope, value=value)
            db.session.add(row)
        row.value = value
        row.updated_by = actor.id
        row.updated_at = utcnow()
    db.session.commit()
    _forget_cache()
    log.info("indicator targets %s/%s set by staff %s", year, scope, actor.id)


def _check_target(indicator: str, value: float | None) -> None:
    spec = next((s for s in INDICATORS if s.key == indicator), None)
    if spec is None:
        raise InvalidInput("未知的指标", code="unknown_indicator")
    if value is None:
        return
    if value != value or value < 0 or value > 1e12:  # NaN compares unequal to itself
        raise InvalidInput(f"“{spec.label}”的目标值无效", code="invalid_target")
    if spec.unit == "%" and value > 100:
        raise InvalidInput(f"“{spec.label}”不能超过 100%", code="invalid_target")
    if indicator == "satisfaction" and not 1 <= value <= 5:
        raise InvalidInput("满意度目标须在 1 到 5 分之间", code="invalid_target")


def list_targets(year: int) -> list[IndicatorTarget]:
    """Every target set for a year."""
    return list(
        db.session.scalars(
            sa.select(IndicatorTarget)
            .where(IndicatorTarget.year == year)
            .order_by(IndicatorTarget.scope, IndicatorTarget.indicator)
        )
    )


def _cache_seconds() -> int:
    return current_app.config["CONSOLE_DASHBOARD_CACHE_SECONDS"]


def _forget_cache() -> None:
    redis = current_app.extensions["wagedispute.redis"]
    try:
        keys = list(redis.scan_iter(CACHE_PREFIX + "*", count=100))
        if keys:
            redis.delete(*keys)
    except Exception as exc:  # a stale cache only delays figures by seconds
        log.warning("dashboard cache not cleared: %s", type(exc).__name__)


def dashboard_for(actor: Actor, *, now: datetime | None = None) -> Dashboard:
    """The dashboard for the actor's scope, recomputed at most every few seconds per scope.

    Every staff member of one scope sees the same figures, so they are shared through Redis.
    When they have aged, one request (holding a short Redis lock) recomputes them while the
    others keep answering with the previous figures; without Redis they are computed directly.
    """
    seconds = _cache_seconds()
    if seconds <= 0 or now is not None:
        return compute_dashboard(actor, now=now)
    _scoped(actor)
    key = CACHE_PREFIX + target_scope(actor.street_id)
    redis = current_app.extensions["wagedispute.redis"]
    try:
        cached = redis.get(key)
    except Exception as exc:
        log.warning("dashboard cache unreachable: %s", type(exc).__name__)
        return compute_dashboard(actor)
    if cached is not None:
        stored = json.loads(cached)
        fresh = clock.time() - stored["at"] < seconds
        if fresh or not _claim_refresh(redis, key):
            return Dashboard.from_dict(stored["dashboard"])
    dashboard = compute_dashboard(actor)
    try:
        body = {"at": clock.time(), "dashboard": asdict(dashboard)}
        # Kept well past freshness so that a stale copy can be served during a refresh.
        redis.set(key, json.dumps(body, ensure_ascii=False), ex=seconds * 20)
        redis.delete(key + ":refresh")
    except Exception as exc:
        log.warning("dashboard cache not written: %s", type(exc).__name__)
    return dashboard


def _claim_refresh(redis: Any, key: str) -> bool:
    """Whether this request is the one that recomputes aged figures."""
    try:
        return bool(redis.set(key + ":refresh", "1", nx=True, ex=30))
    except Exception:
        return True


def indicator_rows(actor: Actor, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The indicators as plain rows (for exports): key, name, unit, value, target."""
    dash = dashboard_for(actor, now=now)
    return [
        {"key": f.key, "name": f.label, "unit": f.unit, "value": f.value, "target": f.target}
        for f in dash.figures
    ]


def dashboard_year(now: datetime | None = None) -> int:
    """The local calendar year the dashboard reports on."""
    return district_year(now)
