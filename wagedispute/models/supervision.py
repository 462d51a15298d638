"""Supervision records: daily checks, letters, imported signals, alerts, packs, tasks."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagedispute.models.cases import Case
from wagedispute.models.people import DisposalTeam, StaffAccount, Street
from wagedispute.platform.database import Base, JSONType, UTCDateTime, enum_type, utcnow


class LetterKind(StrEnum):
    """The three steps of the bureau's letter ladder (三项建议权)."""

    REMINDER = "reminder"
    SUPERVISION = "supervision"
    ACCOUNTABILITY = "accountability"

    @property
    def label(self) -> str:
        """The Chinese name printed on the letter."""
        return LETTER_LABELS[self]

    @property
    def number_prefix(self) -> str:
        """The prefix of the letter number, e.g. 盐信督 in 盐信督〔2026〕12号."""
        return LETTER_PREFIXES[self]

    @property
    def rank(self) -> int:
        """Position on the ladder: higher is more serious."""
        return {"reminder": 1, "supervision": 2, "accountability": 3}[self.value]


LETTER_LABELS = {
    LetterKind.REMINDER: "提醒函",
    LetterKind.SUPERVISION: "督办函",
    LetterKind.ACCOUNTABILITY: "启动问责建议函",
}
LETTER_PREFIXES = {
    LetterKind.REMINDER: "盐信提",
    LetterKind.SUPERVISION: "盐信督",
    LetterKind.ACCOUNTABILITY: "盐信问",
}


class LetterStatus(StrEnum):
    """Whether the addressee has answered a letter."""

    AWAITING_REPLY = "awaiting_reply"
    REPLY_OVERDUE = "reply_overdue"
    REPLIED = "replied"

    @property
    def label(self) -> str:
        """The Chinese name shown to staff."""
        return {"awaiting_reply": "待回复", "reply_overdue": "逾期未回复", "replied": "已回复"}[
            self.value
        ]


class AlertKind(StrEnum):
    """What an early-warning alert is about."""

    CROSS_CHANNEL = "cross_channel"
    CROSS_STREET = "cross_street"
    SPIKE = "spike"
    GROUP_GROWTH = "group_growth"
    PRE_FESTIVAL = "pre_festival"

    @property
    def label(self) -> str:
        """The Chinese name shown to staff."""
        return {
            "cross_channel": "多渠道反映同一对象",
            "cross_street": "跨街道反映同一对象",
            "spike": "投诉量突增",
            "group_growth": "群体人数增长",
            "pre_festival": "节前风险",
        }[self.value]


class TaskStatus(StrEnum):
    """Progress of a long operation run by an RQ job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """The Chinese name shown to staff."""
        return {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}[
            self.value
        ]


class DailyCheck(Base):
    """日核查: one case checked by a named staff member on a (Shanghai) calendar day."""

    __tablename__ = "daily_checks"
    __table_args__ = (sa.Index("ix_daily_checks_case_checked_at", "case_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_accounts.id"), index=True)
    checked_on: Mapped[date] = mapped_column(sa.Date, index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(sa.String(500), default="")

    case: Mapped[Case] = relationship()
    staff: Mapped[StaffAccount] = relationship()


class LetterNumberCounter(Base):
    """The last letter number issued per (number prefix, year)."""

    __tablename__ = "letter_number_counters"

    prefix: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)


class Letter(Base):
    """A 提醒函 / 督办函 / 启动问责建议函 about one case, with its reply deadline and reply."""

    __tablename__ = "letters"
    __table_args__ = (sa.Index("ix_letters_street_status", "street_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # 盐信督〔2026〕12号
    number: Mapped[str] = mapped_column(sa.String(48), unique=True)
    kind: Mapped[LetterKind] = mapped_column(enum_type(LetterKind))
    year: Mapped[int] = mapped_column()
    sequence: Mapped[int] = mapped_column()
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    # The case's street: scopes the letter for street staff.
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"))
    # Addressed to a disposal team, or (no team) to the street's office.
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("disposal_teams.id"))
    addressee: Mapped[str] = mapped_column(sa.String(128))
    # The case facts the letter was drafted from, frozen at issue.
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    body: Mapped[str] = mapped_column(sa.Text)
    issued_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reply_due_on: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[LetterStatus] = mapped_column(
        enum_type(LetterStatus), default=LetterStatus.AWAITING_REPLY
    )
    reply_text: Mapped[str | None] = mapped_column(sa.Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reply_recorded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))

    case: Mapped[Case] = relationship()
    street: Mapped[Street] = relationship()
    team: Mapped[DisposalTeam | None] = relationship()
    issuer: Mapped[StaffAccount] = relationship(foreign_keys=[issued_by])


class ChannelAlias(Base):
    """A name another channel's file may use for a channel (12345热线 -> 12345), kept by staff."""

    __tablename__ = "channel_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (NFKC, no spaces): the form the import compares with.
    alias: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChannelRecord(Base):
    """A complaint received through another channel (12345, 信访, 人民网, the national platform)."""

    __tablename__ = "channel_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A hash of the row's content: importing the same file twice adds nothing.
    fingerprint: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    received_on: Mapped[date] = mapped_column(sa.Date, index=True)
    site_name: Mapped[str] = mapped_column(sa.String(128), default="")
    employer_name: Mapped[str] = mapped_column(sa.String(128), default="")
    uscc: Mapped[str | None] = mapped_column(sa.String(18))
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("streets.id"))
    workers: Mapped[int] = mapped_column(default=1)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    # Matching keys in the grouping vocabulary: "uscc:…", "employer:…", "site:…".
    employer_key: Mapped[str | None] = mapped_column(sa.String(160), index=True)
    site_key: Mapped[str | None] = mapped_column(sa.String(160), index=True)
    # Cases of ours about the same employer or site, found at import.
    matched_case_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("background_tasks.id"))
    source_row: Mapped[int] = mapped_column(default=0)
    imported_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    street: Mapped[Street | None] = relationship()


class Alert(Base):
    """An early-warning signal for staff to look at; one row per (kind, subject, period)."""

    __tablename__ = "alerts"
    __table_args__ = (sa.UniqueConstraint("kind", "subject_key", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AlertKind] = mapped_column(enum_type(AlertKind))
    # "uscc:…", "employer:…", "site:…", "street:<id>", "group:<id>", "case:<id>".
    subject_key: Mapped[str] = mapped_column(sa.String(160))
    # The window the alert belongs to ("" for all time, "2026-W07", "festival-2026").
    period: Mapped[str] = mapped_column(sa.String(32), default="")
    # Street staff see their street's alerts; cross-street alerts have none (district only).
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("streets.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledged_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledge_note: Mapped[str | None] = mapped_column(sa.String(500))

    street: Mapped[Street | None] = relationship()


class WeeklyPack(Base):
    """周反馈: one street's figures for one week (Monday to Sunday, Shanghai time), per team too."""

    __tablename__ = "weekly_packs"
    __table_args__ = (sa.UniqueConstraint("week_start", "street_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(sa.Date, index=True)
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"))
    # {"street": {...figures}, "teams": [{"team_id", "name", ...figures}], "cases": {...}}
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    street: Mapped[Street] = relationship()


class BackgroundTask(Base):
    """A long operation (import, weekly packs, export) run by an RQ job, with its progress."""

    __tablename__ = "background_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "import", "weekly_packs", "export"
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[TaskStatus] = mapped_column(enum_type(TaskStatus), default=TaskStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # An uploaded file the job works on (jobs carry ids only, so the bytes wait here).
    input_blob: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    input_filename: Mapped[str | None] = mapped_column(sa.String(255))
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result_blob: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    result_filename: Mapped[str | None] = mapped_column(sa.String(255))
    result_content_type: Mapped[str | None] = mapped_column(sa.String(128))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    # The creator's street for street staff: scopes who may see the task.
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("streets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
