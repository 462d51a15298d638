"""What a foreman does with a lead: the queue, urgency, dispatch, reject, merge and split."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import defer

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.grouping import group_totals
from wagedispute.cases.lifecycle import StepRequest, apply_transition
from wagedispute.handling.dispatch import TEAM_LOAD_STATUSES, suggest_team
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.messaging.notifications import UNREACHABLE_TEAM_WARNING, team_notifiable
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    DisposalTeam,
    DisputeGroup,
    EventKind,
    Evidence,
    TeamMember,
    Urgency,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, InvalidInput
from wagedispute.platform.paging import Page, paginate, paginate_rows

log = logging.getLogger(__name__)

# What waits for the foreman: new leads, cases a team handed back, and disputed resolutions.
QUEUE_STATUSES = (CaseStatus.RECEIVED, CaseStatus.RETURNED, CaseStatus.REOPENED)
QUEUE_LIMIT = 200


@dataclass(frozen=True)
class QueueItem:
    """One lead in the foreman's queue with the team the system suggests for it."""

    case: Case
    suggested_team: DisposalTeam | None
    group: DisputeGroup | None

    @property
    def dispatch_warning(self) -> str | None:
        """Said before dispatch when nobody in the suggested team can get the WeChat message."""
        return dispatch_warning(self.suggested_team)


def dispatch_warning(team: DisposalTeam | None) -> str | None:
    """The foreman's warning before dispatching to a team nobody in which WeChat can reach."""
    if team is None or team_notifiable(team.id):
        return None
    return UNREACHABLE_TEAM_WARNING


@dataclass(frozen=True)
class CaseDetail:
    """A case as staff-side people (foreman, team) see it: all events, all evidence."""

    case: Case
    events: list[CaseEvent]
    evidence: list[Evidence]
    group: DisputeGroup | None
    team: DisposalTeam | None


def urgency_rank() -> sa.ColumnElement[int]:
    """SQL sort key of the level in force: critical 0, urgent 1, normal 2."""
    level = sa.func.coalesce(Case.urgency_confirmed, Case.urgency_suggested)
    return sa.case(
        (level == Urgency.CRITICAL.value, 0), (level == Urgency.URGENT.value, 1), else_=2
    )


def foreman_queue(actor: Actor, limit: int = QUEUE_LIMIT) -> list[QueueItem]:
    """The actor's leads waiting for triage: most urgent first, then oldest first."""
    cases = db.session.scalars(
        sa.select(Case)
        .where(case_scope(actor), Case.status.in_(QUEUE_STATUSES))
        .order_by(urgency_rank(), Case.created_at, Case.id)
        .limit(limit)
    ).all()
    return [
        QueueItem(case=case, suggested_team=suggest_team(case), group=case.group) for case in cases
    ]


# What the foreman follows after dispatching: in the teams' hands, or resolved awaiting the worker.
DISPATCHED_STATUSES = (
    CaseStatus.DISPATCHED,
    CaseStatus.ACCEPTED,
    CaseStatus.IN_PROGRESS,
    CaseStatus.RESOLVED,
)


def page_foreman_queue(
    actor: Actor, cursor: str | None = None, limit: int | None = None
) -> Page[QueueItem]:
    """One page of the foreman's queue, in the order of ``foreman_queue``."""
    page = paginate(
        sa.select(Case)
        .where(case_scope(actor), Case.status.in_(QUEUE_STATUSES))
        .order_by(urgency_rank(), Case.created_at, Case.id),
        cursor,
        limit,
    )
    items = [QueueItem(case=c, suggested_team=suggest_team(c), group=c.group) for c in page.items]
    return Page(items, page.next_cursor)


def dispatched_cases(
    actor: Actor, cursor: str | None = None, limit: int | None = None
) -> Page[Case]:
    """The foreman's dispatched cases still being handled: most urgent, then longest waiting."""
    return paginate(
        sa.select(Case)
        .where(case_scope(actor), Case.status.in_(DISPATCHED_STATUSES))
        .order_by(urgency_rank(), Case.dispatched_at, Case.id),
        cursor,
        limit,
    )


@dataclass(frozen=True)
class TeamChoice:
    """A team a foreman may dispatch to, with what makes it a good choice."""

    team: DisposalTeam
    open_cases: int
    notifiable_members: int


def team_choices(cursor: str | None = None, limit: int | None = None) -> Page[TeamChoice]:
    """Active teams with their open load and how many members WeChat can reach, by street."""
    load = (
        sa.select(sa.func.count(Case.id))
        .where(Case.team_id == DisposalTeam.id, Case.status.in_(TEAM_LOAD_STATUSES))
        .correlate(DisposalTeam)
        .scalar_subquery()
    )
    reachable = (
        sa.select(sa.func.count(TeamMember.id))
        .where(
            TeamMember.team_id == DisposalTeam.id,
            TeamMember.active,
            TeamMember.openid.is_not(None),
        )
        .correlate(DisposalTeam)
        .scalar_subquery()
    )
    page = paginate_rows(
        sa.select(DisposalTeam, load, reachable)
        .where(DisposalTeam.active)
        .order_by(DisposalTeam.street_id, DisposalTeam.name, DisposalTeam.id),
        cursor,
        limit,
    )
    choices = [TeamChoice(team, int(open_), int(members)) for team, open_, members in page.items]
    return Page(choices, page.next_cursor)


def handling_case_detail(actor: Actor, number: str) -> CaseDetail:
    """One case with its full audit trail and evidence list, if the actor may see it."""
    case = get_case_by_number(actor, number)
    events = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    evidence = db.session.scalars(
        sa.select(Evidence)
        .where(Evidence.case_id == case.id)
        .order_by(Evidence.id)
        .options(defer(Evidence.data))
    ).all()
    return CaseDetail(case, list(events), list(evidence), case.group, case.team)


def suggested_team_for(actor: Actor, number: str) -> DisposalTeam | None:
    """The team the system suggests for one of the actor's cases."""
    return suggest_team(get_case_by_number(actor, number))


def active_teams() -> list[DisposalTeam]:
    """Every active disposal team, by street then name (a foreman may pick any)."""
    return list(
        db.session.scalars(
            sa.select(DisposalTeam)
            .where(DisposalTeam.active)
            .order_by(DisposalTeam.street_id, DisposalTeam.name)
        )
    )


def _stage_urgency(case: Case, actor: Actor, level: Urgency, reason: str | None) -> bool:
    """Set the confirmed level in the open transaction; an override needs a reason.

    Returns whether anything changed (the level already confirmed changes nothing).
    """
    reason = (reason or "").strip()
    previous = case.urgency_confirmed
    if previous == level:
        return False
    if level != case.urgency_suggested and not reason:
        raise InvalidInput("调整系统建议的紧急程度须填写原因", code="reason_required")
    data: dict[str, Any] = {
        "from": (previous or case.urgency_suggested).value,
        "to": level.value,
        "suggested": case.urgency_suggested.value,
        "override": level != case.urgency_suggested,
    }
    if reason:
        data["reason"] = reason
    case.urgency_confirmed = level
    case.updated_at = utcnow()
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind=EventKind.URGENCY,
            actor_role=actor.role,
            actor_id=actor.id,
            data=data,
            worker_visible=False,
        )
    )
    return True


def set_urgency(actor: Actor, number: str, level: Urgency, reason: str | None = None) -> Case:
    """Confirm the suggested urgency, or override it with a reason; logged as an event."""
    with unit_of_work():
        case = get_case_by_number(actor, number)
        case = get_case_for(actor, case.id, for_update=True)
        if case.status not in QUEUE_STATUSES:
            raise Conflict("案件已分派或已结束，不能再调整紧急程度", code="not_in_triage")
        _stage_urgency(case, actor, level, reason)
    log.info("case %s urgency set to %s by %s %s", case.id, level.value, actor.role, actor.id)
    return case


def dispatch_case(
    actor: Actor,
    number: str,
    team_id: int,
    *,
    urgency: Urgency | None = None,
    urgency_reason: str | None = None,
    note: str | None = None,
) -> Case:
    """Dispatch a new, returned or reopened case to a team, confirming its urgency on the way.

    Without ``urgency`` the level already confirmed is used (or, if none, the suggestion is
    confirmed as is). The urgency event and the dispatch are one transaction.
    """
    with unit_of_work():
        case = get_case_by_number(actor, number)
        level = urgency or case.urgency_confirmed or case.urgency_suggested
        if case.status in QUEUE_STATUSES:
            _stage_urgency(case, actor, level, urgency_reason)
        case = apply_transition(
            case.id,
            CaseStatus.DISPATCHED,
            actor,
            StepRequest(team_id=team_id, urgency=level, reason=note),
        )
    return case


def reject_case(actor: Actor, number: str, reason: str, referral: str | None = None) -> Case:
    """Reject a lead (not a wage dispute, a duplicate) with a reason and where to turn instead."""
    referral = (referral or "").strip()
    with unit_of_work():
        case = get_case_by_number(actor, number)
        if referral:
            # The worker needs to know where to go: a worker-visible event in the same commit.
            db.session.add(
                CaseEvent(
                    case_id=case.id,
                    kind=EventKind.REFERRAL,
                    actor_role=actor.role,
                    actor_id=actor.id,
                    data={"referral": referral, "message": f"建议您向{referral}反映"},
                    worker_visible=True,
                )
            )
        case = apply_transition(
            case.id,
            CaseStatus.REJECTED,
            actor,
            StepRequest(reason=reason, data={"referral": referral} if referral else {}),
        )
    return case


def _recount(group: DisputeGroup) -> None:
    """Totals from the member cases themselves, so a merge or split can never drift them."""
    count, people, workers, amount = group_totals(db.session, group.id)
    group.case_count = count
    group.complainants_total = people
    group.workers_total = workers
    group.amount_total_fen = amount


def _group_event(
    case: Case, actor: Actor, action: str, old: DisputeGroup | None, new: DisputeGroup | None
) -> None:
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind=EventKind.GROUP,
            actor_role=actor.role,
            actor_id=actor.id,
            data={
                "action": action,
                "from_group_id": old.id if old else None,
                "to_group_id": new.id if new else None,
                "from_group_totals": _totals(old),
                "to_group_totals": _totals(new),
            },
            worker_visible=False,
        )
    )


def _totals(group: DisputeGroup | None) -> dict[str, int] | None:
    if group is None:
        return None
    return {
        "case_count": group.case_count,
        "workers_total": group.workers_total,
        "amount_total_fen": group.amount_total_fen,
    }


def _lock_groups(*groups: DisputeGroup | None) -> None:
    """Lock the groups' rows in id order, so concurrent merges never deadlock or drift totals."""
    ids = sorted({g.id for g in groups if g is not None})
    if ids:
        db.session.execute(
            sa.select(DisputeGroup.id).where(DisputeGroup.id.in_(ids)).with_for_update()
        ).all()


def merge_case(actor: Actor, number: str, into_number: str) -> DisputeGroup:
    """Join a case to the dispute group of another case (both within the actor's scope)."""
    if number == into_number:
        raise InvalidInput("不能与自身合并", code="same_case")
    with unit_of_work():
        case = get_case_by_number(actor, number)
        target = get_case_by_number(actor, into_number)
        old = case.group
        now = utcnow()
        if target.group is None:
            group = DisputeGroup(
                match_key=f"case:{target.number}",
                title=(target.site_name or "未命名工地")[:160],
                street_id=target.street_id,
                case_count=0,
                workers_total=0,
                amount_total_fen=0,
                created_at=now,
                last_case_at=now,
            )
            db.session.add(group)
            db.session.flush()
            target.group_id = group.id
            target.updated_at = now
            db.session.flush()
            _recount(group)
            _group_event(target, actor, "merge_target", None, group)
        else:
            group = target.group
        if old is not None and old.id == group.id:
            raise Conflict("两件案件已在同一纠纷组", code="already_grouped")
        _lock_groups(old, group)
        case.group_id = group.id
        case.updated_at = now
        group.last_case_at = now
        db.session.flush()
        if old is not None:
            _recount(old)
        _recount(group)
        _group_event(case, actor, "merge", old, group)
    log.info("case %s merged into group %s by %s %s", case.id, group.id, actor.role, actor.id)
    return group


def split_case(actor: Actor, number: str) -> DisputeGroup:
    """Take a case out of its dispute group; it stands alone in a group of its own."""
    with unit_of_work():
        case = get_case_by_number(actor, number)
        old = case.group
        members = db.session.scalar(
            sa.select(sa.func.count(Case.id)).where(Case.group_id == case.group_id)
        )
        if old is None or members <= 1:
            raise Conflict("该案件未与其他案件合并", code="not_grouped")
        now = utcnow()
        group = DisputeGroup(
            match_key=f"case:{case.number}",
            title=(case.site_name or "未命名工地")[:160],
            street_id=case.street_id,
            case_count=0,
            workers_total=0,
            amount_total_fen=0,
            created_at=now,
            last_case_at=now,
        )
        db.session.add(group)
        db.session.flush()
        _lock_groups(old)
        case.group_id = group.id
        case.updated_at = now
        db.session.flush()
        _recount(old)
        _recount(group)
        _group_event(case, actor, "split", old, group)
    log.info("case %s split from group %s by %s %s", case.id, old.id, actor.role, actor.id)
    return group
