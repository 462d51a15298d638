"""The roster the bureau keeps: foremen, disposal teams and their members, QR codes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from wagedispute.access.actors import Actor
from wagedispute.access.binding import IssuedBindingCode, issue_binding_code
from wagedispute.access.tokens import revoke_tokens
from wagedispute.intake.qrcodes import create_qr_code, rotate_qr_code
from wagedispute.models import (
    DisposalTeam,
    Foreman,
    QrCode,
    QrStatus,
    Role,
    StaffRole,
    Street,
    TeamMember,
)
from wagedispute.platform.database import db, unit_of_work
from wagedispute.platform.errors import Conflict, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)


@dataclass
class Roster:
    """Foremen (with live QR codes) and teams (with members) the actor may see."""

    streets: list[Street]
    foremen: list[Foreman]
    qr_codes: dict[int, list[QrCode]]
    teams: list[DisposalTeam]


def _require_staff(actor: Actor) -> None:
    if actor.role != Role.STAFF:
        raise Forbidden()


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.STAFF or actor.staff_role != StaffRole.DISTRICT_ADMIN:
        raise Forbidden()


def roster_for(actor: Actor) -> Roster:
    """The roster in the actor's scope (street staff: their street only)."""
    _require_staff(actor)
    streets = sa.select(Street).order_by(Street.id)
    foremen = sa.select(Foreman).options(selectinload(Foreman.street)).order_by(Foreman.id)
    teams = (
        sa.select(DisposalTeam)
        .options(selectinload(DisposalTeam.members), selectinload(DisposalTeam.street))
        .order_by(DisposalTeam.street_id, DisposalTeam.id)
    )
    if actor.street_id is not None:
        streets = streets.where(Street.id == actor.street_id)
        foremen = foremen.where(Foreman.street_id == actor.street_id)
        teams = teams.where(DisposalTeam.street_id == actor.street_id)
    foreman_list = list(db.session.scalars(foremen))
    qr: dict[int, list[QrCode]] = {}
    if foreman_list:
        for code in db.session.scalars(
            sa.select(QrCode)
            .where(
                QrCode.foreman_id.in_([f.id for f in foreman_list]),
                QrCode.status == QrStatus.ACTIVE,
            )
            .order_by(QrCode.id)
        ):
            qr.setdefault(code.foreman_id, []).append(code)
    return Roster(
        streets=list(db.session.scalars(streets)),
        foremen=foreman_list,
        qr_codes=qr,
        teams=list(db.session.scalars(teams)),
    )


def _phone(raw: str) -> str:
    """A mainland mobile or landline number, normalised to its national digits."""
    raw = raw.strip()
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("电话号码无效", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("电话号码无效", code="invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).removeprefix(
        "+86"
    )


def _street(street_id: int | None) -> Street:
    street = db.session.get(Street, street_id) if street_id is not None else None
    if street is None:
        raise InvalidInput("请选择街道", code="street_required")
    return street


def _name(raw: str, what: str) -> str:
    name = raw.strip()
    if not name or len(name) > 64:
        raise InvalidInput(f"请填写{what}", code="name_required")
    return name


def create_foreman(actor: Actor, *, name: str, phone: str, street_id: int | None) -> Foreman:
    """Appoint a foreman for a street (district admin)."""
    _require_admin(actor)
    foreman = Foreman(
        name=_name(name, "工长姓名"), phone=_phone(phone), street_id=_street(street_id).id
    )
    db.session.add(foreman)
    db.session.commit()
    log.info("foreman %s created by staff %s", foreman.id, actor.id)
    return foreman


def set_foreman_active(actor: Actor, foreman_id: int, active: bool) -> Foreman:
    """Deactivate a foreman (their QR codes then point workers to the street's contact)."""
    _require_admin(actor)
    foreman = db.session.get(Foreman, foreman_id)
    if foreman is None:
        raise NotFound()
    with unit_of_work():
        foreman.active = active
        # An old token must not outlive the deactivation (nor come back with a reactivation).
        revoke_tokens(foreman)
    log.info("foreman %s active=%s by staff %s", foreman.id, active, actor.id)
    return foreman


def issue_or_rotate_qr(actor: Actor, foreman_id: int, qr_id: int | None) -> QrCode:
    """Rotate one of a foreman's QR codes, or issue the first one (district admin)."""
    _require_admin(actor)
    if qr_id is None:
        return create_qr_code(foreman_id)
    qr = db.session.get(QrCode, qr_id)
    if qr is None or qr.foreman_id != foreman_id:
        raise NotFound()
    return rotate_qr_code(qr_id)


def issue_person_binding_code(
    actor: Actor, *, foreman_id: int | None = None, team_member_id: int | None = None
) -> IssuedBindingCode:
    """A one-time code a foreman or team member binds their WeChat account with (admin)."""
    _require_admin(actor)
    return issue_binding_code(foreman_id=foreman_id, team_member_id=team_member_id)


def create_team(actor: Actor, *, name: str, street_id: int | None) -> DisposalTeam:
    """Set up a disposal team for a street (district admin)."""
    _require_admin(actor)
    name = _name(name, "小组名称")
    if db.session.scalars(sa.select(DisposalTeam.id).where(DisposalTeam.name == name)).first():
        raise Conflict("已有同名处置小组", code="team_name_taken")
    team = DisposalTeam(name=name, street_id=_street(street_id).id)
    db.session.add(team)
    db.session.commit()
    log.info("team %s created by staff %s", team.id, actor.id)
    return team


def set_team_active(actor: Actor, team_id: int, active: bool) -> DisposalTeam:
    """Deactivate or reactivate a disposal team (district admin)."""
    _require_admin(actor)
    team = db.session.get(DisposalTeam, team_id)
    if team is None:
        raise NotFound()
    with unit_of_work():
        team.active = active
        for member in team.members:
            revoke_tokens(member)
    log.info("team %s active=%s by staff %s", team.id, active, actor.id)
    return team


def add_team_member(actor: Actor, team_id: int, *, name: str, phone: str) -> TeamMember:
    """Add a person to a disposal team (district admin)."""
    _require_admin(actor)
    team = db.session.get(DisposalTeam, team_id)
    if team is None:
        raise NotFound()
    member = TeamMember(team_id=team.id, name=_name(name, "成员姓名"), phone=_phone(phone))
    db.session.add(member)
    db.session.commit()
    log.info("team member %s added to team %s by staff %s", member.id, team.id, actor.id)
    return member


def set_member_active(actor: Actor, member_id: int, active: bool) -> TeamMember:
    """Deactivate or reactivate a team member (district admin)."""
    _require_admin(actor)
    member = db.session.get(TeamMember, member_id)
    if member is None:
        raise NotFound()
    with unit_of_work():
        member.active = active
        revoke_tokens(member)
    log.info("team member %s active=%s by staff %s", member.id, active, actor.id)
    return member
