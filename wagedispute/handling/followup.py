"""回访: after resolution the worker confirms or disputes and rates; silence closes the case."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from wagedispute.access.actors import Actor, get_case_for
from wagedispute.cases.lifecycle import StepRequest, apply_transition, transition_case
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.models import Case, CaseEvent, CaseStatus
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, DomainError, InvalidInput

log = logging.getLogger(__name__)

# No answer within this long after resolution counts as satisfied.
FOLLOWUP_WINDOW = timedelta(days=7)
AUTO_CLOSE_REASON = "处置结果发出后7日内未收到确认，系统自动结案"
RATEABLE_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REOPENED})


def _has_rating(case_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case_id, CaseEvent.kind == "rating"
            )
        )
        > 0
    )


def _stage_rating(case: Case, actor: Actor, score: int, comment: str | None) -> None:
    """Add the rating event to the open transaction; one rating per case."""
    if not 1 <= score <= 5:
        raise InvalidInput("评分须为1至5分", code="score_invalid")
    if _has_rating(case.id):
        raise Conflict("您已评价过该案件", code="already_rated")
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind="rating",
            actor_role=actor.role,
            actor_id=actor.id,
            data={"score": score, "comment": (comment or "").strip() or None},
            worker_visible=False,
        )
    )


def confirm_resolution(
    actor: Actor, number: str, *, score: int | None = None, comment: str | None = None
) -> Case:
    """The worker accepts the outcome: the case closes (with an optional rating, same commit)."""
    with unit_of_work():
        case = get_case_by_number(actor, number)
        if score is not None and case.status == CaseStatus.RESOLVED:
            _stage_rating(case, actor, score, comment)
        case = apply_transition(case.id, CaseStatus.CLOSED, actor)
    return case


def dispute_resolution(
    actor: Actor,
    number: str,
    reason: str,
    *,
    score: int | None = None,
    comment: str | None = None,
) -> Case:
    """The worker disputes the outcome: the case reopens and is flagged to the bureau."""
    with unit_of_work():
        case = get_case_by_number(actor, number)
        if score is not None and case.status == CaseStatus.RESOLVED:
            _stage_rating(case, actor, score, comment)
        case = apply_transition(case.id, CaseStatus.REOPENED, actor, StepRequest(reason=reason))
    return case


def rate_case(actor: Actor, number: str, score: int, comment: str | None = None) -> CaseEvent:
    """The worker rates the handling 1–5 once the case is resolved (console reads the event)."""
    with unit_of_work():
        case = get_case_by_number(actor, number)
        case = get_case_for(actor, case.id, for_update=True)
        if case.status not in RATEABLE_STATUSES:
            raise Conflict("案件办结后才能评价", code="not_resolved")
        _stage_rating(case, actor, score, comment)
    event = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "rating")
        .order_by(CaseEvent.id.desc())
    ).first()
    log.info("case %s rated %s", case.id, score)
    return event


def close_unanswered(now: datetime | None = None) -> list[int]:
    """Close, as the system, every case resolved more than 7 days ago without an answer."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            sa.select(Case.id)
            .where(Case.status == CaseStatus.RESOLVED, Case.resolved_at <= now - FOLLOWUP_WINDOW)
            .order_by(Case.id)
        )
    )
    closed: list[int] = []
    for case_id in due:
        try:
            transition_case(
                case_id, CaseStatus.CLOSED, Actor.system(), StepRequest(reason=AUTO_CLOSE_REASON)
            )
        except DomainError as exc:
            # The worker answered in the meantime: nothing to do for this one.
            log.info("case %s not auto-closed: %s", case_id, exc.code)
            continue
        closed.append(case_id)
    if closed:
        log.info("auto-closed %d unanswered cases", len(closed))
    return closed
