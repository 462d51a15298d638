"""``/api/v1/session/refresh`` and ``/api/v1/session/sign-out`` for every bearer-token role.

Tokens live two hours (``TOKEN_TTL_SECONDS``); a client refreshes a token that still works, and
signs out by ending every token of its account (the account's token version moves on).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from handlers.api import current_actor, documented
from handlers.miniprogram import SessionOut
from wagedispute.access.tokens import issue_token, sign_out_everywhere
from wagedispute.models import Role

blueprint = Blueprint("sessions", __name__, url_prefix="/api/v1")

TOKEN_ROLES = (Role.COMPLAINANT, Role.FOREMAN, Role.TEAM_MEMBER)


class SignedOutOut(BaseModel):
    """Every token of the account has stopped working."""

    signed_out: bool = Field(examples=[True])


@blueprint.post("/session/refresh")
@documented(
    "用仍有效的登录凭证换取一个新的（延长有效期）",
    tag="登录",
    response_model=SessionOut,
)
def refresh_session() -> ResponseReturnValue:
    """A fresh token for the same account, while the current one still works."""
    token = issue_token(current_actor(*TOKEN_ROLES))
    out = SessionOut(token=token, expires_in=int(current_app.config["TOKEN_TTL_SECONDS"]))
    return jsonify(out.model_dump())


@blueprint.post("/session/sign-out")
@documented(
    "退出登录：该账号此前发出的全部登录凭证立即失效",
    tag="登录",
    response_model=SignedOutOut,
)
def sign_out() -> ResponseReturnValue:
    """End every token of the caller's account."""
    sign_out_everywhere(current_actor(*TOKEN_ROLES))
    return jsonify(SignedOutOut(signed_out=True).model_dump())
