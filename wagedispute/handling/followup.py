"""回访: after resolution the worker confirms or disputes and rates; silence closes the case.

Silence closes a case only when the worker was told of the outcome (a message reached them) or
was phoned. A case whose worker was never told becomes a follow-up call task (回访) for the
team, with its own working-day clock; once the team records that it reached the worker, the
seven days run again from the call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.clocks import add_working_days
from wagedispute.cases.lifecycle import StepRequest, apply_transition, transition_case
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.messaging.notifications import undelivered_messages, worker_told_clause
from wagedispute.messaging.outbox import stage_outbox
from wagedispute.models import Case, CaseEvent, CaseStatus, EventKind, Role
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, DomainError, Forbidden, InvalidInput

log = logging.getLogger(__name__)

# No answer within this long after resolution counts as satisfied.
FOLLOWUP_WINDOW = timedelta(days=7)
AUTO_CLOSE_REASON = "处置结果发出后7日内未收到确认，系统自动结案"
FOLLOWUP_CALL_MESSAGE = "处置结果未能通知到工人，转处置小组电话回访"
FOLLOWUP_CALL_TOPIC = "followup_call"
RATEABLE_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REOPENED})


def _has_rating(case_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.RATING
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
            kind=EventKind.RATING,
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
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.RATING)
        .order_by(CaseEvent.id.desc())
    ).first()
    log.info("case %s rated %s", case.id, score)
    return event


def close_unanswered(now: datetime | None = None) -> list[int]:
    """Close, as the system, every case resolved more than 7 days ago whose worker was told of
    the outcome (or phoned 7 days ago) and did not answer; turn each case whose worker was never
    told into a follow-up call task for the team instead."""
    now = now or utcnow()
    cutoff = now - FOLLOWUP_WINDOW
    resolved_long_ago = sa.and_(Case.status == CaseStatus.RESOLVED, Case.resolved_at <= cutoff)
    heard = sa.or_(worker_told_clause(CaseStatus.RESOLVED), Case.followup_called_at.is_not(None))
    due = list(
        db.session.scalars(
            sa.select(Case.id)
            .where(
                resolved_long_ago,
                heard,
                sa.or_(Case.followup_called_at.is_(None), Case.followup_called_at <= cutoff),
            )
            .order_by(Case.id)
        )
    )
    unheard = list(
        db.session.scalars(
            sa.select(Case.id)
            .where(resolved_long_ago, ~heard, Case.followup_call_due_at.is_(None))
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
    for case_id in unheard:
        open_followup_call(case_id, now)
    if closed:
        log.info("auto-closed %d unanswered cases", len(closed))
    return closed


def open_followup_call(case_id: int, now: datetime | None = None) -> Case:
    """Give the team a 回访 call task with its own due time (working days); commits once."""
    now = now or utcnow()
    days = int(current_app.config.get("FOLLOWUP_CALL_WORKING_DAYS", 2))
    with unit_of_work():
        case = get_case_for(Actor.system(), case_id, for_update=True)
        if case.status != CaseStatus.RESOLVED or case.followup_call_due_at is not None:
            return case
        case.followup_call_due_at = add_working_days(now, days)
        event = CaseEvent(
            case_id=case.id,
            kind=EventKind.FOLLOWUP_CALL,
            actor_role=Role.SYSTEM,
            data={
                "message": FOLLOWUP_CALL_MESSAGE,
                "due_at": case.followup_call_due_at.isoformat(timespec="seconds"),
            },
            worker_visible=False,
        )
        db.session.add(event)
        db.session.flush()
        stage_outbox(
            FOLLOWUP_CALL_TOPIC,
            f"followup_call:{case.id}:{event.id}",
            {"event_id": event.id},
            case_id=case.id,
        )
    log.info("case %s: worker never told of the outcome, follow-up call due", case_id)
    return case


def followup_call_overdue(case: Case, now: datetime | None = None) -> bool:
    """Whether the team's 回访 call is past its due time and not yet made."""
    now = now or utcnow()
    return (
        case.followup_call_due_at is not None
        and case.followup_called_at is None
        and case.followup_call_due_at <= now
    )


def record_followup_call(actor: Actor, number: str, *, reached: bool, note: str = "") -> Case:
    """The team records its 回访 call: reaching the worker (who heard the outcome) restarts the
    seven days; not reaching them is logged and the call stays due."""
    if actor.role != Role.TEAM_MEMBER:
        raise Forbidden()
    note = (note or "").strip()[:500]
    with unit_of_work():
        case = get_case_by_number(actor, number)
        case = get_case_for(actor, case.id, for_update=True)
        if case.status != CaseStatus.RESOLVED or case.followup_call_due_at is None:
            raise Conflict("该案件没有待办的电话回访", code="no_followup_call")
        if reached:
            case.followup_called_at = utcnow()
        db.session.add(
            CaseEvent(
                case_id=case.id,
                kind=EventKind.FOLLOWUP_CALL_MADE if reached else EventKind.FOLLOWUP_CALL_MISSED,
                actor_role=actor.role,
                actor_id=actor.id,
                data={
                    "message": "已电话告知工人处置结果" if reached else "电话回访未能联系上工人",
                    "note": note or None,
                },
                worker_visible=False,
            )
        )
    return case


def undelivered_for(actor: Actor, case_id: int | None = None) -> list[dict[str, Any]]:
    """Messages that reached nobody on the cases the actor may see (one case, or all), newest
    first: the foreman and the street's console act on them (phone the person, bind WeChat)."""
    clause = case_scope(actor)
    if case_id is not None:
        clause = sa.and_(clause, Case.id == case_id)
    return undelivered_messages(clause)


def followup_calls_for(actor: Actor) -> list[Case]:
    """Resolved cases of the actor's scope whose worker must still be phoned (回访), due first."""
    return list(
        db.session.scalars(
            sa.select(Case)
            .where(
                case_scope(actor),
                Case.status == CaseStatus.RESOLVED,
                Case.followup_call_due_at.is_not(None),
                Case.followup_called_at.is_(None),
            )
            .order_by(Case.followup_call_due_at, Case.id)
            .limit(200)
        )
    )
