"""A local stand-in for the WeChat HTTP endpoints the project uses (a plain WSGI app).

It keeps its state in the app's Redis, so what a worker process "sent" shows on the web
process's development page, and the token calls of every process are counted in one place.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from qr import qr_png

SANDBOX_APPID = "wxsandbox000000000"
SANDBOX_SECRET = "sandbox-secret-not-for-production"

KEY_PREFIX = "wd:sandbox:"
SENT_KEY = KEY_PREFIX + "sent"
TOKEN_CALLS_KEY = KEY_PREFIX + "token_calls"
TOKEN_DELAY_KEY = KEY_PREFIX + "token_delay_ms"
SENT_LIMIT = 1000
TOKEN_TTL_SECONDS = 7200

# WeChat's alphabet for the `scene` of getwxacodeunlimit (at most 32 characters).
SCENE_PATTERN = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
LOGIN_PREFIX = "sandbox:"
PHONE_PREFIX = "sandbox-phone:"
# Subscribe messages to openids starting with this are refused as WeChat refuses them (43101).
REFUSING_OPENID_PREFIX = "refuse"


def token_calls(connection: redis.Redis) -> int:
    """How many access tokens the sandbox has issued (to prove processes share one)."""
    return int(connection.get(TOKEN_CALLS_KEY) or 0)


def sent_messages(connection: redis.Redis, limit: int = 200) -> list[dict[str, Any]]:
    """What the sandbox recorded as sent, newest first."""
    raw = connection.lrange(SENT_KEY, 0, max(limit, 1) - 1)
    return [json.loads(item) for item in raw]


def set_token_delay(connection: redis.Redis, milliseconds: int) -> None:
    """Make token calls slow, so tests can widen the window in which processes race."""
    connection.set(TOKEN_DELAY_KEY, milliseconds, ex=600)


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


def _error(errcode: int, errmsg: str) -> Response:
    return _json({"errcode": errcode, "errmsg": errmsg})


class WechatSandbox:
    """The WSGI app: one method per WeChat endpoint, state in Redis."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection
        self.url_map = Map(
            [
                Rule("/cgi-bin/token", endpoint="token", methods=["GET"]),
                Rule("/cgi-bin/stable_token", endpoint="stable_token", methods=["POST"]),
                Rule("/sns/jscode2session", endpoint="jscode2session", methods=["GET"]),
                Rule("/wxa/getwxacodeunlimit", endpoint="wxacode_unlimited", methods=["POST"]),
                Rule(
                    "/cgi-bin/message/subscribe/send", endpoint="subscribe_send", methods=["POST"]
                ),
                Rule("/wxa/business/getuserphonenumber", endpoint="phone_number", methods=["POST"]),
            ]
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, _ = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, "on_" + endpoint)(request)
        except NotFound:
            response = _error(40066, "invalid url")
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

    # -- access tokens -------------------------------------------------------------------

    def _issue_token(self) -> Response:
        delay = int(self.redis.get(TOKEN_DELAY_KEY) or 0)
        if delay:
            time.sleep(delay / 1000)
        self.redis.incr(TOKEN_CALLS_KEY)
        token = "sandbox-token-" + secrets.token_urlsafe(24)
        self.redis.set(KEY_PREFIX + "token:" + token, 1, ex=TOKEN_TTL_SECONDS)
        return _json({"access_token": token, "expires_in": TOKEN_TTL_SECONDS})

    def _credentials_error(self, params: dict[str, Any]) -> Response | None:
        if not params.get("appid") or not params.get("secret"):
            return _error(41002, "appid missing")
        if params.get("appid") != SANDBOX_APPID:
            return _error(40013, "invalid appid")
        if params.get("secret") != SANDBOX_SECRET:
            return _error(40125, "invalid appsecret")
        return None

    def on_token(self, request: Request) -> Response:
        if request.args.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        return self._credentials_error(request.args) or self._issue_token()

    def on_stable_token(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        return self._credentials_error(body) or self._issue_token()

    def _token_error(self, request: Request) -> Response | None:
        token = request.args.get("access_token", "")
        if not token or not self.redis.exists(KEY_PREFIX + "token:" + token):
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        return None

    # -- mini-program endpoints ----------------------------------------------------------

    def on_jscode2session(self, request: Request) -> Response:
        error = self._credentials_error(request.args)
        if error:
            return error
        code = request.args.get("js_code", "")
        if request.args.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        openid = code[len(LOGIN_PREFIX) :] if code.startswith(LOGIN_PREFIX) else ""
        if not openid or len(openid) > 64:
            return _error(40029, "invalid code")
        return _json({"openid": openid, "session_key": secrets.token_urlsafe(16)})

    def on_wxacode_unlimited(self, request: Request) -> Response:
        error = self._token_error(request)
        if error:
            return error
        body = request.get_json(force=True, silent=True) or {}
        scene = body.get("scene")
        if not isinstance(scene, str) or not SCENE_PATTERN.fullmatch(scene):
            return _error(40169, "invalid length for scene, or the data is not json string")
        return Response(qr_png(scene), content_type="image/png")

    def on_subscribe_send(self, request: Request) -> Response:
        error = self._token_error(request)
        if error:
            return error
        body = request.get_json(force=True, silent=True) or {}
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not touser or not isinstance(touser, str):
            return _error(40003, "invalid openid")
        if not template_id or not isinstance(template_id, str):
            return _error(40037, "invalid template_id")
        if not isinstance(data, dict) or not data:
            return _error(47003, "argument invalid! data is empty")
        if touser.startswith(REFUSING_OPENID_PREFIX):
            return _error(43101, "user refuse to accept the msg")
        record = {
            "sent_at": time.time(),
            "touser": touser,
            "template_id": template_id,
            "page": body.get("page"),
            "data": data,
        }
        pipe = self.redis.pipeline()
        pipe.lpush(SENT_KEY, json.dumps(record, ensure_ascii=False))
        pipe.ltrim(SENT_KEY, 0, SENT_LIMIT - 1)
        pipe.execute()
        return _error(0, "ok")

    def on_phone_number(self, request: Request) -> Response:
        error = self._token_error(request)
        if error:
            return error
        body = request.get_json(force=True, silent=True) or {}
        code = body.get("code") or ""
        number = code[len(PHONE_PREFIX) :] if code.startswith(PHONE_PREFIX) else ""
        if not number:
            return _error(40029, "invalid code")
        info = {
            "phoneNumber": number,
            "purePhoneNumber": number,
            "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": SANDBOX_APPID},
        }
        return _json({"errcode": 0, "errmsg": "ok", "phone_info": info})
