"""Cases, their append-only events, dispute groups, evidence and intake idempotency."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagedispute.models.enums import CaseStatus, Channel, EventKind, Outcome, Role, Urgency
from wagedispute.models.people import Complainant, DisposalTeam, Foreman, Street
from wagedispute.platform.database import Base, JSONType, UTCDateTime, enum_type, utcnow


class CaseNumberCounter(Base):
    """The last public number issued per (district, year); one row per year."""

    __tablename__ = "case_number_counters"

    prefix: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)


class DisputeGroup(Base):
    """Complaints about one site or employer within a window, with live totals."""

    __tablename__ = "dispute_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "uscc:<code>", "employer:<normalised name>" or "site:<normalised name>".
    match_key: Mapped[str] = mapped_column(sa.String(160), index=True)
    title: Mapped[str] = mapped_column(sa.String(160))
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("streets.id"))
    case_count: Mapped[int] = mapped_column(default=0)
    # Distinct complainants (a worker who complains twice counts once); duplicates add nothing.
    complainants_total: Mapped[int] = mapped_column(default=0)
    workers_total: Mapped[int] = mapped_column(default=0)
    amount_total_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_case_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Case(Base):
    """One complaint of unpaid wages and everything done about it."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.CheckConstraint("amount_owed_fen >= 0", name="amount_not_negative"),
        sa.CheckConstraint("workers_affected >= 1", name="workers_positive"),
        sa.Index("ix_cases_status_urgency_created", "status", "created_at"),
        sa.Index("ix_cases_street_status", "street_id", "status"),
        # Console: list and dashboard by street and period, money and on-time by resolution date.
        sa.Index("ix_cases_street_created", "street_id", "created_at"),
        sa.Index("ix_cases_resolved_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # active_history on the columns the period figures read: daily_figures takes back a case's
    # old contribution, so the old value must be known when one of them is set.
    status: Mapped[CaseStatus] = mapped_column(
        enum_type(CaseStatus), default=CaseStatus.RECEIVED, active_history=True
    )
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    foreman_id: Mapped[int | None] = mapped_column(sa.ForeignKey("foremen.id"), index=True)
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"), active_history=True)
    qr_code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("qr_codes.id"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("disposal_teams.id"), index=True)
    complainant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("complainants.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dispute_groups.id"), index=True)

    site_name: Mapped[str] = mapped_column(sa.String(128))
    site_address: Mapped[str | None] = mapped_column(sa.String(255))
    # [{"role": "总包", "name": "...", "uscc": "..."}]; normalised for matching at intake.
    employers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    workers_affected: Mapped[int] = mapped_column(default=1, active_history=True)
    amount_owed_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    period_start: Mapped[date | None] = mapped_column(sa.Date)
    period_end: Mapped[date | None] = mapped_column(sa.Date)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    consent_disclose_identity: Mapped[bool] = mapped_column(default=False)
    # The name and mobile as given on this case (encrypted, keyed hash for matching): a later
    # submission by the same person never rewrites what an earlier case recorded.
    complainant_name_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    complainant_mobile_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    complainant_mobile_hash: Mapped[str | None] = mapped_column(sa.String(64))

    urgency_suggested: Mapped[Urgency] = mapped_column(enum_type(Urgency), default=Urgency.NORMAL)
    urgency_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    urgency_confirmed: Mapped[Urgency | None] = mapped_column(enum_type(Urgency))

    # H5 complainants follow their case with the number and this one-time access code.
    access_code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # The same code, encrypted: a resubmitted form shows it again and a lost one is re-sent by SMS.
    access_code_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    # Optional fields that failed their check at intake, kept for staff to look at:
    # [{"field": "employers.0.uscc", "message": "...", "value": "..."}].
    intake_flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The earlier case of the same worker about the same site this one probably repeats.
    duplicate_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))

    outcome: Mapped[Outcome | None] = mapped_column(enum_type(Outcome), active_history=True)
    outcome_data: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, active_history=True
    )
    flagged_to_bureau: Mapped[bool] = mapped_column(default=False)

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, index=True, active_history=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), active_history=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # SLA clocks (DESIGN.md §5): deadlines on the working-day calendar, set by the clocks service.
    dispatch_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    accept_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    contact_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), active_history=True)
    # While waiting for the worker the clocks stop; deadlines move by the paused time on resume.
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # 0 none, 1 assignee reminded, 2 foreman told, 3 flagged to the bureau.
    escalation_level: Mapped[int] = mapped_column(default=0)
    # The clock ("dispatch", "accept", "contact", "resolve") escalation_level refers to.
    escalation_clock: Mapped[str | None] = mapped_column(sa.String(16))
    # 回访 by phone: the worker was never told of the outcome, so the team must call (own clock).
    followup_call_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    followup_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Optimistic lock: two concurrent transitions cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    street: Mapped[Street] = relationship()
    foreman: Mapped[Foreman | None] = relationship()
    team: Mapped[DisposalTeam | None] = relationship()
    complainant: Mapped[Complainant | None] = relationship()
    group: Mapped[DisputeGroup | None] = relationship()
    duplicate_of: Mapped[Case | None] = relationship(
        remote_side="Case.id", foreign_keys="Case.duplicate_of_id", viewonly=True
    )
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", viewonly=True
    )

    @property
    def urgency(self) -> Urgency:
        """The level in force: the confirmed one, else the suggestion."""
        return self.urgency_confirmed or self.urgency_suggested


class CaseEvent(Base):
    """An append-only audit row: who changed what on a case, when, from what to what."""

    __tablename__ = "case_events"
    # Events of one kind by period (a week's status changes in the weekly packs, the ratings).
    __table_args__ = (sa.Index("ix_case_events_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(enum_type(EventKind))
    from_status: Mapped[CaseStatus | None] = mapped_column(enum_type(CaseStatus))
    to_status: Mapped[CaseStatus | None] = mapped_column(enum_type(CaseStatus))
    actor_role: Mapped[Role] = mapped_column(enum_type(Role))
    actor_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Shown on the worker's timeline; internal notes and staff actions are not.
    worker_visible: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    case: Mapped[Case] = relationship(back_populates="events")


class Evidence(Base):
    """An image or PDF attached to a case, checked by content and stripped of metadata."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    uploaded_by_role: Mapped[Role] = mapped_column(enum_type(Role))
    uploaded_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(Base):
    """Remembers which case an intake key created, so a retry answers with the same case."""

    __tablename__ = "idempotency_records"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Whose key it is: "openid:<openid>", "foreman:<id>" or "web".
    scope: Mapped[str] = mapped_column(sa.String(96))
    key: Mapped[str] = mapped_column(sa.String(128))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
