"""Who is told what after each step: one ``Delivery`` row per message, sent once.

A delivery's unique key (event, recipient, template) makes a job that runs twice send one
message: the row is claimed before sending and marked sent after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Complainant,
    Delivery,
    DeliveryState,
    Foreman,
    Outbox,
    Role,
    SubscriptionConsent,
    TeamMember,
)
from wagedispute.platform import wechat
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import DomainError

log = logging.getLogger(__name__)

# Template names; real template ids are configured per name (WECHAT_TEMPLATE_<NAME>).
NEW_LEAD = "new_lead"
CASE_ASSIGNED = "case_assigned"
CASE_RETURNED = "case_returned"
CASE_PROGRESS = "case_progress"
BREACH_ALERT = "breach_alert"

WORKER_TEMPLATES_BY_STATUS = {
    CaseStatus.DISPATCHED: CASE_PROGRESS,
    CaseStatus.RESOLVED: CASE_PROGRESS,
    CaseStatus.CLOSED: CASE_PROGRESS,
}


@dataclass(frozen=True)
class Recipient:
    """One person to tell, by role and openid (None when not bound to WeChat yet)."""

    role: Role
    openid: str | None


def notify_case_step(outbox_id: int) -> None:
    """Tell the people a status change concerns: the team, the foreman, the worker."""
    outbox = db.session.get(Outbox, outbox_id)
    event = db.session.get(CaseEvent, outbox.payload["event_id"])
    case = db.session.get(Case, event.case_id)
    status = event.to_status
    planned: list[tuple[Recipient, str]] = []
    if status == CaseStatus.RECEIVED:
        planned += [(r, NEW_LEAD) for r in _foreman(case)]
    elif status == CaseStatus.DISPATCHED:
        planned += [(r, CASE_ASSIGNED) for r in _team(case)]
    elif status in {CaseStatus.RETURNED, CaseStatus.REOPENED}:
        planned += [(r, CASE_RETURNED) for r in _foreman(case)]
    if status in WORKER_TEMPLATES_BY_STATUS:
        planned += [(r, WORKER_TEMPLATES_BY_STATUS[status]) for r in _worker(case)]
    data = {
        "case_number": case.number,
        "status": status.label,
        "site": case.site_name,
        "urgency": case.urgency.label,
    }
    send_planned(case, event.id, planned, data)


def notify_breach(outbox_id: int) -> None:
    """Tell the assignee or the foreman that a clock ran out."""
    outbox = db.session.get(Outbox, outbox_id)
    case = db.session.get(Case, outbox.case_id)
    level = int(outbox.payload.get("level", 1))
    if level >= 3:
        return  # level 3 is the bureau's flag, shown in the console, not a message
    recipients = _team(case) if level == 1 and case.team_id else _foreman(case)
    data = {"case_number": case.number, "clock": str(outbox.payload.get("clock", ""))}
    send_planned(
        case,
        outbox.payload.get("event_id"),
        [(r, BREACH_ALERT) for r in recipients],
        data,
        key_suffix=f"breach{outbox_id}",
    )


def notify_auto_dispatch(outbox_id: int) -> None:
    """Tell the foreman that the system dispatched a critical case on their behalf."""
    outbox = db.session.get(Outbox, outbox_id)
    case = db.session.get(Case, outbox.case_id)
    data = {"case_number": case.number, "status": "特急案件已自动分派"}
    send_planned(
        case,
        outbox.payload.get("event_id"),
        [(r, CASE_ASSIGNED) for r in _foreman(case)],
        data,
        key_suffix=f"auto{outbox_id}",
    )


def send_planned(
    case: Case,
    event_id: int | None,
    planned: list[tuple[Recipient, str]],
    data: dict[str, str],
    *,
    key_suffix: str = "",
) -> None:
    """Record one delivery per recipient (once), then send each one not yet sent."""
    for recipient, template in planned:
        key = f"{event_id}:{key_suffix}:{recipient.role.value}:{recipient.openid}:{template}"
        _insert_delivery_once(
            dedupe_key=key,
            case_id=case.id,
            event_id=event_id,
            recipient_role=recipient.role,
            recipient_openid=recipient.openid,
            template=template,
            data=data,
        )
    db.session.commit()
    pending = db.session.scalars(
        sa.select(Delivery).where(
            Delivery.case_id == case.id,
            Delivery.event_id == event_id if event_id is not None else Delivery.event_id.is_(None),
            Delivery.state == DeliveryState.PENDING,
        )
    ).all()
    for delivery in pending:
        send_delivery(delivery.id)


def send_delivery(delivery_id: int) -> None:
    """Send one message unless it was sent already; skip it when the person cannot receive."""
    delivery = db.session.scalars(
        sa.select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).one()
    if delivery.state != DeliveryState.PENDING:
        db.session.rollback()
        return
    skip_reason = _skip_reason(delivery)
    if skip_reason:
        delivery.state = DeliveryState.SKIPPED
        delivery.error = skip_reason
        db.session.commit()
        return
    delivery.attempts += 1
    try:
        wechat.send_subscribe_message(
            delivery.recipient_openid,
            template_id(delivery.template),
            {k: str(v) for k, v in delivery.data.items()},
            page=f"pages/case/index?delivery={delivery.id}",
        )
    except DomainError as exc:
        if exc.code == "subscription_refused":
            delivery.state = DeliveryState.SKIPPED
            delivery.error = exc.code
            db.session.commit()
            return
        delivery.error = exc.code
        db.session.commit()
        raise
    delivery.state = DeliveryState.SENT
    delivery.sent_at = utcnow()
    _use_consent(delivery)
    db.session.commit()


def template_id(name: str) -> str:
    """WeChat's id for one of our template names (consents are recorded by WeChat's id)."""
    configured = dict(
        pair.split("=", 1)
        for pair in current_app.config["WECHAT_TEMPLATE_IDS"].split(",")
        if "=" in pair
    )
    return configured.get(name, name).strip()


def _skip_reason(delivery: Delivery) -> str | None:
    if not delivery.recipient_openid:
        return "not_bound"
    if delivery.recipient_role == Role.COMPLAINANT:
        consent = _consent(delivery.recipient_openid, delivery.template)
        if consent is None or not consent.accepted or consent.remaining <= 0:
            return "no_consent"
    return None


def _consent(openid: str, template: str) -> SubscriptionConsent | None:
    return db.session.scalars(
        sa.select(SubscriptionConsent).where(
            SubscriptionConsent.openid == openid,
            SubscriptionConsent.template == template_id(template),
        )
    ).one_or_none()


def _use_consent(delivery: Delivery) -> None:
    """WeChat's one-time subscriptions are used up by a send to a worker."""
    if delivery.recipient_role == Role.COMPLAINANT:
        consent = _consent(delivery.recipient_openid, delivery.template)
        if consent is not None:
            consent.remaining = max(0, consent.remaining - 1)


def _insert_delivery_once(**values: Any) -> None:
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(Delivery)
        .values(state=DeliveryState.PENDING, attempts=0, created_at=utcnow(), **values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def _foreman(case: Case) -> list[Recipient]:
    if case.foreman_id is None:
        return []
    foreman = db.session.get(Foreman, case.foreman_id)
    return [Recipient(Role.FOREMAN, foreman.openid)]


def _team(case: Case) -> list[Recipient]:
    if case.team_id is None:
        return []
    members = db.session.scalars(
        sa.select(TeamMember)
        .where(TeamMember.team_id == case.team_id, TeamMember.active)
        .order_by(TeamMember.id)
    ).all()
    return [Recipient(Role.TEAM_MEMBER, m.openid) for m in members]


def _worker(case: Case) -> list[Recipient]:
    if case.complainant_id is None:
        return []
    complainant = db.session.get(Complainant, case.complainant_id)
    return [Recipient(Role.COMPLAINANT, complainant.openid)] if complainant.openid else []
