"""What must happen after a commit (the outbox) and the messages we send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wagedispute.models.enums import DeliveryState, MessageChannel, OutboxState, Role
from wagedispute.platform.database import Base, JSONType, UTCDateTime, enum_type, utcnow


class Outbox(Base):
    """A side effect owed after a commit, written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What to do, e.g. "notify_dispatch"; the job that does it is looked up by this name.
    topic: Mapped[str] = mapped_column(sa.String(64))
    # Unique per effect so that writing it twice is harmless.
    dedupe_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[OutboxState] = mapped_column(enum_type(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One notification message to one person; the unique key makes a retried job send once."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_events.id"))
    recipient_role: Mapped[Role] = mapped_column(enum_type(Role))
    # WeChat subscribe message, or SMS to the mobile on the case (workers only).
    channel: Mapped[MessageChannel] = mapped_column(
        enum_type(MessageChannel), default=MessageChannel.WECHAT
    )
    recipient_openid: Mapped[str | None] = mapped_column(sa.String(64))
    template: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[DeliveryState] = mapped_column(
        enum_type(DeliveryState), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SubscriptionConsent(Base):
    """Which subscribe-message templates a WeChat user accepted (WeChat needs consent per send)."""

    __tablename__ = "subscription_consents"
    __table_args__ = (sa.UniqueConstraint("openid", "template"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(sa.String(64))
    template: Mapped[str] = mapped_column(sa.String(64))
    accepted: Mapped[bool] = mapped_column()
    # WeChat's one-time subscriptions are used up by one send.
    remaining: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
