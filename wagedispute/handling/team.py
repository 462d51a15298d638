"""What a disposal team does with a case: accept or return it, record progress, resolve it."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.clocks import record_contact
from wagedispute.cases.lifecycle import PAID_OUTCOMES, StepRequest, transition_case
from wagedispute.handling.foreman import urgency_rank
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.models import Case, CaseEvent, CaseStatus, EventKind, Evidence, Outcome
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, InvalidTransition, NotFound
from wagedispute.platform.paging import Page, paginate
from wagedispute.platform.validation import DbId, SafeText, WholeNumber

log = logging.getLogger(__name__)

ACTIVE_STATUSES = (CaseStatus.DISPATCHED, CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS)
NOTE_STATUSES = frozenset({CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS})
TRANSFER_OUTCOMES = {
    Outcome.TRANSFERRED_INSPECTION: "劳动监察",
    Outcome.TRANSFERRED_ARBITRATION: "劳动仲裁",
    Outcome.TRANSFERRED_COURT: "法院",
}


class Payment(BaseModel):
    """Money one worker received: a name or a label such as "工人甲", and the amount in fen."""

    model_config = ConfigDict(extra="forbid")
    worker: SafeText = Field(min_length=1, max_length=32)
    amount_fen: WholeNumber = Field(gt=0, le=10**11)


class Instalment(BaseModel):
    """One agreed future payment."""

    model_config = ConfigDict(extra="forbid")
    due_date: date
    amount_fen: WholeNumber = Field(gt=0, le=10**11)


class ResolutionIn(BaseModel):
    """How the team resolved a case; paid outcomes need proof and the amount paid per worker."""

    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    summary: SafeText = Field(default="", max_length=2000)
    proof_evidence_ids: list[DbId] = Field(default_factory=list, max_length=50)
    payments: list[Payment] = Field(default_factory=list, max_length=500)
    instalments: list[Instalment] = Field(default_factory=list, max_length=60)
    transfer_reference: SafeText | None = Field(default=None, max_length=128)


def _team_cases_query(actor: Actor, statuses: list[CaseStatus] | None) -> sa.Select[Any]:
    wanted = statuses or list(ACTIVE_STATUSES)
    waiting_first = sa.case((Case.status == CaseStatus.DISPATCHED.value, 0), else_=1)
    return (
        sa.select(Case)
        .where(case_scope(actor), Case.status.in_(wanted))
        .order_by(waiting_first, urgency_rank(), Case.dispatched_at, Case.id)
    )


def team_cases(actor: Actor, statuses: list[CaseStatus] | None = None) -> list[Case]:
    """The cases of the actor's team: awaiting acceptance first, then by urgency and age."""
    return list(db.session.scalars(_team_cases_query(actor, statuses).limit(500)))


def page_team_cases(
    actor: Actor,
    statuses: list[CaseStatus] | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[Case]:
    """One page of the team's cases, in the order of ``team_cases``."""
    return paginate(_team_cases_query(actor, statuses), cursor, limit)


def team_evidence(actor: Actor, number: str, evidence_id: int) -> Evidence:
    """A file attached to one of the team's cases (the worker's evidence included)."""
    case = get_case_by_number(actor, number)
    evidence = db.session.scalars(
        sa.select(Evidence).where(Evidence.id == evidence_id, Evidence.case_id == case.id)
    ).one_or_none()
    if evidence is None:
        raise NotFound("找不到该材料", code="evidence_not_found")
    return evidence


def accept_case(actor: Actor, number: str) -> Case:
    """Accept a dispatched case; the accept clock stops."""
    case = get_case_by_number(actor, number)
    # The lifecycle's clock hook sets accepted_at in the same transaction.
    return transition_case(case.id, CaseStatus.ACCEPTED, actor)


def return_case(actor: Actor, number: str, reason: str) -> Case:
    """Hand a dispatched case back to the foreman with a reason (wrong street, not ours...)."""
    case = get_case_by_number(actor, number)
    return transition_case(case.id, CaseStatus.RETURNED, actor, StepRequest(reason=reason))


def start_work(actor: Actor, number: str) -> Case:
    """Mark an accepted case as being worked on."""
    case = get_case_by_number(actor, number)
    return transition_case(case.id, CaseStatus.IN_PROGRESS, actor)


def _case_evidence(case_id: int, evidence_ids: list[int]) -> list[int]:
    """The ids, checked to be uploads on this very case (anything else is "not found")."""
    wanted = sorted(set(evidence_ids))
    if not wanted:
        return []
    found = set(
        db.session.scalars(
            sa.select(Evidence.id).where(Evidence.case_id == case_id, Evidence.id.in_(wanted))
        )
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(
            "证据材料不属于该案件或不存在", code="evidence_not_found", details={"ids": missing}
        )
    return wanted


def add_note(
    actor: Actor,
    number: str,
    text: str,
    *,
    evidence_ids: list[int] | None = None,
    worker_visible: bool = False,
    contacted_worker: bool = False,
) -> CaseEvent:
    """Record progress on an accepted case; the first contact with the worker stops its clock."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("请填写进展情况", code="note_required")
    with unit_of_work():
        case = get_case_by_number(actor, number)
        case = get_case_for(actor, case.id, for_update=True)
        if case.status not in NOTE_STATUSES:
            raise InvalidTransition(
                f"案件当前为“{case.status.label}”，请先接收案件", code="not_in_progress"
            )
        ids = _case_evidence(case.id, evidence_ids or [])
        now = utcnow()
        data: dict[str, Any] = {"text": text, "evidence_ids": ids}
        if contacted_worker:
            data["contacted_worker"] = True
            if record_contact(case, now):
                data["first_contact"] = True
        if worker_visible:
            # The worker's timeline shows ``message``; internal notes never get one.
            data["message"] = text
        case.updated_at = now
        event = CaseEvent(
            case_id=case.id,
            kind=EventKind.NOTE,
            actor_role=actor.role,
            actor_id=actor.id,
            data=data,
            worker_visible=worker_visible,
            created_at=now,
        )
        db.session.add(event)
    log.info("note %s on case %s by team member %s", event.id, case.id, actor.id)
    return event


def _check_outcome(resolution: ResolutionIn) -> None:
    """Each outcome's own requirements, refused with a code the client can act on."""
    if resolution.outcome in PAID_OUTCOMES:
        if not resolution.proof_evidence_ids:
            raise InvalidInput("已支付的结果须上传支付凭证", code="proof_required")
        if not resolution.payments:
            raise InvalidInput("已支付的结果须填写每名工人的实付金额", code="payments_required")
    if resolution.outcome == Outcome.INSTALMENT_PLAN and not resolution.instalments:
        raise InvalidInput("分期支付须填写每期的到期日和金额", code="instalments_required")
    if resolution.outcome == Outcome.UNSUBSTANTIATED and not resolution.summary.strip():
        raise InvalidInput("投诉不属实须说明核查情况", code="summary_required")


def outcome_data(case_id: int, resolution: ResolutionIn) -> dict[str, Any]:
    """What ``Case.outcome_data`` keeps: totals in fen, per-worker payments, plan, proof."""
    data: dict[str, Any] = {
        "summary": resolution.summary.strip(),
        "proof_evidence_ids": _case_evidence(case_id, resolution.proof_evidence_ids),
        "payments": [p.model_dump() for p in resolution.payments],
        "amount_paid_fen": sum(p.amount_fen for p in resolution.payments),
    }
    if resolution.outcome == Outcome.INSTALMENT_PLAN:
        plan = sorted(resolution.instalments, key=lambda i: i.due_date)
        data["instalments"] = [
            {"due_date": i.due_date.isoformat(), "amount_fen": i.amount_fen} for i in plan
        ]
        data["amount_planned_fen"] = sum(i.amount_fen for i in plan)
    if resolution.outcome in TRANSFER_OUTCOMES:
        data["transferred_to"] = TRANSFER_OUTCOMES[resolution.outcome]
        if resolution.transfer_reference:
            data["transfer_reference"] = resolution.transfer_reference.strip()
    return data


def resolve_case(actor: Actor, number: str, resolution: ResolutionIn) -> Case:
    """Close the team's work with an outcome; proof must be uploads on this case."""
    case = get_case_by_number(actor, number)
    _check_outcome(resolution)
    data = outcome_data(case.id, resolution)
    return transition_case(
        case.id,
        CaseStatus.RESOLVED,
        actor,
        StepRequest(outcome=resolution.outcome, data=data),
    )
