"""日核查: the daily queue of new, changed and stale cases, each checked by a named staff member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.models import OPEN_STATUSES, Case, CaseEvent, DailyCheck, EventKind, Role
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_midnight, district_today

# An open case with no event for this many days is "stale" and comes back every day.
STALE_DAYS = 7
# A case never checked shows as "new" if it is open or was created this recently.
NEW_WINDOW_DAYS = 7
QUEUE_LIMIT = 500

# The bureau's own acts on a case are not news for the next day's check.
BUREAU_EVENT_KINDS = (EventKind.CHECK, EventKind.LETTER)

REASON_LABELS = {"new": "新案件", "changed": "有变化", "stale": "久未推进"}


@dataclass(frozen=True)
class QueueItem:
    """One case waiting for today's check and why."""

    case: Case
    reason: str
    last_event_at: datetime | None
    last_checked_at: datetime | None

    @property
    def reason_label(self) -> str:
        """The reason in Chinese."""
        return REASON_LABELS[self.reason]


def require_staff_actor(actor: Actor) -> None:
    """Supervision is for bureau staff only; anyone else finds nothing here."""
    if actor.role != Role.STAFF or actor.id is None:
        raise NotFound()


def daily_queue(
    actor: Actor, *, now: datetime | None = None, stale_days: int = STALE_DAYS
) -> list[QueueItem]:
    """The cases in the actor's scope waiting for today's check: new, changed or stale."""
    require_staff_actor(actor)
    now = now or utcnow()
    today_start = district_midnight(district_today(now))
    last_check = (
        sa.select(DailyCheck.case_id, sa.func.max(DailyCheck.checked_at).label("at"))
        .group_by(DailyCheck.case_id)
        .subquery()
    )
    last_event = (
        sa.select(CaseEvent.case_id, sa.func.max(CaseEvent.created_at).label("at"))
        .where(CaseEvent.kind.not_in(BUREAU_EVENT_KINDS))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    is_open = Case.status.in_(OPEN_STATUSES)
    new = sa.and_(
        last_check.c.at.is_(None),
        sa.or_(is_open, Case.created_at >= now - timedelta(days=NEW_WINDOW_DAYS)),
    )
    changed = sa.and_(last_check.c.at.is_not(None), last_event.c.at > last_check.c.at)
    stale = sa.and_(
        is_open,
        sa.func.coalesce(last_event.c.at, Case.created_at) < now - timedelta(days=stale_days),
        sa.or_(last_check.c.at.is_(None), last_check.c.at < today_start),
    )
    rows = db.session.execute(
        sa.select(Case, last_event.c.at, last_check.c.at)
        .outerjoin(last_check, last_check.c.case_id == Case.id)
        .outerjoin(last_event, last_event.c.case_id == Case.id)
        .where(case_scope(actor), sa.or_(new, changed, stale))
        .options(selectinload(Case.street))
        .order_by(Case.created_at)
        .limit(QUEUE_LIMIT)
    ).all()
    items = []
    for case, event_at, checked_at in rows:
        if checked_at is None and (case.status in OPEN_STATUSES or _recent(case, now)):
            reason = "new"
        elif checked_at is not None and event_at is not None and event_at > checked_at:
            reason = "changed"
        else:
            reason = "stale"
        items.append(QueueItem(case, reason, event_at, checked_at))
    order = {"new": 0, "changed": 1, "stale": 2}
    items.sort(key=lambda item: (order[item.reason], item.case.urgency.rank, item.case.id))
    return items


def _recent(case: Case, now: datetime) -> bool:
    return case.created_at >= now - timedelta(days=NEW_WINDOW_DAYS)


def check_case(
    actor: Actor, case_id: int, note: str = "", *, now: datetime | None = None
) -> DailyCheck:
    """Mark a case checked today by the signed-in staff member (日核查)."""
    require_staff_actor(actor)
    note = (note or "").strip()
    if len(note) > 500:
        raise InvalidInput("核查备注不能超过500字", code="note_too_long")
    now = now or utcnow()
    with unit_of_work():
        case = get_case_for(actor, case_id)
        check = DailyCheck(
            case_id=case.id,
            staff_id=actor.id,
            checked_on=district_today(now),
            checked_at=now,
            note=note,
        )
        db.session.add(check)
        db.session.flush()
        # The check is on the case's (internal) timeline too.
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.CHECK,
                actor_role=Role.STAFF,
                actor_id=actor.id,
                data={"daily_check_id": check.id, "note": note}
                if note
                else {"daily_check_id": check.id},
                worker_visible=False,
                created_at=now,
            )
        )
    return check


def list_daily_checks(actor: Actor, day: date | None = None) -> list[DailyCheck]:
    """The checks made on a day (default today) on cases the actor may see."""
    require_staff_actor(actor)
    day = day or district_today()
    return list(
        db.session.scalars(
            sa.select(DailyCheck)
            .join(Case, Case.id == DailyCheck.case_id)
            .where(DailyCheck.checked_on == day, case_scope(actor))
            .order_by(DailyCheck.checked_at.desc())
        )
    )


def get_daily_check_for(actor: Actor, check_id: int) -> DailyCheck:
    """One check on a case the actor may see; anything else is "not found"."""
    require_staff_actor(actor)
    check = db.session.scalars(
        sa.select(DailyCheck)
        .join(Case, Case.id == DailyCheck.case_id)
        .where(DailyCheck.id == check_id, case_scope(actor))
    ).one_or_none()
    if check is None:
        raise NotFound()
    return check
