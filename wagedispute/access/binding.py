"""One-time binding codes: how a foreman or team member ties a WeChat account to their record."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from wagedispute.access.actors import Actor
from wagedispute.access.tokens import revoke_tokens
from wagedispute.models import BindingCode, DisposalTeam, Foreman, Role, TeamMember
from wagedispute.platform import wechat
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

BINDING_CODE_TTL = timedelta(hours=72)
# Crockford-style alphabet: no 0/O, 1/I/L, so a code read over the phone is typed right.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10


class BindingRefused(DomainError):
    """A binding code that cannot be used (unknown, used, expired); nothing is bound."""

    code = "binding_code_invalid"
    message = "绑定码无效，请向区信访局索取新的绑定码"
    status = 422


class BindingRequired(DomainError):
    """This WeChat account is not bound to any foreman or team member yet."""

    code = "binding_required"
    message = "该微信号尚未绑定，请输入区信访局发放的绑定码"
    status = 401


@dataclass(frozen=True)
class IssuedBindingCode:
    """A freshly issued code (shown once, never stored in clear) and when it stops working."""

    code: str
    expires_at: datetime
    role: Role
    person_id: int


@dataclass(frozen=True)
class StaffMember:
    """Who signed in: the actor for the token and what the mini-program shows."""

    actor: Actor
    name: str
    street_name: str
    team_name: str | None
    newly_bound: bool


def hash_binding_code(code: str) -> str:
    """A keyed hash of the normalised code (case and separators ignored)."""
    normalised = "".join(ch for ch in code.upper() if ch.isalnum())
    key = hashlib.sha256(b"wagedispute binding code|" + current_app.config["SECRET_KEY"].encode())
    return hmac.new(key.digest(), normalised.encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def issue_binding_code(
    *,
    foreman_id: int | None = None,
    team_member_id: int | None = None,
    ttl: timedelta = BINDING_CODE_TTL,
    now: datetime | None = None,
) -> IssuedBindingCode:
    """Issue a one-time code for one person; earlier unused codes for that person stop working."""
    if (foreman_id is None) == (team_member_id is None):
        raise InvalidInput("请指定一名工长或一名处置小组成员", code="person_required")
    now = now or utcnow()
    if foreman_id is not None:
        role, person_id = Role.FOREMAN, foreman_id
        person = db.session.get(Foreman, foreman_id)
        column = BindingCode.foreman_id
    else:
        role, person_id = Role.TEAM_MEMBER, team_member_id
        person = db.session.get(TeamMember, team_member_id)
        column = BindingCode.team_member_id
    if person is None:
        raise NotFound("找不到该人员")
    if not person.active:
        raise Conflict("该人员已停用，不能发放绑定码", code="person_inactive")
    # Only the newest code works: a code handed to the wrong person can be superseded.
    db.session.execute(
        sa.update(BindingCode)
        .where(column == person_id, BindingCode.used_at.is_(None), BindingCode.expires_at > now)
        .values(expires_at=now)
    )
    code = _new_code()
    db.session.add(
        BindingCode(
            code_hash=hash_binding_code(code),
            role=role,
            foreman_id=foreman_id,
            team_member_id=team_member_id,
            expires_at=now + ttl,
            created_at=now,
        )
    )
    db.session.commit()
    log.info("binding code issued for %s %s", role.value, person_id)
    return IssuedBindingCode(code=code, expires_at=now + ttl, role=role, person_id=person_id)


def _bound_person(openid: str) -> Foreman | TeamMember | None:
    foreman = db.session.scalars(sa.select(Foreman).where(Foreman.openid == openid)).one_or_none()
    if foreman is not None:
        return foreman
    return db.session.scalars(
        sa.select(TeamMember).where(TeamMember.openid == openid)
    ).one_or_none()


def _staff_member(person: Foreman | TeamMember, *, newly_bound: bool) -> StaffMember:
    if isinstance(person, Foreman):
        if not person.active:
            raise Forbidden("该工长账号已停用", code="account_disabled")
        return StaffMember(
            actor=Actor(Role.FOREMAN, person.id, street_id=person.street_id),
            name=person.name,
            street_name=person.street.name,
            team_name=None,
            newly_bound=newly_bound,
        )
    team: DisposalTeam = person.team
    if not (person.active and team.active):
        raise Forbidden("该处置小组成员账号已停用", code="account_disabled")
    return StaffMember(
        actor=Actor(Role.TEAM_MEMBER, person.id, team_id=team.id, street_id=team.street_id),
        name=person.name,
        street_name=team.street.name,
        team_name=team.name,
        newly_bound=newly_bound,
    )


def sign_in_foreman_or_team_member(
    js_code: str, binding_code: str | None = None, *, now: datetime | None = None
) -> StaffMember:
    """Sign a foreman or team member in with a ``wx.login`` code (and a binding code once)."""
    session = wechat.code_to_session(js_code)
    return sign_in_openid(session.openid, binding_code, now=now)


def sign_in_openid(
    openid: str, binding_code: str | None = None, *, now: datetime | None = None
) -> StaffMember:
    """Find the foreman or team member behind a WeChat openid, binding it first with a code."""
    code = (binding_code or "").strip()
    if not code:
        person = _bound_person(openid)
        if person is None:
            raise BindingRequired()
        return _staff_member(person, newly_bound=False)
    return _bind(openid, code, now or utcnow())


def _bind(openid: str, code: str, now: datetime) -> StaffMember:
    """Use a code once: mark it used and store the openid, in one transaction."""
    try:
        with unit_of_work():
            row = db.session.scalars(
                sa.select(BindingCode).where(BindingCode.code_hash == hash_binding_code(code))
            ).one_or_none()
            if row is None:
                raise BindingRefused()
            if row.used_at is not None:
                raise BindingRefused(
                    "该绑定码已被使用，请向区信访局索取新的绑定码", code="binding_code_used"
                )
            if row.expires_at <= now:
                raise BindingRefused(
                    "该绑定码已过期，请向区信访局索取新的绑定码", code="binding_code_expired"
                )
            person: Foreman | TeamMember | None = (
                db.session.get(Foreman, row.foreman_id)
                if row.foreman_id is not None
                else db.session.get(TeamMember, row.team_member_id)
            )
            if person is None:
                raise BindingRefused()
            other = _bound_person(openid)
            if other is not None and other is not person:
                raise Conflict(
                    "该微信号已绑定其他人员，请更换微信号或联系区信访局",
                    code="openid_already_bound",
                )
            member = _staff_member(person, newly_bound=True)
            # Conditional update: of two simultaneous uses of one code, only one wins.
            claimed = db.session.execute(
                sa.update(BindingCode)
                .where(BindingCode.id == row.id, BindingCode.used_at.is_(None))
                .values(used_at=now)
            )
            if claimed.rowcount != 1:
                raise BindingRefused(
                    "该绑定码已被使用，请向区信访局索取新的绑定码", code="binding_code_used"
                )
            # A new code re-binds a person who changed phone or WeChat account; whatever token
            # the old phone holds dies with the binding.
            if person.openid != openid:
                revoke_tokens(person)
            person.openid = openid
    except IntegrityError as exc:
        # The same openid bound by another code at the same moment.
        raise Conflict(
            "该微信号已绑定其他人员，请更换微信号或联系区信访局", code="openid_already_bound"
        ) from exc
    log.info("%s %s bound a WeChat account", member.actor.role.value, member.actor.id)
    return member
