"""The one case state machine: a table of allowed steps and the service that applies any step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wagedispute.access.actors import Actor, get_case_for
from wagedispute.cases.clocks import apply_clocks
from wagedispute.messaging.outbox import stage_outbox
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    DisposalTeam,
    EventKind,
    Outcome,
    Role,
    Urgency,
)
from wagedispute.platform.database import db, unit_of_work
from wagedispute.platform.errors import Forbidden, InvalidInput, InvalidTransition
from wagedispute.platform.timekeeping import db_now

S = CaseStatus
R = Role

# (from, to) -> the roles that may take that step. ``None`` as "from" is creation.
TRANSITIONS: Mapping[tuple[CaseStatus | None, CaseStatus], frozenset[Role]] = {
    (None, S.RECEIVED): frozenset({R.COMPLAINANT, R.FOREMAN, R.IMPORT}),
    (S.RECEIVED, S.DISPATCHED): frozenset({R.FOREMAN, R.SYSTEM}),
    (S.RECEIVED, S.REJECTED): frozenset({R.FOREMAN, R.STAFF}),
    (S.DISPATCHED, S.ACCEPTED): frozenset({R.TEAM_MEMBER}),
    (S.DISPATCHED, S.RETURNED): frozenset({R.TEAM_MEMBER}),
    (S.RETURNED, S.DISPATCHED): frozenset({R.FOREMAN, R.STAFF}),
    (S.RETURNED, S.REJECTED): frozenset({R.FOREMAN, R.STAFF}),
    # Reassignment to another team, with a reason.
    (S.DISPATCHED, S.DISPATCHED): frozenset({R.STAFF}),
    (S.ACCEPTED, S.DISPATCHED): frozenset({R.STAFF}),
    (S.IN_PROGRESS, S.DISPATCHED): frozenset({R.STAFF}),
    (S.ACCEPTED, S.IN_PROGRESS): frozenset({R.TEAM_MEMBER}),
    (S.ACCEPTED, S.RESOLVED): frozenset({R.TEAM_MEMBER}),
    (S.IN_PROGRESS, S.RESOLVED): frozenset({R.TEAM_MEMBER}),
    (S.RESOLVED, S.CLOSED): frozenset({R.COMPLAINANT, R.SYSTEM}),
    (S.RESOLVED, S.REOPENED): frozenset({R.COMPLAINANT}),
    (S.REOPENED, S.DISPATCHED): frozenset({R.FOREMAN, R.STAFF}),
    **{(s, S.WITHDRAWN): frozenset({R.COMPLAINANT}) for s in OPEN_STATUSES},
}

PAID_OUTCOMES = frozenset({Outcome.PAID_IN_FULL, Outcome.PAID_IN_PART})
REASON_REQUIRED = frozenset({S.REJECTED, S.RETURNED, S.REOPENED})

# What the worker's timeline says for each step; internal detail stays with staff.
WORKER_MESSAGES = {
    S.RECEIVED: "您的投诉已受理",
    S.DISPATCHED: "已分派给街道处置工作小组",
    S.ACCEPTED: "处置工作小组已接收，将尽快联系您",
    S.IN_PROGRESS: "处置工作小组正在处理",
    S.RETURNED: "工长正在重新安排处置小组",
    S.RESOLVED: "处置结果已出，请确认",
    S.CLOSED: "已结案",
    S.REOPENED: "您对处置结果有异议，已转信访局督办",
    S.REJECTED: "经核实不属于欠薪投诉受理范围",
    S.WITHDRAWN: "您已撤回投诉",
}


@dataclass(frozen=True)
class StepRequest:
    """What the caller asks for, beyond the target status."""

    reason: str | None = None
    team_id: int | None = None
    urgency: Urgency | None = None
    outcome: Outcome | None = None
    data: dict[str, Any] = field(default_factory=dict)


def allowed_roles(from_status: CaseStatus | None, to_status: CaseStatus) -> frozenset[Role]:
    """The roles that may move a case from one status to another (empty: never)."""
    return TRANSITIONS.get((from_status, to_status), frozenset())


def apply_transition(
    case_id: int, to_status: CaseStatus, actor: Actor, request: StepRequest | None = None
) -> Case:
    """Stage one step of the state machine in the caller's unit of work: lock, check, change,
    audit, and owe its side effects. Nothing is committed here."""
    request = request or StepRequest()
    case = get_case_for(actor, case_id, for_update=True)
    from_status = case.status
    roles = allowed_roles(from_status, to_status)
    if not roles:
        raise InvalidTransition(
            f"案件当前为“{from_status.label}”，不能变更为“{to_status.label}”",
            details={"from": from_status.value, "to": to_status.value},
        )
    if actor.role not in roles:
        raise Forbidden(details={"from": from_status.value, "to": to_status.value})
    event_data = _apply_step(case, from_status, to_status, actor, request)
    event = CaseEvent(
        case_id=case.id,
        kind=EventKind.STATUS,
        from_status=from_status,
        to_status=to_status,
        actor_role=actor.role,
        actor_id=actor.id,
        data=event_data,
        worker_visible=True,
    )
    db.session.add(event)
    db.session.flush()
    _owe_side_effects(case, event)
    return case


def transition_case(
    case_id: int, to_status: CaseStatus, actor: Actor, request: StepRequest | None = None
) -> Case:
    """Apply one step of the state machine as its own unit of work."""
    with unit_of_work():
        case = apply_transition(case_id, to_status, actor, request)
    return case


def _apply_step(
    case: Case,
    from_status: CaseStatus,
    to_status: CaseStatus,
    actor: Actor,
    request: StepRequest,
) -> dict[str, Any]:
    """Validate the step's own requirements and change the case; return the event's data."""
    now = db_now()
    data: dict[str, Any] = {"message": WORKER_MESSAGES[to_status]}
    reason = (request.reason or "").strip()
    reassigning = to_status == S.DISPATCHED and from_status in {
        S.DISPATCHED,
        S.ACCEPTED,
        S.IN_PROGRESS,
    }
    if (to_status in REASON_REQUIRED or reassigning) and not reason:
        raise InvalidInput("请填写原因", code="reason_required")
    if reason:
        data["reason"] = reason

    if to_status == S.DISPATCHED:
        team = _active_team(request.team_id)
        if reassigning and team.id == case.team_id:
            raise InvalidInput("改派须选择其他处置小组", code="same_team")
        urgency = request.urgency or case.urgency_confirmed
        if urgency is None:
            raise InvalidInput("分派前须确认紧急程度", code="urgency_required")
        if case.urgency_confirmed != urgency:
            data["urgency"] = urgency.value
        case.urgency_confirmed = urgency
        data["team_id"] = team.id
        data["previous_team_id"] = case.team_id
        case.team_id = team.id
        case.dispatched_at = now
    elif to_status == S.RESOLVED:
        if request.outcome is None:
            raise InvalidInput("请选择处置结果", code="outcome_required")
        if request.outcome in PAID_OUTCOMES and not request.data.get("proof_evidence_ids"):
            raise InvalidInput("已支付的结果须上传支付凭证", code="proof_required")
        case.outcome = request.outcome
        case.outcome_data = dict(request.data)
        case.resolved_at = now
        data["outcome"] = request.outcome.value
    elif to_status == S.REOPENED:
        case.flagged_to_bureau = True
    elif to_status in {S.CLOSED, S.REJECTED, S.WITHDRAWN}:
        case.closed_at = now

    # Before the status changes: the clocks need the status the case leaves.
    apply_clocks(case, to_status, now)
    case.status = to_status
    case.updated_at = now
    return data


def _active_team(team_id: int | None) -> DisposalTeam:
    """The team a case is dispatched to; it must exist and be active."""
    if team_id is None:
        raise InvalidInput("请选择处置小组", code="team_required")
    team = db.session.scalars(
        sa.select(DisposalTeam).where(DisposalTeam.id == team_id, DisposalTeam.active)
    ).one_or_none()
    if team is None:
        raise InvalidInput("处置小组不存在或已停用", code="team_not_found")
    return team


def _owe_side_effects(case: Case, event: CaseEvent) -> None:
    """Write, in the same transaction, what must happen once this step is committed."""
    stage_outbox(
        "case_step",
        f"case_step:{event.id}",
        {"event_id": event.id, "to_status": event.to_status},
        case_id=case.id,
    )


def open_case(
    case: Case,
    actor: Actor,
    *,
    event_data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Case:
    """Stage a new case in ``received`` with its creation event; the calling service commits.

    Intake builds the case (number, triage, group, complainant) and commits once, so that the
    complaint, its audit row and what it owes afterwards are one transaction. The clocks are
    set before the case is written (one INSERT, no UPDATE after it); ``now`` is the caller's
    own database time, when it has one.
    """
    if actor.role not in allowed_roles(None, S.RECEIVED):
        raise Forbidden()
    case.status = S.RECEIVED
    if case.urgency_suggested is None:  # the column's default, which the clocks need now
        case.urgency_suggested = Case.__table__.c.urgency_suggested.default.arg
    apply_clocks(case, S.RECEIVED, now or db_now())
    db.session.add(case)
    db.session.flush()
    event = CaseEvent(
        case_id=case.id,
        kind=EventKind.STATUS,
        from_status=None,
        to_status=S.RECEIVED,
        actor_role=actor.role,
        actor_id=actor.id,
        data={"message": WORKER_MESSAGES[S.RECEIVED], **(event_data or {})},
        worker_visible=True,
    )
    db.session.add(event)
    db.session.flush()
    _owe_side_effects(case, event)
    return case
