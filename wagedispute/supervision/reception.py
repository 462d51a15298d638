"""周四大接访: leaders' Thursday reception days, booked slots, reception records and promises.

A reception day is announced with its leader, place and appointment slots. A worker (from the
mini-program) or staff books a free slot for a case; booked visitors are received first, and a
visitor without an appointment is received too. The reception record (who received, what was
said, what was promised by when) joins the case: a timeline event the worker sees, a first
contact for the contact clock, and, when the promise is to settle the case, a resolve deadline no
later than the promise. Unkept promises falling due are listed in the daily check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.clocks import WITH_TEAM, add_working_days, is_working_day, record_contact
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    EventKind,
    ReceptionDay,
    ReceptionRecord,
    ReceptionSlot,
    Role,
    StaffRole,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today, district_zone, in_district
from wagedispute.supervision.daily_check import require_staff_actor

THURSDAY = 3
MAX_SLOTS = 40
# Promises due by the close of the next working day are "falling due" in the daily check.
DUE_SOON_WORKING_DAYS = 1
ORGANISER_ROLES = frozenset({StaffRole.DISTRICT_ADMIN, StaffRole.DISTRICT_SUPERVISOR})
CLOSE_OF_OFFICE = time(18, 0)


def slot_label(slot: ReceptionSlot) -> str:
    """ "2027-01-07（周四）09:00–09:30" in local time."""
    start, end = in_district(slot.starts_at), in_district(slot.ends_at)
    return f"{start:%Y-%m-%d}（周四）{start:%H:%M}–{end:%H:%M}"


# --- Reception days ---------------------------------------------------------------------------


def _require_organiser(actor: Actor) -> None:
    require_staff_actor(actor)
    if actor.staff_role not in ORGANISER_ROLES:
        raise NotFound()


def create_reception_day(
    actor: Actor,
    day: date,
    *,
    leader_name: str,
    leader_title: str,
    place: str,
    first_slot: time,
    last_slot_end: time,
    slot_minutes: int,
    note: str = "",
) -> ReceptionDay:
    """Announce a Thursday reception with its appointment slots (district roles)."""
    _require_organiser(actor)
    if day.weekday() != THURSDAY:
        raise InvalidInput("周四大接访的日期须为星期四", code="reception_not_thursday")
    if day < district_today():
        raise InvalidInput("不能安排已经过去的接访日", code="reception_in_past")
    if not is_working_day(day):
        raise InvalidInput("该周四为法定节假日，请改期", code="reception_on_holiday")
    if not 10 <= slot_minutes <= 120:
        raise InvalidInput("每个时段应为10至120分钟", code="reception_slot_length")
    zone = district_zone()
    start = datetime.combine(day, first_slot, zone)
    end = datetime.combine(day, last_slot_end, zone)
    step = timedelta(minutes=slot_minutes)
    slots = []
    while start + step <= end:
        slots.append(ReceptionSlot(starts_at=start, ends_at=start + step))
        start += step
    if not slots:
        raise InvalidInput("接访时间太短，至少要有一个时段", code="reception_no_slots")
    if len(slots) > MAX_SLOTS:
        raise InvalidInput(f"一天最多{MAX_SLOTS}个时段", code="reception_too_many_slots")
    for name, value, limit in (("接访领导", leader_name, 32), ("职务", leader_title, 64)):
        if not value.strip() or len(value) > limit:
            raise InvalidInput(f"请填写{name}（不超过{limit}字）", code="reception_field")
    if not place.strip() or len(place) > 128:
        raise InvalidInput("请填写接访地点（不超过128字）", code="reception_field")
    with unit_of_work():
        if db.session.scalar(sa.select(ReceptionDay.id).where(ReceptionDay.day == day)):
            raise Conflict("该日已安排接访", code="reception_day_exists")
        reception = ReceptionDay(
            day=day,
            leader_name=leader_name.strip(),
            leader_title=leader_title.strip(),
            place=place.strip(),
            note=note.strip()[:2000],
            created_by=actor.id,
        )
        reception.slots.extend(slots)
        db.session.add(reception)
    return reception


def upcoming_days(from_day: date | None = None, limit: int = 8) -> list[ReceptionDay]:
    """Announced reception days from ``from_day`` (default today) on, with their slots."""
    from_day = from_day or district_today()
    return list(
        db.session.scalars(
            sa.select(ReceptionDay)
            .where(ReceptionDay.day >= from_day)
            .options(selectinload(ReceptionDay.slots).selectinload(ReceptionSlot.case))
            .order_by(ReceptionDay.day)
            .limit(limit)
        )
    )


def get_reception_day(actor: Actor, day_id: int) -> ReceptionDay:
    """One reception day for staff."""
    require_staff_actor(actor)
    reception = db.session.get(ReceptionDay, day_id)
    if reception is None:
        raise NotFound()
    return reception


def open_slots(now: datetime | None = None) -> list[ReceptionSlot]:
    """Free slots still ahead: what a worker may book (public announcement data only)."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(ReceptionSlot)
            .where(ReceptionSlot.case_id.is_(None), ReceptionSlot.starts_at > now)
            .options(selectinload(ReceptionSlot.reception_day))
            .order_by(ReceptionSlot.starts_at)
            .limit(200)
        )
    )


# --- Booking ----------------------------------------------------------------------------------


def _booking_case(actor: Actor, case_ref: int | str) -> Case:
    """The case to book for: a worker's own case by number, or one in a staff member's scope."""
    if isinstance(case_ref, str):
        case = get_case_by_number(actor, case_ref.strip().upper())
    else:
        case = get_case_for(actor, case_ref)
    if actor.role not in {Role.COMPLAINANT, Role.STAFF}:
        raise NotFound()
    if case.status not in OPEN_STATUSES:
        raise Conflict("案件已结束，无需预约接访", code="reception_case_closed")
    return case


def book_slot(
    actor: Actor, slot_id: int, case_ref: int | str, note: str = "", *, now: datetime | None = None
) -> ReceptionSlot:
    """Book a free slot for a case (worker: own case by number; staff: a case in scope)."""
    now = now or utcnow()
    note = (note or "").strip()
    if len(note) > 200:
        raise InvalidInput("预约说明不能超过200字", code="reception_note_too_long")
    with unit_of_work():
        case = _booking_case(actor, case_ref)
        slot = db.session.get(ReceptionSlot, slot_id)
        if slot is None:
            raise NotFound("找不到该接访时段")
        if slot.starts_at <= now:
            raise Conflict("该时段已过，请选择其他时段", code="reception_slot_past")
        already = db.session.scalar(
            sa.select(ReceptionSlot.id).where(
                ReceptionSlot.case_id == case.id, ReceptionSlot.starts_at > now
            )
        )
        if already:
            raise Conflict("该案件已有接访预约", code="reception_already_booked")
        # A conditional update claims the slot: of two bookings at once, one wins.
        claimed = db.session.execute(
            sa.update(ReceptionSlot)
            .where(ReceptionSlot.id == slot_id, ReceptionSlot.case_id.is_(None))
            .values(
                case_id=case.id,
                booked_by_role=actor.role,
                booked_by_id=actor.id,
                booked_at=now,
                booking_note=note,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            raise Conflict("该时段已被预约，请选择其他时段", code="reception_slot_taken")
        db.session.refresh(slot)
        reception = slot.reception_day
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.RECEPTION_BOOKED,
                actor_role=actor.role,
                actor_id=actor.id,
                data={
                    "message": (
                        f"已预约周四大接访：{slot_label(slot)}，{reception.place}，"
                        f"接访领导：{reception.leader_title}{reception.leader_name}"
                    ),
                    "slot_id": slot.id,
                    "reception_day_id": reception.id,
                    "note": note,
                },
                worker_visible=True,
                created_at=now,
            )
        )
    return slot


def cancel_booking(
    actor: Actor,
    slot_id: int,
    case_ref: int | str | None = None,
    *,
    now: datetime | None = None,
) -> ReceptionSlot:
    """Free a booked slot that has not started (the worker's own, or staff in scope)."""
    now = now or utcnow()
    with unit_of_work():
        slot = db.session.get(ReceptionSlot, slot_id)
        if slot is None or slot.case_id is None:
            raise NotFound("找不到该预约")
        case = get_case_for(actor, slot.case_id)
        ref = case_ref.strip().upper() if isinstance(case_ref, str) else case_ref
        if ref is not None and ref not in {case.id, case.number}:
            raise NotFound("找不到该预约")
        if actor.role not in {Role.COMPLAINANT, Role.STAFF}:
            raise NotFound()
        if slot.starts_at <= now:
            raise Conflict("接访时段已开始，不能取消", code="reception_slot_past")
        label = slot_label(slot)
        slot.case_id = None
        slot.booked_by_role = None
        slot.booked_by_id = None
        slot.booked_at = None
        slot.booking_note = ""
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.RECEPTION_CANCELLED,
                actor_role=actor.role,
                actor_id=actor.id,
                data={"message": f"已取消周四大接访预约：{label}", "slot_id": slot.id},
                worker_visible=True,
                created_at=now,
            )
        )
    return slot


def bookings_of_case(actor: Actor, case: Case, now: datetime | None = None) -> list[ReceptionSlot]:
    """The case's slots still ahead (for the worker's view)."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(ReceptionSlot)
            .join(Case, Case.id == ReceptionSlot.case_id)
            .where(ReceptionSlot.case_id == case.id, ReceptionSlot.starts_at > now)
            .where(case_scope(actor))
            .order_by(ReceptionSlot.starts_at)
        )
    )


# --- The reception record ---------------------------------------------------------------------


def promise_deadline(
    received_on: date, *, due_on: date | None, working_days: int | None
) -> datetime | None:
    """18:00 on the promised date, or on the N-th working day after the reception."""
    if due_on is not None and working_days is not None:
        raise InvalidInput("承诺期限请只填日期或工作日数之一", code="promise_due_ambiguous")
    if working_days is not None:
        if not 1 <= working_days <= 60:
            raise InvalidInput("承诺期限应为1至60个工作日", code="promise_due_invalid")
        start = datetime.combine(received_on, time(12, 0), district_zone())
        return add_working_days(start, working_days)
    if due_on is not None:
        if due_on < received_on:
            raise InvalidInput("承诺期限不能早于接访日", code="promise_due_invalid")
        return datetime.combine(due_on, CLOSE_OF_OFFICE, district_zone())
    return None


@dataclass(frozen=True)
class ReceptionInput:
    """What staff write down at a reception."""

    received_by: str
    visitors: str
    summary: str
    promise: str
    promise_due_on: date | None = None
    promise_working_days: int | None = None
    # The promise is to settle the case: its deadline bounds the resolve clock.
    promise_settles_case: bool = False


def record_reception(
    actor: Actor,
    day_id: int,
    case_ref: int | str | None,
    data: ReceptionInput,
    *,
    slot_id: int | None = None,
    now: datetime | None = None,
) -> ReceptionRecord:
    """Record a reception: the timeline event, the contact, and the promise's deadline."""
    require_staff_actor(actor)
    now = now or utcnow()
    if not data.received_by.strip() or len(data.received_by) > 64:
        raise InvalidInput("请填写接待领导（不超过64字）", code="reception_field")
    if not data.summary.strip() or len(data.summary) > 4000:
        raise InvalidInput("请填写接访情况（不超过4000字）", code="reception_field")
    if len(data.visitors) > 200 or len(data.promise) > 2000:
        raise InvalidInput("来访人员或承诺事项过长", code="reception_field")
    with unit_of_work():
        reception = get_reception_day(actor, day_id)
        slot = db.session.get(ReceptionSlot, slot_id) if slot_id is not None else None
        if slot_id is not None and (slot is None or slot.reception_day_id != reception.id):
            raise InvalidInput("该时段不属于这个接访日", code="reception_slot_mismatch")
        if case_ref is None:
            if slot is None or slot.case_id is None:
                raise InvalidInput("请选择预约时段或填写案件编号", code="reception_case_required")
            case_ref = slot.case_id
        case = (
            get_case_by_number(actor, case_ref.strip().upper())
            if isinstance(case_ref, str)
            else get_case_for(actor, case_ref)
        )
        if slot is not None:
            if slot.case_id != case.id:
                raise InvalidInput("该时段不是这个案件的预约", code="reception_slot_mismatch")
            if db.session.scalar(
                sa.select(ReceptionRecord.id).where(ReceptionRecord.slot_id == slot_id)
            ):
                raise Conflict("该预约已有接访记录", code="reception_already_recorded")
        due_at = None
        if data.promise.strip():
            due_at = promise_deadline(
                reception.day, due_on=data.promise_due_on, working_days=data.promise_working_days
            )
            if due_at is None:
                raise InvalidInput("请填写承诺期限", code="promise_due_required")
        record = ReceptionRecord(
            reception_day_id=reception.id,
            slot_id=slot_id,
            case_id=case.id,
            received_by=data.received_by.strip(),
            visitors=data.visitors.strip(),
            summary=data.summary.strip(),
            promise=data.promise.strip(),
            promise_due_at=due_at,
            recorded_by=actor.id,
            created_at=now,
        )
        db.session.add(record)
        db.session.flush()
        clock_changes = _join_clocks(case, due_at, data.promise_settles_case, now)
        message = f"{reception.day:%Y年%m月%d日}周四大接访：{record.received_by}接待"
        if record.promise:
            message += f"，承诺：{record.promise}（{in_district(due_at):%Y-%m-%d %H:%M}前）"
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.RECEPTION,
                actor_role=Role.STAFF,
                actor_id=actor.id,
                data={
                    "message": message,
                    "reception_record_id": record.id,
                    "reception_day_id": reception.id,
                    "received_by": record.received_by,
                    "promise": record.promise,
                    "promise_due_at": due_at.isoformat() if due_at else None,
                    **clock_changes,
                },
                worker_visible=True,
                created_at=now,
            )
        )
    return record


def _join_clocks(
    case: Case, due_at: datetime | None, settles: bool, now: datetime
) -> dict[str, object]:
    """The reception is a contact with the worker; a promise to settle bounds the resolve clock."""
    changes: dict[str, object] = {}
    if case.status in WITH_TEAM and record_contact(case, now):
        changes["first_contact"] = True
    if (
        settles
        and due_at is not None
        and case.status in WITH_TEAM
        and (case.resolve_due_at is None or due_at < case.resolve_due_at)
    ):
        changes["resolve_due_from"] = (
            case.resolve_due_at.isoformat() if case.resolve_due_at else None
        )
        changes["resolve_due_to"] = due_at.isoformat()
        case.resolve_due_at = due_at
    if changes:
        case.updated_at = now
    return changes


def records_of_day(actor: Actor, day_id: int) -> list[ReceptionRecord]:
    """The reception records of a day, on cases in the actor's scope."""
    require_staff_actor(actor)
    return list(
        db.session.scalars(
            sa.select(ReceptionRecord)
            .join(Case, Case.id == ReceptionRecord.case_id)
            .where(ReceptionRecord.reception_day_id == day_id, case_scope(actor))
            .options(selectinload(ReceptionRecord.case))
            .order_by(ReceptionRecord.id)
        )
    )


# --- Promises in the daily check --------------------------------------------------------------


@dataclass(frozen=True)
class PromiseDue:
    """An unkept promise due soon or overdue."""

    record: ReceptionRecord
    overdue: bool


def promises_due(actor: Actor, *, now: datetime | None = None) -> list[PromiseDue]:
    """Unkept promises due by the close of the next working day, overdue ones first."""
    require_staff_actor(actor)
    now = now or utcnow()
    horizon = add_working_days(now, DUE_SOON_WORKING_DAYS)
    records = db.session.scalars(
        sa.select(ReceptionRecord)
        .join(Case, Case.id == ReceptionRecord.case_id)
        .where(
            ReceptionRecord.promise_kept_at.is_(None),
            ReceptionRecord.promise_due_at.is_not(None),
            ReceptionRecord.promise_due_at <= horizon,
            case_scope(actor),
        )
        .options(selectinload(ReceptionRecord.case), selectinload(ReceptionRecord.reception_day))
        .order_by(ReceptionRecord.promise_due_at)
        .limit(200)
    )
    return [PromiseDue(record, record.promise_due_at < now) for record in records]


def mark_promise_kept(
    actor: Actor, record_id: int, note: str, *, now: datetime | None = None
) -> ReceptionRecord:
    """Staff confirm a reception promise was kept; the worker sees it on the timeline."""
    require_staff_actor(actor)
    now = now or utcnow()
    note = (note or "").strip()
    if not note or len(note) > 1000:
        raise InvalidInput("请说明承诺兑现情况（不超过1000字）", code="promise_note_required")
    with unit_of_work():
        record = db.session.scalars(
            sa.select(ReceptionRecord)
            .join(Case, Case.id == ReceptionRecord.case_id)
            .where(ReceptionRecord.id == record_id, case_scope(actor))
        ).one_or_none()
        if record is None:
            raise NotFound()
        if record.promise_kept_at is not None:
            raise Conflict("该承诺已确认兑现", code="promise_already_kept")
        if not record.promise:
            raise InvalidInput("该接访记录没有承诺事项", code="promise_missing")
        record.promise_kept_at = now
        record.promise_kept_note = note
        db.session.add(
            CaseEvent(
                case_id=record.case_id,
                kind=EventKind.RECEPTION_PROMISE_KEPT,
                actor_role=Role.STAFF,
                actor_id=actor.id,
                data={
                    "message": f"接访承诺已兑现：{record.promise}。{note}",
                    "reception_record_id": record.id,
                    "late": record.promise_due_at is not None and now > record.promise_due_at,
                },
                worker_visible=True,
                created_at=now,
            )
        )
    return record
