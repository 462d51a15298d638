"""Bureau staff accounts: sign-in with lockout, and the admin's management of accounts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.models import Role, StaffAccount, StaffRole, Street
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from wagedispute.platform.passwords import hash_password, verify_password

log = logging.getLogger(__name__)

LOCK_AFTER_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

STAFF_ROLE_LABELS = {
    StaffRole.DISTRICT_ADMIN: "区级管理员",
    StaffRole.DISTRICT_SUPERVISOR: "区级督查员",
    StaffRole.STREET_STAFF: "街道工作人员",
}

# Verifying against a real hash for unknown usernames keeps the answer time the same, so the
# sign-in form does not reveal which usernames exist.
_DUMMY_HASH = hash_password("not-a-real-password-only-for-timing")


class SignInFailed(DomainError):
    """Wrong username or password (never say which)."""

    code = "sign_in_failed"
    message = "用户名或密码错误"
    status = 401


class AccountLocked(DomainError):
    """Too many wrong passwords in a row; the account waits before trying again."""

    code = "account_locked"
    message = "连续登录失败次数过多，账户已锁定 15 分钟，请稍后再试"
    status = 429


def actor_for_staff(account: StaffAccount) -> Actor:
    """The actor a staff account acts as: role STAFF with its staff role and street."""
    return Actor(
        role=Role.STAFF,
        id=account.id,
        street_id=account.street_id if account.role == StaffRole.STREET_STAFF else None,
        staff_role=account.role,
    )


def sign_in_staff(username: str, password: str) -> Actor:
    """Check a username and password; count failures and lock the account after five."""
    now = utcnow()
    account = db.session.scalars(
        sa.select(StaffAccount).where(StaffAccount.username == username.strip()).with_for_update()
    ).one_or_none()
    if account is None or not account.active:
        verify_password(_DUMMY_HASH, password)
        db.session.rollback()
        raise SignInFailed()
    if account.locked_until is not None and account.locked_until > now:
        db.session.rollback()
        raise AccountLocked()
    if not verify_password(account.password_hash, password):
        account.failed_sign_ins += 1
        locked = account.failed_sign_ins >= LOCK_AFTER_FAILURES
        if locked:
            account.locked_until = now + LOCK_DURATION
            account.failed_sign_ins = 0
            log.warning("staff account %s locked after repeated failures", account.id)
        db.session.commit()
        raise AccountLocked() if locked else SignInFailed()
    account.failed_sign_ins = 0
    account.locked_until = None
    actor = actor_for_staff(account)
    db.session.commit()
    log.info("staff account %s signed in", account.id)
    return actor


def load_staff_actor(staff_id: int) -> Actor | None:
    """The actor of an active staff account by id (a session's owner), or None."""
    account = db.session.get(StaffAccount, staff_id)
    if account is None or not account.active:
        return None
    return actor_for_staff(account)


def staff_display_name(staff_id: int) -> str:
    """The name shown in the console's header and on records a staff member made."""
    account = db.session.get(StaffAccount, staff_id)
    return account.display_name if account else ""


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.STAFF or actor.staff_role != StaffRole.DISTRICT_ADMIN:
        raise Forbidden()


def list_staff_accounts(actor: Actor) -> list[StaffAccount]:
    """Every staff account, for the district admin."""
    _require_admin(actor)
    return list(db.session.scalars(sa.select(StaffAccount).order_by(StaffAccount.id)))


def create_staff_account(
    actor: Actor,
    *,
    username: str,
    display_name: str,
    password: str,
    role: StaffRole,
    street_id: int | None = None,
) -> StaffAccount:
    """Add a staff account (admin only); street staff must name their street."""
    _require_admin(actor)
    username = username.strip()
    display_name = display_name.strip()
    if not username or len(username) > 64 or not display_name:
        raise InvalidInput("请填写用户名和姓名", code="staff_fields_required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 位", code="password_too_short")
    if role == StaffRole.STREET_STAFF:
        if street_id is None or db.session.get(Street, street_id) is None:
            raise InvalidInput("街道工作人员须选择所属街道", code="street_required")
    else:
        street_id = None
    exists = db.session.scalars(
        sa.select(StaffAccount.id).where(StaffAccount.username == username)
    ).first()
    if exists is not None:
        raise Conflict("该用户名已存在", code="username_taken")
    account = StaffAccount(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        street_id=street_id,
    )
    db.session.add(account)
    db.session.commit()
    log.info("staff account %s created by %s", account.id, actor.id)
    return account


def set_staff_active(actor: Actor, staff_id: int, active: bool) -> StaffAccount:
    """Deactivate or reactivate a staff account (admin only; not one's own)."""
    _require_admin(actor)
    account = db.session.get(StaffAccount, staff_id)
    if account is None:
        raise NotFound()
    if account.id == actor.id and not active:
        raise InvalidInput("不能停用自己的账户", code="cannot_deactivate_self")
    account.active = active
    if active:
        account.failed_sign_ins = 0
        account.locked_until = None
    db.session.commit()
    log.info("staff account %s active=%s by %s", account.id, active, actor.id)
    return account


@dataclass(frozen=True)
class StaffChoice:
    """A role option for the staff form."""

    value: str
    label: str


def staff_role_choices() -> list[StaffChoice]:
    """The staff roles with their Chinese names, for forms."""
    return [StaffChoice(role.value, label) for role, label in STAFF_ROLE_LABELS.items()]
