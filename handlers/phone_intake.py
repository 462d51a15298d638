"""Foreman phone intake: a foreman records a caller's complaint (channel ``phone``)."""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from handlers.api import current_actor, documented
from handlers.miniprogram import IDEMPOTENCY_KEY, REPLAY_RESPONSE, limit_user, parse, receipt
from wagedispute.intake.submission import ComplaintIn, ComplaintReceipt, submit_complaint
from wagedispute.models import Channel, Role
from wagedispute.platform.errors import InvalidInput

blueprint = Blueprint("phone_intake", __name__, url_prefix="/api/v1/foreman")


@blueprint.post("/phone-intake")
@documented(
    "工长录入电话投诉（可带 Idempotency-Key 防止重复录入；新建 201，重复提交 200）",
    tag="工长",
    request_model=ComplaintIn,
    response_model=ComplaintReceipt,
    status=201,
    responses={"200": REPLAY_RESPONSE},
    errors={
        404: ("非工长身份的令牌", ["not_found"]),
        409: ("同一 Idempotency-Key 提交了不同内容", ["idempotency_key_reused"]),
        422: ("字段有误", ["idempotency_key_invalid"]),
        429: ("请求过于频繁", ["rate_limited"]),
    },
    parameters=[
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 8, "maxLength": 128},
        }
    ],
)
def phone_intake() -> ResponseReturnValue:
    """Record a phoned-in complaint; the case's foreman is the caller."""
    actor = current_actor(Role.FOREMAN)
    limit_user("phone_intake", actor)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput("Idempotency-Key 格式不正确", code="idempotency_key_invalid")
    data = parse(ComplaintIn)
    result = submit_complaint(data, channel=Channel.PHONE, actor=actor, idempotency_key=key)
    return receipt(result, foreman=True)
