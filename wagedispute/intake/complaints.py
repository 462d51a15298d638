"""The complainant's own views: my cases, one case with a worker-safe timeline, withdraw,
subscribe-message consents, and the H5 status check by number and access code."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import defer

from wagedispute.access.actors import Actor, case_scope
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.intake.submission import access_code_hash, new_access_code
from wagedispute.messaging.outbox import stage_outbox
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Complainant,
    EventKind,
    Evidence,
    Role,
    SubscriptionConsent,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.paging import Page, paginate
from wagedispute.platform.timekeeping import district_iso

MAX_TEMPLATES = 20


def list_my_cases(actor: Actor, limit: int = 100) -> list[Case]:
    """The actor's own cases, newest first."""
    stmt = sa.select(Case).where(case_scope(actor)).order_by(Case.created_at.desc(), Case.id.desc())
    return list(db.session.scalars(stmt.limit(limit)))


def page_my_cases(actor: Actor, cursor: str | None = None, limit: int | None = None) -> Page[Case]:
    """One page of the actor's own cases, newest first."""
    stmt = sa.select(Case).where(case_scope(actor)).order_by(Case.created_at.desc(), Case.id.desc())
    return paginate(stmt, cursor, limit)


def get_case_by_number(actor: Actor, number: str) -> Case:
    """A case by its public number, if the actor may see it; otherwise "not found"."""
    case = db.session.scalars(
        sa.select(Case).where(Case.number == number, case_scope(actor))
    ).one_or_none()
    if case is None:
        raise NotFound("找不到该案件")
    return case


def case_summary(case: Case) -> dict[str, Any]:
    """The fields a worker sees in a list: no team, staff or internal data."""
    return {
        "number": case.number,
        "status": case.status.value,
        "status_label": case.status.label,
        "site_name": case.site_name,
        "workers_affected": case.workers_affected,
        "amount_owed_fen": case.amount_owed_fen,
        "created_at": district_iso(case.created_at),
    }


def worker_timeline(case: Case) -> list[dict[str, Any]]:
    """Only worker-visible events, each reduced to its Chinese message, status and time."""
    events: Iterable[CaseEvent] = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.worker_visible.is_(True))
        .order_by(CaseEvent.id)
    )
    timeline = []
    for event in events:
        # The service's own sentence for the worker, else the status or the kind of event.
        message = (event.data or {}).get("message")
        if not message:
            message = event.to_status.label if event.to_status else event.kind.label
        timeline.append(
            {
                "message": str(message),
                "status": event.to_status.value if event.to_status else None,
                "at": district_iso(event.created_at),
            }
        )
    return timeline


def worker_case_detail(case: Case) -> dict[str, Any]:
    """The worker's view of one case: summary, what they told us (non-personal) and timeline."""
    return {
        **case_summary(case),
        "site_address": case.site_address,
        "employers": [
            {"role": e.get("role"), "name": e.get("name")} for e in (case.employers or [])
        ],
        "period_start": case.period_start.isoformat() if case.period_start else None,
        "period_end": case.period_end.isoformat() if case.period_end else None,
        "description": case.description,
        "timeline": worker_timeline(case),
        "resolved_at": district_iso(case.resolved_at),
        "outcome": worker_outcome(case),
        "rating": latest_rating(case),
    }


def _proof_ids(case: Case) -> list[int]:
    return [int(i) for i in (case.outcome_data or {}).get("proof_evidence_ids") or []]


def worker_outcome(case: Case) -> dict[str, Any] | None:
    """How the case was resolved, as the worker reads it: label, summary, amounts and proof."""
    if case.outcome is None:
        return None
    data = dict(case.outcome_data or {})
    proof = db.session.scalars(
        sa.select(Evidence)
        .where(Evidence.case_id == case.id, Evidence.id.in_(_proof_ids(case) or [-1]))
        .order_by(Evidence.id)
        .options(defer(Evidence.data))
    ).all()
    return {
        "code": case.outcome.value,
        "label": case.outcome.label,
        "summary": data.get("summary") or "",
        "amount_paid_fen": data.get("amount_paid_fen"),
        "payments": list(data.get("payments") or []),
        "amount_planned_fen": data.get("amount_planned_fen"),
        "instalments": list(data.get("instalments") or []),
        "transferred_to": data.get("transferred_to"),
        "transfer_reference": data.get("transfer_reference"),
        "proof": [
            {"id": e.id, "content_type": e.content_type, "size_bytes": e.size_bytes} for e in proof
        ],
    }


def latest_rating(case: Case) -> dict[str, Any] | None:
    """The worker's latest rating of the handling, if any."""
    event = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.RATING)
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    return {"score": event.data.get("score"), "comment": event.data.get("comment")}


def worker_evidence(actor: Actor, number: str, evidence_id: int) -> Evidence:
    """A file of the worker's own case they may download: their own uploads and the proof."""
    case = get_case_by_number(actor, number)
    evidence = db.session.scalars(
        sa.select(Evidence).where(Evidence.id == evidence_id, Evidence.case_id == case.id)
    ).one_or_none()
    own = evidence is not None and (
        evidence.uploaded_by_role == Role.COMPLAINANT and evidence.uploaded_by_id == actor.id
    )
    if evidence is None or not (own or evidence.id in _proof_ids(case)):
        raise NotFound("找不到该材料", code="evidence_not_found")
    return evidence


def withdraw_complaint(actor: Actor, number: str, reason: str | None = None) -> Case:
    """The complainant withdraws an open complaint (through the state machine)."""
    case = get_case_by_number(actor, number)
    return transition_case(
        case.id, CaseStatus.WITHDRAWN, actor, StepRequest(reason=(reason or "").strip() or None)
    )


def find_case_by_access_code(number: str, code: str) -> Case:
    """The H5 status check: the number and its access code must match; anything else is 404."""
    number = (number or "").strip().upper()
    code = (code or "").strip().upper()
    case = db.session.scalars(sa.select(Case).where(Case.number == number)).one_or_none()
    expected = case.access_code_hash if case is not None else None
    given = access_code_hash(number, code) if code else ""
    if not expected or not hmac.compare_digest(expected, given):
        raise NotFound("案件编号或查询码不正确", code="case_or_code_wrong")
    return case


def record_subscriptions(actor: Actor, accepted: list[str], rejected: list[str]) -> int:
    """Record which subscribe-message templates the signed-in worker accepted; commits."""
    templates = [*accepted, *rejected]
    complainant = db.session.get(Complainant, actor.id) if actor.id is not None else None
    openid = complainant.openid if complainant is not None else None
    if not openid:
        raise InvalidInput("请在微信小程序内登录后再订阅消息", code="openid_required")
    if len(templates) > MAX_TEMPLATES or set(accepted) & set(rejected):
        raise InvalidInput("订阅模板列表有误", code="templates_invalid")
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    with unit_of_work():
        for template, ok in [(t, True) for t in accepted] + [(t, False) for t in rejected]:
            stmt = insert(SubscriptionConsent).values(
                openid=openid,
                template=template,
                accepted=ok,
                remaining=1 if ok else 0,
                updated_at=now,
            )
            # Each acceptance of a one-time template allows one more message.
            remaining = SubscriptionConsent.remaining + 1 if ok else SubscriptionConsent.remaining
            stmt = stmt.on_conflict_do_update(
                index_elements=["openid", "template"],
                set_={"accepted": ok, "remaining": remaining, "updated_at": now},
            )
            db.session.execute(stmt)
    return len(templates)


def complainant_actor(case: Case) -> Actor:
    """The worker of a case as an actor, once the H5 number and access code have opened it."""
    return Actor(Role.COMPLAINANT, case.complainant_id)


def request_access_code_sms(number: str, mobile: str) -> bool:
    """Send a case's access code again by SMS when ``mobile`` is the one on the case; commits.

    The answer the caller shows must not depend on the result (it would tell a stranger
    whether a number filed a complaint); the return value is for tests and logs only.
    """
    number = (number or "").strip().upper()
    digits = "".join(ch for ch in (mobile or "") if ch.isdigit())[-11:]
    vault = current_app.extensions["wagedispute.pii"]
    with unit_of_work():
        case = db.session.scalars(
            sa.select(Case)
            .join(Complainant, Case.complainant_id == Complainant.id)
            .where(Case.number == number, Complainant.mobile_hash == vault.keyed_hash(digits))
        ).one_or_none()
        if case is None or not digits:
            return False
        if not case.access_code_encrypted:
            # Cases from before codes were kept: issue one now, so there is a code to send.
            code = new_access_code()
            case.access_code_hash = access_code_hash(case.number, code)
            case.access_code_encrypted = vault.encrypt(code)
        event = CaseEvent(
            case_id=case.id,
            kind=EventKind.ACCESS_CODE_RESENT,
            actor_role=Role.COMPLAINANT,
            actor_id=case.complainant_id,
            data={"message": "已通过短信补发查询码"},
            worker_visible=True,
        )
        db.session.add(event)
        db.session.flush()
        stage_outbox(
            "access_code_sms",
            f"access_code_sms:{event.id}",
            {"event_id": event.id},
            case_id=case.id,
        )
    return True
