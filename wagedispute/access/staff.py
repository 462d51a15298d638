"""Bureau staff accounts: sign-in with throttles, versioned sessions, password changes, and the
admin's management of accounts.

Sign-in answers the same, in the same time, for a wrong username and a wrong password (a missing
account is checked against a dummy argon2 hash). Wrong passwords slow an address down, never lock
the owner out: five failures from one address for one username make that address wait fifteen
minutes for that username; many failures for one username from anywhere put every attempt on it
on a slower path (one per few seconds), which the real owner still gets through.

A console session carries the account's ``session_version``; signing out, changing the password
or deactivating the account bumps it, so every cookie issued before stops working.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.models import Role, StaffAccount, StaffRole, Street
from wagedispute.platform import ratelimit
from wagedispute.platform.database import db, unit_of_work
from wagedispute.platform.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
)
from wagedispute.platform.passwords import hash_password, verify_password
from wagedispute.platform.validation import has_control_characters

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
# Failures of one address on one username before that address waits.
PAIR_FAILURES, PAIR_WINDOW_SECONDS = 5, 15 * 60
# Failures on one username from anywhere before every attempt on it takes the slower path.
ACCOUNT_FAILURES, ACCOUNT_WINDOW_SECONDS = 20, 60 * 60
# The slower path: one attempt per this many seconds on that username.
SLOW_PATH_SECONDS = 5

# Verifying against a real hash for unknown usernames keeps the answer time the same, so the
# sign-in form does not reveal which usernames exist.
_DUMMY_HASH = hash_password("not-a-real-password-only-for-timing")


class SignInFailed(DomainError):
    """Wrong username or password (never say which)."""

    code = "sign_in_failed"
    message = "用户名或密码错误"
    status = 401


class SignInThrottled(RateLimited):
    """Too many wrong passwords for this username: wait a little (the same for any username)."""

    code = "sign_in_throttled"
    message = "登录失败次数过多，请稍后再试"


class PasswordChangeRequired(DomainError):
    """A demo password in production mode: a new password first."""

    code = "password_change_required"
    message = "首次登录请先修改初始密码"
    status = 403


@dataclass(frozen=True)
class StaffSession:
    """What a console session holds: whose it is and the account's session version."""

    actor: Actor
    display_name: str
    version: int
    must_change_password: bool


def actor_for_staff(account: StaffAccount) -> Actor:
    """The actor a staff account acts as: role STAFF with its staff role and street."""
    return Actor(
        role=Role.STAFF,
        id=account.id,
        street_id=account.street_id if account.role == StaffRole.STREET_STAFF else None,
        staff_role=account.role,
    )


def _session_of(account: StaffAccount) -> StaffSession:
    return StaffSession(
        actor=actor_for_staff(account),
        display_name=account.display_name,
        version=account.session_version,
        must_change_password=account.must_change_password,
    )


def _throttle_keys(username: str, address: str) -> tuple[str, str, str]:
    name = username.strip().lower()[:64]
    return f"signin:{name}:{address}", f"signin:{name}", f"signin-slow:{name}"


def _check_throttles(pair: str, account: str, slow: str) -> None:
    if ratelimit.is_limited(pair, PAIR_FAILURES, PAIR_WINDOW_SECONDS):
        wait = ratelimit.seconds_until_free(pair, PAIR_FAILURES, PAIR_WINDOW_SECONDS)
        raise SignInThrottled(
            f"登录失败次数过多，请 {max(1, wait // 60)} 分钟后再试",
            details={"retry_after_seconds": wait},
        )
    if ratelimit.is_limited(account, ACCOUNT_FAILURES, ACCOUNT_WINDOW_SECONDS):
        # The slower path: one attempt every few seconds, from any address, owner included.
        try:
            ratelimit.check_rate(slow, 1, SLOW_PATH_SECONDS)
        except RateLimited as exc:
            raise SignInThrottled(
                f"该账户登录尝试过多，请 {SLOW_PATH_SECONDS} 秒后再试", details=exc.details
            ) from exc


def sign_in_bureau_staff(username: str, password: str, address: str = "") -> StaffSession:
    """Check a username and password (throttled per address and per username)."""
    username = username.strip()
    pair, account_key, slow = _throttle_keys(username, address)
    _check_throttles(pair, account_key, slow)
    account = None
    if 0 < len(username) <= 64 and not has_control_characters(username):
        account = db.session.scalars(
            sa.select(StaffAccount).where(StaffAccount.username == username)
        ).one_or_none()
    password = password[:MAX_PASSWORD_LENGTH]
    if account is None or not account.active:
        verify_password(_DUMMY_HASH, password)
        ok = False
    else:
        ok = verify_password(account.password_hash, password)
    if not ok:
        db.session.rollback()
        ratelimit.count(pair, PAIR_FAILURES, PAIR_WINDOW_SECONDS)
        ratelimit.count(account_key, ACCOUNT_FAILURES, ACCOUNT_WINDOW_SECONDS)
        raise SignInFailed()
    assert account is not None
    session = _session_of(account)
    db.session.rollback()
    log.info("staff account %s signed in", account.id)
    return session


def load_staff_session(staff_id: int, version: int) -> StaffSession | None:
    """The session of an active account whose version the cookie still carries, or None."""
    account = db.session.get(StaffAccount, staff_id)
    if account is None or not account.active or account.session_version != version:
        return None
    return _session_of(account)


def end_staff_sessions(staff_id: int) -> None:
    """Sign out: every console session of the account, this one included, stops working."""
    with unit_of_work():
        account = db.session.get(StaffAccount, staff_id)
        if account is not None:
            account.session_version += 1
    log.info("staff account %s signed out", staff_id)


def _check_new_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 位", code="password_too_short")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"密码最多 {MAX_PASSWORD_LENGTH} 位", code="password_too_long")
    if has_control_characters(password):
        raise InvalidInput("密码不能包含控制字符", code="password_invalid")
    if password.strip().lower() == username.lower():
        raise InvalidInput("密码不能与用户名相同", code="password_is_username")


def change_staff_password(
    actor: Actor, current_password: str, new_password: str, confirm_password: str
) -> StaffSession:
    """Change one's own password; every other session of the account ends.

    Returns the session to continue with (the new version) in this browser.
    """
    if actor.role != Role.STAFF or actor.id is None:
        raise Forbidden()
    with unit_of_work():
        account = db.session.get(StaffAccount, actor.id, with_for_update=True)
        if account is None or not account.active:
            raise Forbidden()
        if not verify_password(account.password_hash, current_password[:MAX_PASSWORD_LENGTH]):
            raise InvalidInput("当前密码不正确", code="current_password_wrong")
        if new_password != confirm_password:
            raise InvalidInput("两次输入的新密码不一致", code="password_mismatch")
        if new_password == current_password:
            raise InvalidInput("新密码不能与当前密码相同", code="password_unchanged")
        _check_new_password(new_password, account.username)
        account.password_hash = hash_password(new_password)
        account.must_change_password = False
        account.session_version += 1
        session = _session_of(account)
    log.info("staff account %s changed its password", actor.id)
    return session


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
    if not username or len(username) > 64 or not display_name or len(display_name) > 64:
        raise InvalidInput("请填写用户名和姓名（各最多 64 字）", code="staff_fields_required")
    if has_control_characters(username + display_name):
        raise InvalidInput("用户名和姓名不能包含控制字符", code="staff_fields_invalid")
    _check_new_password(password, username)
    if role == StaffRole.STREET_STAFF:
        if street_id is None or db.session.get(Street, street_id) is None:
            raise InvalidInput("街道工作人员须选择所属街道", code="street_required")
    else:
        street_id = None
    with unit_of_work():
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
    log.info("staff account %s created by %s", account.id, actor.id)
    return account


def set_staff_active(actor: Actor, staff_id: int, active: bool) -> StaffAccount:
    """Deactivate or reactivate a staff account (admin only; not one's own)."""
    _require_admin(actor)
    with unit_of_work():
        account = db.session.get(StaffAccount, staff_id)
        if account is None:
            raise NotFound()
        if account.id == actor.id and not active:
            raise InvalidInput("不能停用自己的账户", code="cannot_deactivate_self")
        account.active = active
        # A reactivated account starts from a fresh sign-in, never from an old cookie.
        account.session_version += 1
    log.info("staff account %s active=%s by %s", account.id, active, actor.id)
    return account


@dataclass(frozen=True)
class StaffChoice:
    """A role option for the staff form."""

    value: str
    label: str


def staff_role_choices() -> list[StaffChoice]:
    """The staff roles with their Chinese names, for forms."""
    return [StaffChoice(role.value, role.label) for role in StaffRole]
