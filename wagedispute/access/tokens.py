"""Our own signed, expiring bearer tokens for the mini-program (never WeChat's session_key).

A token's claims are never trusted alone: each carries the account's ``token_version`` at issue,
and every request compares it with the account's current version (from the database, cached in
Redis for a few seconds). Deactivating, re-binding or signing out bumps the version, so every
token issued before stops working at once; an inactive account has no valid version at all.
"""

from __future__ import annotations

import logging

import redis
import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from wagedispute.access.actors import Actor
from wagedispute.models import Complainant, DisposalTeam, Foreman, Role, StaffRole, TeamMember
from wagedispute.platform.database import after_commit, db, unit_of_work
from wagedispute.platform.errors import Unauthorized
from wagedispute.platform.queues import get_redis
from wagedispute.platform.validation import MAX_ID

log = logging.getLogger(__name__)

TOKEN_SALT = "wagedispute.api-token"
VERSION_KEY_PREFIX = "wd:tokver:"
# Cached for an account that is inactive or gone: no token of it is valid.
_NO_VERSION = 0

# The account behind each role that signs in with a bearer token.
_ACCOUNTS: dict[Role, type[Complainant] | type[Foreman] | type[TeamMember]] = {
    Role.COMPLAINANT: Complainant,
    Role.FOREMAN: Foreman,
    Role.TEAM_MEMBER: TeamMember,
}


class TokenRevoked(Unauthorized):
    """The account was deactivated, re-bound or signed out since this token was issued."""

    code = "token_revoked"
    message = "登录已失效，请重新登录"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def _version_key(role: Role, account_id: int) -> str:
    return f"{VERSION_KEY_PREFIX}{role.value}:{account_id}"


def _version_from_database(role: Role, account_id: int) -> int:
    """The account's current token version; 0 when it is inactive or does not exist."""
    model = _ACCOUNTS[role]
    if model is TeamMember:
        stmt = (
            sa.select(TeamMember.token_version)
            .join(DisposalTeam, TeamMember.team_id == DisposalTeam.id)
            .where(TeamMember.id == account_id, TeamMember.active, DisposalTeam.active)
        )
    elif model is Foreman:
        stmt = sa.select(Foreman.token_version).where(Foreman.id == account_id, Foreman.active)
    else:
        stmt = sa.select(Complainant.token_version).where(Complainant.id == account_id)
    return db.session.scalar(stmt) or _NO_VERSION


def current_token_version(role: Role, account_id: int) -> int:
    """The version a valid token of this account carries (0: none is valid)."""
    ttl = int(current_app.config["TOKEN_VERSION_CACHE_SECONDS"])
    key = _version_key(role, account_id)
    if ttl > 0:
        try:
            cached = get_redis().get(key)
        except redis.RedisError:
            cached = None
        if cached is not None:
            return int(cached)
    version = _version_from_database(role, account_id)
    if ttl > 0:
        try:
            get_redis().set(key, version, ex=ttl)
        except redis.RedisError:
            log.warning("token version cache unavailable")
    return version


def revoke_tokens(account: Complainant | Foreman | TeamMember) -> None:
    """Stage a version bump: every token of ``account`` issued so far dies at the commit."""
    role = next(role for role, model in _ACCOUNTS.items() if isinstance(account, model))
    account.token_version = (account.token_version or 0) + 1
    key = _version_key(role, account.id)

    def forget_cached_version() -> None:
        get_redis().delete(key)

    after_commit(forget_cached_version)
    log.info("tokens of %s %s revoked", role.value, account.id)


def issue_token(actor: Actor) -> str:
    """A bearer token carrying the actor's role, scope ids and account version, signed."""
    claims = {"r": actor.role.value, "i": actor.id, "t": actor.team_id, "s": actor.street_id}
    if actor.staff_role:
        claims["sr"] = actor.staff_role.value
    if actor.role in _ACCOUNTS and actor.id is not None:
        claims["v"] = current_token_version(actor.role, actor.id)
    return _serializer().dumps(claims)


def actor_from_token(token: str) -> Actor:
    """The actor a token was issued to, if its account still honours it.

    Expired, forged, malformed and revoked tokens are refused (401).
    """
    try:
        claims = _serializer().loads(token, max_age=current_app.config["TOKEN_TTL_SECONDS"])
    except SignatureExpired as exc:
        raise Unauthorized("登录已过期，请重新登录", code="token_expired") from exc
    except BadSignature as exc:
        raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid") from exc
    try:
        actor = Actor(
            role=Role(claims["r"]),
            id=claims["i"],
            team_id=claims.get("t"),
            street_id=claims.get("s"),
            staff_role=StaffRole(claims["sr"]) if claims.get("sr") else None,
        )
        version = claims.get("v")
    except (KeyError, ValueError, TypeError) as exc:
        raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid") from exc
    if actor.role not in _ACCOUNTS:
        # Only accounts with a version may hold a bearer token.
        raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid")
    if not isinstance(actor.id, int) or not 0 < actor.id <= MAX_ID or not isinstance(version, int):
        raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid")
    current = current_token_version(actor.role, actor.id)
    if current == _NO_VERSION or version != current:
        raise TokenRevoked()
    return actor


def sign_out_everywhere(actor: Actor) -> None:
    """End every token of the actor's account (the mini-program's "sign out")."""
    if actor.role not in _ACCOUNTS or actor.id is None:
        raise Unauthorized()
    with unit_of_work():
        account = db.session.get(_ACCOUNTS[actor.role], actor.id)
        if account is None:
            raise Unauthorized()
        revoke_tokens(account)
