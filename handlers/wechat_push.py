"""``/wechat/push``: WeChat's message-push callback (URL check, and safe-mode messages)."""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from wagedispute.messaging.push import receive_push, verify_push_endpoint

blueprint = Blueprint("wechat_push", __name__)


@blueprint.get("/wechat/push")
def verify() -> ResponseReturnValue:
    """WeChat checks the URL: echo ``echostr`` when the signature is ours."""
    args = request.args
    echostr = verify_push_endpoint(
        args.get("signature", ""),
        args.get("timestamp", ""),
        args.get("nonce", ""),
        args.get("echostr", ""),
    )
    return Response(echostr, mimetype="text/plain")


@blueprint.post("/wechat/push")
def receive() -> ResponseReturnValue:
    """A pushed message: verify, queue durably, answer ``success`` within WeChat's 5 s."""
    args = request.args
    receive_push(
        request.get_data(),
        msg_signature=args.get("msg_signature", ""),
        timestamp=args.get("timestamp", ""),
        nonce=args.get("nonce", ""),
        encrypt_type=args.get("encrypt_type", ""),
    )
    return Response("success", mimetype="text/plain")
