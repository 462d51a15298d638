"""Our own signed, expiring bearer tokens for the mini-program (never WeChat's session_key)."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from wagedispute.access.actors import Actor
from wagedispute.models import Role, StaffRole
from wagedispute.platform.errors import Unauthorized

TOKEN_SALT = "wagedispute.api-token"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token(actor: Actor) -> str:
    """A bearer token carrying the actor's role and scope ids, signed with the app secret."""
    claims = {"r": actor.role.value, "i": actor.id, "t": actor.team_id, "s": actor.street_id}
    if actor.staff_role:
        claims["sr"] = actor.staff_role.value
    return _serializer().dumps(claims)


def actor_from_token(token: str) -> Actor:
    """The actor a token was issued to; expired, forged or malformed tokens are refused."""
    try:
        claims = _serializer().loads(token, max_age=current_app.config["TOKEN_TTL_SECONDS"])
    except SignatureExpired as exc:
        raise Unauthorized("登录已过期，请重新登录", code="token_expired") from exc
    except BadSignature as exc:
        raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid") from exc
    try:
        return Actor(
            role=Role(claims["r"]),
            id=claims["i"],
            team_id=claims.get("t"),
            street_id=claims.get("s"),
            staff_role=StaffRole(claims["sr"]) if claims.get("sr") else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid") from exc
