"""Who is told what after each step: one ``Delivery`` row per message, sent once.

A delivery's unique key (event, recipient, template) makes a job that runs twice send one
message: the row is claimed before sending and marked sent after. Workers are told by WeChat when
they can be (bound and subscribed) and by SMS otherwise; a message nobody could receive stays a
row in state ``skipped`` (or ``failed``) that the foreman and the console list
(``undelivered_clause``), so no message fails silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from wagedispute.messaging import sms
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Complainant,
    Delivery,
    DeliveryState,
    Foreman,
    MessageChannel,
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
FOLLOWUP_CALL = "followup_call"
ACCESS_CODE = "access_code"

# What each of our template names is as an SMS (workers only).
SMS_TEMPLATES = {CASE_PROGRESS: sms.CASE_PROGRESS, ACCESS_CODE: sms.ACCESS_CODE}

# Why a message did not reach its person, as the foreman and staff read it.
UNDELIVERED_REASONS = {
    "not_bound": "对方未绑定微信",
    "no_consent": "对方未订阅该消息",
    "subscription_refused": "微信拒收（用户拒绝接收）",
    "sms_off": "未开通短信通道",
    "sms_refused": "短信被拒收",
    "sms_template_missing": "未配置短信模板",
    "no_mobile": "没有手机号码",
    "no_access_code": "案件没有查询码",
}
UNDELIVERED_DEFAULT = "发送失败，正在重试"
# Shown to the foreman before dispatching to a team no member of which has bound WeChat.
UNREACHABLE_TEAM_WARNING = "该处置小组暂无成员绑定微信，分派后无法自动通知，请电话告知小组"

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
    channel: MessageChannel = MessageChannel.WECHAT

    def key(self) -> str:
        """This recipient's part of a delivery's unique key."""
        if self.channel == MessageChannel.SMS:
            return f"{self.role.value}:sms"
        return f"{self.role.value}:{self.openid}"


def notify_case_step(outbox_id: int) -> None:
    """Tell the people a status change concerns: the team, the foreman, the worker."""
    # One query: the row's event, its case and the case's complainant (``_worker`` then finds
    # the complainant in the session).
    event, case, _ = db.session.execute(
        sa.select(CaseEvent, Case, Complainant)
        .join(Outbox, CaseEvent.id == Outbox.payload["event_id"].as_integer())
        .join(Case, Case.id == CaseEvent.case_id)
        .outerjoin(Complainant, Complainant.id == Case.complainant_id)
        .where(Outbox.id == outbox_id)
    ).one()
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
    """Record the deliveries of one event together (each once), then send those not yet sent.

    The rows are inserted by one statement and the pending ones claimed (locked) by one query in
    the same transaction; each send then commits its own outcome, so a crash re-sends at most the
    message in flight, and a row is claimed again after a commit released it (a duplicate job may
    run beside this one).
    """
    _insert_deliveries_once(
        [
            _delivery_row(case.id, event_id, recipient, template, data, key_suffix)
            for recipient, template in planned
        ]
    )
    pending = db.session.scalars(
        sa.select(Delivery)
        .where(
            Delivery.case_id == case.id,
            Delivery.event_id == event_id if event_id is not None else Delivery.event_id.is_(None),
            Delivery.state == DeliveryState.PENDING,
        )
        .order_by(Delivery.id)
        .with_for_update()
    ).all()
    ids = [delivery.id for delivery in pending]  # read before a commit expires the rows
    for index, delivery in enumerate(pending):
        if index and _claim(ids[index]) is None:
            continue
        _send_claimed(delivery)


def _delivery_row(
    case_id: int,
    event_id: int | None,
    recipient: Recipient,
    template: str,
    data: dict[str, str],
    key_suffix: str,
) -> dict[str, Any]:
    return {
        "dedupe_key": f"{event_id}:{key_suffix}:{recipient.key()}:{template}",
        "case_id": case_id,
        "event_id": event_id,
        "recipient_role": recipient.role,
        "recipient_openid": recipient.openid,
        "channel": recipient.channel,
        "template": template,
        "data": data,
    }


def _plan_delivery(
    case_id: int,
    event_id: int | None,
    recipient: Recipient,
    template: str,
    data: dict[str, str],
    key_suffix: str,
) -> None:
    _insert_deliveries_once(
        [_delivery_row(case_id, event_id, recipient, template, data, key_suffix)]
    )


def send_delivery(delivery_id: int) -> None:
    """Send one message unless it was sent already; skip it when the person cannot receive."""
    delivery = _claim(delivery_id)
    if delivery is not None:
        _send_claimed(delivery)


def _claim(delivery_id: int) -> Delivery | None:
    """Lock a delivery that is still pending (None, with nothing held, once it is not)."""
    delivery = db.session.scalars(
        sa.select(Delivery)
        .where(Delivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if delivery.state != DeliveryState.PENDING:
        db.session.rollback()
        return None
    return delivery


def _send_claimed(delivery: Delivery) -> None:
    """Send a locked, pending delivery and commit its outcome."""
    if delivery.channel == MessageChannel.SMS:
        _send_sms(delivery)
        return
    consent = _worker_consent(delivery)
    skip_reason = _skip_reason(delivery, consent)
    if skip_reason:
        _skip(delivery, skip_reason)
        return
    delivery.attempts += 1
    try:
        wechat.send_subscribe_message(
            delivery.recipient_openid,
            template_id(delivery.template),
            {k: str(v) for k, v in delivery.data.items()},
            page=_page_link(delivery),
        )
    except DomainError as exc:
        if exc.code == "subscription_refused":
            _skip(delivery, exc.code)
            return
        delivery.error = exc.code
        db.session.commit()
        raise
    delivery.state = DeliveryState.SENT
    delivery.sent_at = utcnow()
    if consent is not None:
        # WeChat's one-time subscriptions are used up by a send to a worker.
        consent.remaining = max(0, consent.remaining - 1)
    db.session.commit()


def _skip(delivery: Delivery, reason: str) -> None:
    """Record that this message cannot reach its person; a worker is then tried by SMS."""
    delivery.state = DeliveryState.SKIPPED
    delivery.error = reason
    db.session.commit()
    if (
        delivery.channel == MessageChannel.WECHAT
        and delivery.recipient_role == Role.COMPLAINANT
        and delivery.template in SMS_TEMPLATES
    ):
        suffix = delivery.dedupe_key.split(":")[1]
        recipient = Recipient(Role.COMPLAINANT, None, MessageChannel.SMS)
        _plan_delivery(
            delivery.case_id, delivery.event_id, recipient, delivery.template, delivery.data, suffix
        )
        db.session.commit()
        fallback = db.session.scalars(
            sa.select(Delivery.id).where(
                Delivery.dedupe_key == f"{delivery.event_id}:{suffix}:{recipient.key()}:"
                f"{delivery.template}"
            )
        ).one()
        send_delivery(fallback)


def _send_sms(delivery: Delivery) -> None:
    """Send a worker's message by SMS to the mobile on the case (case number and status only)."""
    provider = sms.get_provider()
    mobile = _worker_mobile(delivery.case_id)
    template = SMS_TEMPLATES.get(delivery.template)
    if provider is None:
        _skip(delivery, "sms_off")
        return
    if not mobile:
        _skip(delivery, "no_mobile")
        return
    if template is None:
        _skip(delivery, "sms_template_missing")
        return
    case = db.session.get(Case, delivery.case_id)
    if template == sms.ACCESS_CODE:
        # The code is read at send time and never stored in the delivery row.
        vault = current_app.extensions["wagedispute.pii"]
        if not case.access_code_encrypted:
            _skip(delivery, "no_access_code")
            return
        params = [case.number, vault.decrypt(case.access_code_encrypted)]
    else:
        params = [case.number, str(delivery.data.get("status", ""))]
    delivery.attempts += 1
    try:
        provider.send(mobile, template, params)
    except sms.SmsRefused as exc:
        _skip(delivery, exc.code)
        return
    except DomainError as exc:
        delivery.error = exc.code
        db.session.commit()
        raise
    delivery.state = DeliveryState.SENT
    delivery.sent_at = utcnow()
    delivery.error = None
    db.session.commit()


def _worker_mobile(case_id: int) -> str | None:
    complainant = db.session.scalars(
        sa.select(Complainant)
        .join(Case, Case.complainant_id == Complainant.id)
        .where(Case.id == case_id)
    ).one_or_none()
    if complainant is None or not complainant.mobile_encrypted:
        return None
    return current_app.extensions["wagedispute.pii"].decrypt(complainant.mobile_encrypted)


def notify_access_code(outbox_id: int) -> None:
    """Send a worker's access code again, by SMS to the mobile on the case."""
    outbox = db.session.get(Outbox, outbox_id)
    case = db.session.get(Case, outbox.case_id)
    recipient = Recipient(Role.COMPLAINANT, None, MessageChannel.SMS)
    send_planned(
        case,
        outbox.payload.get("event_id"),
        [(recipient, ACCESS_CODE)],
        {"case_number": case.number},
        key_suffix=f"code{outbox_id}",
    )


def notify_followup_call(outbox_id: int) -> None:
    """Tell the team that a worker must be phoned (回访): they were never told the outcome."""
    outbox = db.session.get(Outbox, outbox_id)
    case = db.session.get(Case, outbox.case_id)
    data = {"case_number": case.number, "status": "处置结果未送达工人，请电话回访"}
    send_planned(
        case,
        outbox.payload.get("event_id"),
        [(r, FOLLOWUP_CALL) for r in _team(case) or _foreman(case)],
        data,
        key_suffix=f"followup{outbox_id}",
    )


# -- what could not be delivered, for whoever can act ------------------------------------------


def undelivered_clause() -> sa.ColumnElement[bool]:
    """Deliveries that did not reach their person and were not made good by another channel."""
    other = aliased(Delivery)
    made_good = (
        sa.select(other.id)
        .where(
            other.case_id == Delivery.case_id,
            other.event_id == Delivery.event_id,
            other.recipient_role == Delivery.recipient_role,
            other.channel != Delivery.channel,
            other.state == DeliveryState.SENT,
        )
        .exists()
    )
    failed = sa.or_(
        Delivery.state.in_([DeliveryState.SKIPPED, DeliveryState.FAILED]),
        sa.and_(Delivery.state == DeliveryState.PENDING, Delivery.error.is_not(None)),
    )
    return sa.and_(failed, ~made_good)


def undelivered_messages(
    case_clause: sa.ColumnElement[bool], limit: int = 50
) -> list[dict[str, Any]]:
    """Messages that reached nobody, newest first, for the cases ``case_clause`` selects."""
    rows = db.session.execute(
        sa.select(Delivery, Case.number, Case.status)
        .join(Case, Case.id == Delivery.case_id)
        .where(undelivered_clause(), case_clause)
        .order_by(Delivery.id.desc())
        .limit(limit)
    ).all()
    return [describe_undelivered(d, number) for d, number, _ in rows]


def describe_undelivered(delivery: Delivery, number: str) -> dict[str, Any]:
    """One undelivered message as the foreman and staff read it (no personal data)."""
    return {
        "id": delivery.id,
        "case_number": number,
        "recipient_role": delivery.recipient_role.value,
        "recipient_label": delivery.recipient_role.label,
        "channel": delivery.channel.value,
        "channel_label": delivery.channel.label,
        "template": delivery.template,
        "reason": delivery.error or "",
        "reason_label": UNDELIVERED_REASONS.get(delivery.error or "", UNDELIVERED_DEFAULT),
        "at": delivery.created_at.isoformat(timespec="seconds"),
    }


def team_notifiable(team_id: int) -> bool:
    """Whether at least one active member of the team can receive a WeChat message."""
    return (
        db.session.scalar(
            sa.select(sa.func.count(TeamMember.id)).where(
                TeamMember.team_id == team_id, TeamMember.active, TeamMember.openid.is_not(None)
            )
        )
        > 0
    )


def worker_told_clause(status: CaseStatus) -> sa.ColumnElement[bool]:
    """Cases whose worker received (any channel) the message of their last step to ``status``."""
    return (
        sa.select(Delivery.id)
        .join(CaseEvent, CaseEvent.id == Delivery.event_id)
        .where(
            Delivery.case_id == Case.id,
            Delivery.recipient_role == Role.COMPLAINANT,
            Delivery.state == DeliveryState.SENT,
            CaseEvent.to_status == status,
        )
        .exists()
    )


def _page_link(delivery: Delivery) -> str:
    """The mini-program page a message opens: the case, on the recipient's own page for their role
    (``pages/case/index`` routes by the signed-in role)."""
    number = (delivery.data or {}).get("case_number")
    suffix = f"&number={number}" if number else ""
    return f"pages/case/index?delivery={delivery.id}{suffix}"


def template_id(name: str) -> str:
    """WeChat's id for one of our template names (consents are recorded by WeChat's id)."""
    configured = dict(
        pair.split("=", 1)
        for pair in current_app.config["WECHAT_TEMPLATE_IDS"].split(",")
        if "=" in pair
    )
    return configured.get(name, name).strip()


def _skip_reason(delivery: Delivery, consent: SubscriptionConsent | None) -> str | None:
    if not delivery.recipient_openid:
        return "not_bound"
    if delivery.recipient_role == Role.COMPLAINANT and (
        consent is None or not consent.accepted or consent.remaining <= 0
    ):
        return "no_consent"
    return None


def _worker_consent(delivery: Delivery) -> SubscriptionConsent | None:
    """The worker's subscription to this delivery's template (None for other recipients)."""
    if delivery.recipient_role != Role.COMPLAINANT or not delivery.recipient_openid:
        return None
    return db.session.scalars(
        sa.select(SubscriptionConsent).where(
            SubscriptionConsent.openid == delivery.recipient_openid,
            SubscriptionConsent.template == template_id(delivery.template),
        )
    ).one_or_none()


def _insert_deliveries_once(rows: list[dict[str, Any]]) -> None:
    """Insert deliveries in one statement; a row whose unique key exists is left as it is."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    db.session.execute(
        insert(Delivery)
        .values(
            [{"state": DeliveryState.PENDING, "attempts": 0, "created_at": now, **r} for r in rows]
        )
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
    """The worker by WeChat when they use the mini-program (SMS if that fails), else by SMS."""
    if case.complainant_id is None:
        return []
    complainant = db.session.get(Complainant, case.complainant_id)
    if complainant.openid:
        return [Recipient(Role.COMPLAINANT, complainant.openid)]
    return [Recipient(Role.COMPLAINANT, None, MessageChannel.SMS)]
