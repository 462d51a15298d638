"""预警排查, second half: early-warning alerts over our cases and the imported records."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wagedispute.access.actors import Actor, case_scope, street_scope
from wagedispute.intake.triage import next_spring_festival
from wagedispute.models import (
    OPEN_STATUSES,
    Alert,
    AlertKind,
    Case,
    ChannelRecord,
    DisputeGroup,
    Street,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision.channel_imports import (
    CHANNELS,
    OWN_CHANNEL,
    SIGNAL_WINDOW_DAYS,
    ImportResult,
    ProgressCallback,
    case_keys,
    import_channel_records,
    record_keys,
)
from wagedispute.supervision.daily_check import require_staff_actor

log = logging.getLogger(__name__)

# Alert thresholds.
SPIKE_MIN_COUNT = 5
SPIKE_FACTOR = 2.0
SPIKE_TRAILING_WEEKS = 4
GROWTH_MIN_NEW_WORKERS = 5
GROUP_ALERT_WORKERS = 10
FESTIVAL_WINDOW_DAYS = 30
FESTIVAL_MIN_WORKERS = 10


@dataclass
class _Signal:
    """One complaint about something, from any channel."""

    source: str  # "case:<id>" or "record:<id>"
    channel: str
    street_id: int | None
    keys: list[str]
    name: str
    workers: int
    day: date


class _Components:
    """Union-find over matching keys: keys seen together in one signal name one subject."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, keys: list[str]) -> None:
        for other in keys[1:]:
            a, b = self.find(keys[0]), self.find(other)
            if a != b:
                self.parent[b] = a


_KEY_STRENGTH = {"uscc": 0, "employer": 1, "site": 2}


def _by_strength(keys: Iterable[str]) -> list[str]:
    """Keys strongest first: credit codes, then employer names, then sites."""
    return sorted(keys, key=lambda k: (_KEY_STRENGTH[k.split(":", 1)[0]], k))


def _signals(now: datetime) -> list[_Signal]:
    """Complaints of the signal window: our cases and the imported records."""
    tz_today = district_today(now)
    since_day = tz_today - timedelta(days=SIGNAL_WINDOW_DAYS)
    since = now - timedelta(days=SIGNAL_WINDOW_DAYS)
    signals = []
    for row in db.session.execute(
        sa.select(
            Case.id,
            Case.site_name,
            Case.employers,
            Case.street_id,
            Case.workers_affected,
            Case.created_at,
        ).where(Case.created_at >= since)
    ):
        keys = case_keys(row)
        if keys:
            names = [e.get("name") for e in (row.employers or []) if e.get("name")]
            signals.append(
                _Signal(
                    f"case:{row.id}",
                    OWN_CHANNEL,
                    row.street_id,
                    keys,
                    names[0] if names else row.site_name,
                    row.workers_affected,
                    district_today(row.created_at),
                )
            )
    for record in db.session.scalars(
        sa.select(ChannelRecord).where(ChannelRecord.received_on >= since_day)
    ):
        keys = record_keys(record.site_name, [record.employer_name], [record.uscc or ""])
        if keys:
            signals.append(
                _Signal(
                    f"record:{record.id}",
                    CHANNELS.get(record.channel, record.channel),
                    record.street_id,
                    keys,
                    record.employer_name or record.site_name,
                    record.workers,
                    record.received_on,
                )
            )
    return signals


def _raise(
    kind: AlertKind,
    keys: list[str],
    period: str,
    *,
    street_id: int | None,
    title: str,
    details: dict[str, Any],
    now: datetime,
) -> Alert | None:
    """Insert the alert, or refresh the existing one for the same subject; new ones returned.

    The subject may be known under any of ``keys`` (a credit code learnt later must not raise
    the same alert a second time), so the lookup takes them all.
    """
    existing = db.session.scalars(
        sa.select(Alert).where(
            Alert.kind == kind, Alert.period == period, Alert.subject_key.in_(keys)
        )
    ).first()
    if existing is not None:
        existing.details = details
        existing.title = title
        existing.updated_at = now
        return None
    alert = Alert(
        kind=kind,
        # Callers give the keys strongest first.
        subject_key=keys[0],
        period=period,
        street_id=street_id,
        title=title,
        details=details,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(alert)
    except IntegrityError:
        # Another scan raised it a moment ago: that one stands.
        return None
    return alert


def scan_alerts(*, now: datetime | None = None) -> list[Alert]:
    """Look for early-warning patterns and raise each alert once; return the new alerts."""
    now = now or utcnow()
    streets = {s.id: s.name for s in db.session.scalars(sa.select(Street))}
    new: list[Alert] = []
    with unit_of_work():
        signals = _signals(now)
        new += _scan_same_subject(signals, streets, now)
        new += _scan_spikes(signals, streets, now)
        new += _scan_group_growth(now)
        new += _scan_pre_festival(now)
    for alert in new:
        log.info("alert raised: id=%s kind=%s", alert.id, alert.kind.value)
    return new


def _scan_same_subject(
    signals: list[_Signal], streets: dict[int, str], now: datetime
) -> list[Alert]:
    """The same employer or site reported through several channels, or in several streets."""
    components = _Components()
    for signal in signals:
        components.union(signal.keys)
    by_subject: dict[str, list[_Signal]] = defaultdict(list)
    for signal in signals:
        by_subject[components.find(signal.keys[0])].append(signal)
    members: dict[str, set[str]] = defaultdict(set)
    for key in list(components.parent):
        members[components.find(key)].add(key)
    new = []
    for root, group in by_subject.items():
        keys = _by_strength(members[root])
        channels = sorted({s.channel for s in group})
        street_ids = sorted({s.street_id for s in group if s.street_id is not None})
        name = next((s.name for s in group if s.name), keys[0])
        details = {
            "keys": keys,
            "channels": channels,
            "streets": [streets.get(i, "") for i in street_ids],
            "sources": sorted(s.source for s in group),
            "signals": len(group),
            "workers": sum(s.workers for s in group),
        }
        if len(channels) >= 2:
            alert = _raise(
                AlertKind.CROSS_CHANNEL,
                keys,
                "",
                street_id=street_ids[0] if len(street_ids) == 1 else None,
                title=f"「{name}」在{len(channels)}个渠道被反映：{'、'.join(channels)}",
                details=details,
                now=now,
            )
            if alert:
                new.append(alert)
        if len(street_ids) >= 2:
            alert = _raise(
                AlertKind.CROSS_STREET,
                keys,
                "",
                street_id=None,
                title=f"「{name}」在{len(street_ids)}个街道被反映：{'、'.join(details['streets'])}",
                details=details,
                now=now,
            )
            if alert:
                new.append(alert)
    return new


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _scan_spikes(signals: list[_Signal], streets: dict[int, str], now: datetime) -> list[Alert]:
    """A street whose complaints of the last 7 days are well above its trailing weekly average."""
    today = district_today(now)
    week_start = today - timedelta(days=6)
    trailing_start = week_start - timedelta(days=7 * SPIKE_TRAILING_WEEKS)
    current: dict[int, int] = defaultdict(int)
    trailing: dict[int, int] = defaultdict(int)
    for signal in signals:
        if signal.street_id is None:
            continue
        if week_start <= signal.day <= today:
            current[signal.street_id] += 1
        elif trailing_start <= signal.day < week_start:
            trailing[signal.street_id] += 1
    new = []
    for street_id, count in current.items():
        average = trailing[street_id] / SPIKE_TRAILING_WEEKS
        if count >= SPIKE_MIN_COUNT and count >= SPIKE_FACTOR * average:
            alert = _raise(
                AlertKind.SPIKE,
                [f"street:{street_id}"],
                _iso_week(today),
                street_id=street_id,
                title=(
                    f"{streets.get(street_id, '')}近7天收到{count}件投诉，"
                    f"前{SPIKE_TRAILING_WEEKS}周平均每周{average:.1f}件"
                ),
                details={"count": count, "trailing_average": round(average, 2)},
                now=now,
            )
            if alert:
                new.append(alert)
    return new


def _scan_group_growth(now: datetime) -> list[Alert]:
    """A dispute group that gained many workers in the last 7 days."""
    since = now - timedelta(days=7)
    rows = db.session.execute(
        sa.select(
            DisputeGroup.id,
            DisputeGroup.title,
            DisputeGroup.street_id,
            DisputeGroup.workers_total,
            sa.func.sum(Case.workers_affected),
        )
        .join(Case, Case.group_id == DisputeGroup.id)
        .where(
            Case.created_at >= since,
            DisputeGroup.workers_total >= GROUP_ALERT_WORKERS,
            # A repeat by the same worker about the same site adds nobody (cases.grouping).
            Case.duplicate_of_id.is_(None),
        )
        .group_by(
            DisputeGroup.id, DisputeGroup.title, DisputeGroup.street_id, DisputeGroup.workers_total
        )
    ).all()
    new = []
    for group_id, title, street_id, total, recent in rows:
        recent = int(recent or 0)
        if recent < GROWTH_MIN_NEW_WORKERS:
            continue
        alert = _raise(
            AlertKind.GROUP_GROWTH,
            [f"group:{group_id}"],
            _iso_week(district_today(now)),
            street_id=street_id,
            title=f"群体纠纷「{title}」近7天新增{recent}人，累计{total}人",
            details={"workers_total": total, "new_workers": recent, "before": total - recent},
            now=now,
        )
        if alert:
            new.append(alert)
    return new


def _scan_pre_festival(now: datetime) -> list[Alert]:
    """Within 30 days of 春节: open cases (or their groups) with many workers."""
    today = district_today(now)
    festival = next_spring_festival(today)
    if festival is None or (festival - today).days > FESTIVAL_WINDOW_DAYS:
        return []
    days = (festival - today).days
    rows = db.session.execute(
        sa.select(Case, DisputeGroup)
        .outerjoin(DisputeGroup, DisputeGroup.id == Case.group_id)
        .where(
            Case.status.in_(OPEN_STATUSES),
            sa.or_(
                Case.workers_affected >= FESTIVAL_MIN_WORKERS,
                DisputeGroup.workers_total >= FESTIVAL_MIN_WORKERS,
            ),
        )
        .order_by(Case.id)
    ).all()
    new = []
    seen: set[str] = set()
    for case, group in rows:
        subject = f"group:{group.id}" if group is not None else f"case:{case.id}"
        if subject in seen:
            continue
        seen.add(subject)
        workers = group.workers_total if group is not None else case.workers_affected
        label = f"群体纠纷「{group.title}」" if group is not None else f"案件{case.number}"
        alert = _raise(
            AlertKind.PRE_FESTIVAL,
            [subject],
            f"festival-{festival.year}",
            street_id=case.street_id,
            title=f"距春节还有{days}天，{label}涉及{workers}名工人尚未办结",
            details={"festival": festival.isoformat(), "workers": workers, "case_id": case.id},
            now=now,
        )
        if alert:
            new.append(alert)
    return new


# ---------------------------------------------------------------------------------------------
# The alert list
# ---------------------------------------------------------------------------------------------


def alert_scope(actor: Actor) -> sa.ColumnElement[bool]:
    """Street staff see their street's alerts; district roles see all."""
    return street_scope(actor, Alert.street_id)


def list_alerts(actor: Actor, *, include_acknowledged: bool = False) -> list[Alert]:
    """Alerts in scope, unacknowledged first, newest first."""
    require_staff_actor(actor)
    stmt = sa.select(Alert).where(alert_scope(actor))
    if not include_acknowledged:
        stmt = stmt.where(Alert.acknowledged_at.is_(None))
    return list(
        db.session.scalars(
            stmt.order_by(Alert.acknowledged_at.is_not(None), Alert.created_at.desc()).limit(500)
        )
    )


def get_alert_for(actor: Actor, alert_id: int) -> Alert:
    """One alert in scope; anything else is "not found"."""
    require_staff_actor(actor)
    alert = db.session.scalars(
        sa.select(Alert).where(Alert.id == alert_id, alert_scope(actor))
    ).one_or_none()
    if alert is None:
        raise NotFound()
    return alert


def acknowledge_alert(
    actor: Actor, alert_id: int, note: str = "", *, now: datetime | None = None
) -> Alert:
    """Record that a named staff member has seen an alert and acted (idempotent)."""
    require_staff_actor(actor)
    note = (note or "").strip()
    if len(note) > 500:
        raise InvalidInput("处理说明不能超过500字", code="note_too_long")
    with unit_of_work():
        alert = get_alert_for(actor, alert_id)
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now or utcnow()
            alert.acknowledged_by = actor.id
            alert.acknowledge_note = note or None
    return alert


def import_and_scan(
    actor: Actor,
    filename: str,
    data: bytes,
    *,
    task_id: int | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import other channels' records, then scan for alerts at once: what the import task does.

    The import commits its rows first; the scan then commits its own alerts, whose ids the
    result lists.
    """
    now = now or utcnow()
    report = progress or (lambda pct, message: None)
    result = import_channel_records(
        actor, filename, data, task_id=task_id, progress=report, now=now
    )
    report(80, "正在排查预警")
    result.alert_ids = [alert.id for alert in scan_alerts(now=now)]
    return result


def alert_cases(actor: Actor, alerts: list[Alert]) -> dict[int, list[tuple[int, str]]]:
    """Alert id -> the (id, number) of the cases in the actor's scope that the alert is about:
    its case signals, its festival case, or the cases of its dispute group."""
    wanted: dict[int, set[int]] = {}
    groups: dict[int, int] = {}
    for alert in alerts:
        details = alert.details or {}
        ids = {
            int(source.split(":", 1)[1])
            for source in details.get("sources", [])
            if source.startswith("case:")
        }
        if details.get("case_id"):
            ids.add(int(details["case_id"]))
        if alert.subject_key.startswith("group:"):
            groups[alert.id] = int(alert.subject_key.split(":", 1)[1])
        wanted[alert.id] = ids
    every = set().union(*wanted.values()) if wanted else set()
    clauses = [Case.id.in_(every)] if every else []
    if groups:
        clauses.append(Case.group_id.in_(set(groups.values())))
    if not clauses:
        return {alert.id: [] for alert in alerts}
    rows = db.session.execute(
        sa.select(Case.id, Case.number, Case.group_id)
        .where(case_scope(actor), sa.or_(*clauses))
        .order_by(Case.id)
    ).all()
    return {
        alert.id: [
            (case_id, number)
            for case_id, number, group_id in rows
            if case_id in wanted[alert.id]
            or (group_id is not None and groups.get(alert.id) == group_id)
        ][:20]
        for alert in alerts
    }
