"""The bureau's own working records: the holiday calendar, Thursday reception, national leads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagedispute.models.cases import Case
from wagedispute.models.enums import CalendarDayKind, NationalConclusion, Role
from wagedispute.models.people import StaffAccount
from wagedispute.platform.database import Base, JSONType, UTCDateTime, enum_type, utcnow


class CalendarYear(Base):
    """A year whose State Council holiday notice staff entered: the year is then fully known."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # e.g. 国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕7号）
    notice: Mapped[str] = mapped_column(sa.String(200))
    # Raised on every change: processes compare the sum to know their cached calendar is stale.
    revision: Mapped[int] = mapped_column(default=1)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    days: Mapped[list[CalendarDay]] = relationship(
        back_populates="calendar_year", order_by="CalendarDay.day", cascade="all, delete-orphan"
    )


class CalendarDay(Base):
    """One date of a notice: a holiday, or a weekend day worked in exchange (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    year: Mapped[int] = mapped_column(sa.ForeignKey("calendar_years.year"), index=True)
    kind: Mapped[CalendarDayKind] = mapped_column(enum_type(CalendarDayKind))
    # The holiday it belongs to: 元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, 国庆节.
    name: Mapped[str] = mapped_column(sa.String(32), default="")

    calendar_year: Mapped[CalendarYear] = relationship(back_populates="days")


class ReceptionDay(Base):
    """A 周四大接访 day: which leader receives visitors, where, in which booked slots."""

    __tablename__ = "reception_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, unique=True)
    leader_name: Mapped[str] = mapped_column(sa.String(32))
    leader_title: Mapped[str] = mapped_column(sa.String(64))
    place: Mapped[str] = mapped_column(sa.String(128))
    # The public announcement (online and on the notice board).
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    slots: Mapped[list[ReceptionSlot]] = relationship(
        back_populates="reception_day", order_by="ReceptionSlot.starts_at"
    )


class ReceptionSlot(Base):
    """One appointment time of a reception day, free or booked for a case."""

    __tablename__ = "reception_slots"
    __table_args__ = (sa.UniqueConstraint("reception_day_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reception_day_id: Mapped[int] = mapped_column(sa.ForeignKey("reception_days.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Booking: claimed by a conditional update, so two people cannot book one slot.
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    booked_by_role: Mapped[Role | None] = mapped_column(enum_type(Role))
    booked_by_id: Mapped[int | None] = mapped_column()
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    booking_note: Mapped[str] = mapped_column(sa.String(200), default="")

    reception_day: Mapped[ReceptionDay] = relationship(back_populates="slots")
    case: Mapped[Case | None] = relationship()


class ReceptionRecord(Base):
    """What happened at a reception: who received, what was said, what was promised by when."""

    __tablename__ = "reception_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    reception_day_id: Mapped[int] = mapped_column(sa.ForeignKey("reception_days.id"), index=True)
    # Empty for a visitor received without an appointment (every visitor is received).
    slot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reception_slots.id"), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    received_by: Mapped[str] = mapped_column(sa.String(64))
    visitors: Mapped[str] = mapped_column(sa.String(200), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    promise: Mapped[str] = mapped_column(sa.Text, default="")
    # 18:00 local on the promised day, on the working-day calendar when given in working days.
    promise_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    promise_kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    promise_kept_note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    reception_day: Mapped[ReceptionDay] = relationship()
    case: Mapped[Case] = relationship()
    recorder: Mapped[StaffAccount | None] = relationship()


class NationalLead(Base):
    """A lead imported from the 全国根治欠薪线索反映平台 and the case that answers it."""

    __tablename__ = "national_leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 线索编号 on the platform: importing the same file twice adds nothing.
    lead_number: Mapped[str] = mapped_column(sa.String(64), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    # The lead repeats a case we already had (same worker and site): merged, no new case.
    merged_into_existing: Mapped[bool] = mapped_column(default=False)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 办理时限 the platform set for the reply.
    reply_due_on: Mapped[date | None] = mapped_column(sa.Date)
    # The lead's own fields except personal data (kept encrypted on the complainant).
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("background_tasks.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # 核处结论 chosen by staff; None: derived from the case's outcome at export.
    conclusion: Mapped[NationalConclusion | None] = mapped_column(enum_type(NationalConclusion))
    conclusion_note: Mapped[str] = mapped_column(sa.Text, default="")
    concluded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship()
