"""Dispatch policy: which team a case should go to, and the auto-dispatch of overdue 特急 cases."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wagedispute.access.actors import Actor
from wagedispute.cases.clocks import WITH_TEAM, breached_clause
from wagedispute.cases.lifecycle import StepRequest, apply_transition
from wagedispute.messaging.outbox import stage_outbox
from wagedispute.models import Case, CaseStatus, DisposalTeam, Urgency
from wagedispute.platform.database import db, unit_of_work
from wagedispute.platform.errors import DomainError
from wagedispute.platform.timekeeping import db_now

log = logging.getLogger(__name__)

# Cases a team is working on: its open load when suggesting a team.
TEAM_LOAD_STATUSES = WITH_TEAM
AUTO_DISPATCH_REASON = "特急案件超时未分派，系统自动分派"


def suggest_team(case: Case) -> DisposalTeam | None:
    """The active team of the case's street with the fewest open cases (ties: lowest id)."""
    load = (
        sa.select(sa.func.count(Case.id))
        .where(Case.team_id == DisposalTeam.id, Case.status.in_(TEAM_LOAD_STATUSES))
        .correlate(DisposalTeam)
        .scalar_subquery()
    )
    return db.session.scalars(
        sa.select(DisposalTeam)
        .where(DisposalTeam.street_id == case.street_id, DisposalTeam.active)
        .order_by(load, DisposalTeam.id)
        .limit(1)
    ).first()


def auto_dispatch_overdue_critical(now: datetime | None = None) -> list[int]:
    """Dispatch each untriaged 特急 case whose dispatch clock ran out, and tell its foreman."""
    now = now or db_now()
    ids = db.session.scalars(
        sa.select(Case.id)
        .where(
            Case.status == CaseStatus.RECEIVED,
            Case.urgency_suggested == Urgency.CRITICAL,
            Case.urgency_confirmed.is_(None),
            breached_clause("dispatch", now),
        )
        .order_by(Case.dispatch_due_at, Case.id)
    ).all()
    db.session.rollback()
    dispatched = []
    for case_id in ids:
        case = db.session.get(Case, case_id)
        team = suggest_team(case) if case is not None else None
        if team is None:
            db.session.rollback()
            log.warning("critical case %s is overdue but its street has no active team", case_id)
            continue
        request = StepRequest(
            team_id=team.id, urgency=Urgency.CRITICAL, reason=AUTO_DISPATCH_REASON
        )
        try:
            # One unit of work: the foreman is told exactly when the dispatch happened.
            with unit_of_work():
                stage_outbox(
                    "foreman_auto_dispatch",
                    f"foreman_auto_dispatch:{case_id}",
                    {"case_id": case_id, "team_id": team.id, "foreman_id": case.foreman_id},
                    case_id=case_id,
                )
                apply_transition(case_id, CaseStatus.DISPATCHED, Actor.system(), request)
        except (DomainError, IntegrityError):
            # Someone dispatched or closed it meanwhile; nothing of this attempt was kept.
            log.info("case %s was not auto-dispatched: it changed meanwhile", case_id)
            continue
        log.info("critical case %s auto-dispatched to team %s", case_id, team.id)
        dispatched.append(case_id)
    return dispatched
