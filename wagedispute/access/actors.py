"""Who is acting, and which cases that actor may see (every query is scoped here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from wagedispute.models import Case, Role, StaffRole
from wagedispute.platform.database import db
from wagedispute.platform.errors import NotFound


@dataclass(frozen=True)
class Actor:
    """A signed-in person (or the system) with the ids that bound what they may touch."""

    role: Role
    id: int | None = None
    team_id: int | None = None
    street_id: int | None = None
    staff_role: StaffRole | None = None

    @classmethod
    def system(cls) -> Actor:
        """The scheduler, the reconciler and other automatic steps."""
        return cls(Role.SYSTEM)


def case_scope(actor: Actor) -> sa.ColumnElement[bool]:
    """The WHERE clause limiting cases to what the actor may see."""
    match actor.role:
        case Role.SYSTEM:
            return sa.true()
        case Role.COMPLAINANT:
            return Case.complainant_id == actor.id
        case Role.FOREMAN:
            return Case.foreman_id == actor.id
        case Role.TEAM_MEMBER:
            return Case.team_id == actor.team_id
        case Role.STAFF:
            return street_scope(actor, Case.street_id)
    return sa.false()


def street_scope(actor: Actor, street_id: Any) -> sa.ColumnElement[bool]:
    """The bureau's scope over rows tied to a street (cases, letters, packs, alerts, tasks).

    Street staff see their own street, district staff and the system see every street, anyone
    else sees nothing. ``street_id`` is the row's street column.
    """
    if actor.role == Role.STAFF and actor.staff_role == StaffRole.STREET_STAFF:
        return street_id == actor.street_id
    if actor.role in {Role.STAFF, Role.SYSTEM}:
        return sa.true()
    return sa.false()


def get_case_for(actor: Actor, case_id: int, *, for_update: bool = False) -> Case:
    """Load a case the actor may see; anything else is "not found", never "forbidden"."""
    stmt = sa.select(Case).where(Case.id == case_id, case_scope(actor))
    if for_update:
        stmt = stmt.with_for_update()
    case = db.session.scalars(stmt).one_or_none()
    if case is None:
        raise NotFound()
    return case
