"""WeChat: the only module that imports wechatpy.

One ``WeChatClient`` per app, its access token kept in Redis under ``wd:wechat:`` so every
process shares one token, the refresh guarded by a Redis lock so racing processes make one
token call. With ``WECHAT_SANDBOX`` on (``make run``, tests; never beside a real credential) a
requests adapter hands every call to the in-process sandbox
(``wagedispute.platform.wechat_sandbox``), so wechatpy's own code still runs end to end.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
import requests
import xmltodict
from flask import Flask, current_app
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from wechatpy.client import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import (
    InvalidAppIdException,
    InvalidSignatureException,
    WeChatClientException,
)
from wechatpy.session.redisstorage import RedisStorage
from wechatpy.utils import check_signature
from werkzeug.test import Client as WsgiClient

from wagedispute.platform import wechat_sandbox
from wagedispute.platform.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)

log = logging.getLogger(__name__)

EXTENSION = "wagedispute.wechat"
TOKEN_PREFIX = "wd:wechat"
TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/token"
WXA_BASE_URL = "https://api.weixin.qq.com/"
# Drop our copy a little before WeChat does, so no process uses a token in its last minutes.
TOKEN_EXPIRY_MARGIN_SECONDS = 300

_client_lock = threading.Lock()
T = TypeVar("T")


@dataclass(frozen=True)
class WechatSession:
    """Who signed in: the openid (and unionid); the session_key is deliberately absent."""

    openid: str
    unionid: str | None = None


class WechatSendError(DomainError):
    """WeChat refused a subscribe message; ``details["errcode"]`` says why."""

    code = "wechat_send_failed"
    message = "微信消息发送失败"
    status = 502

    @property
    def errcode(self) -> int | None:
        """WeChat's error code."""
        return (self.details or {}).get("errcode")

    @property
    def retryable(self) -> bool:
        """Whether sending again later may succeed (busy or rate-limited, not refused)."""
        return self.errcode in {-1, 45009, 45011}


class PushRejected(DomainError):
    """A message-push callback we refuse: forged, stale, replayed or malformed."""

    code = "push_rejected"
    message = "推送消息校验失败"
    status = 403


def _unavailable(errcode: int | None = None) -> ServiceUnavailable:
    details = {"errcode": errcode} if errcode is not None else None
    return ServiceUnavailable(
        "微信服务暂时不可用，请稍后再试", code="wechat_unavailable", details=details
    )


class WechatSettingsError(RuntimeError):
    """WeChat settings that must not start: a partial credential set, or a sandbox beside one."""


def check_wechat_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start on a partial credential set or a sandbox next to a real credential.

    The sandbox accepts ``sandbox:<openid>`` logins for anyone, so it runs only when switched on
    explicitly (``WECHAT_SANDBOX``), never as a fallback for a missing credential.
    """
    appid, secret = config.get("WECHAT_APPID"), config.get("WECHAT_SECRET")
    if config.get("WECHAT_SANDBOX"):
        if appid or secret:
            raise WechatSettingsError(
                "WAGEDISPUTE_WECHAT_SANDBOX is on while a real WeChat credential "
                "(WAGEDISPUTE_WECHAT_APPID / WAGEDISPUTE_WECHAT_SECRET) is set: "
                "turn the sandbox off in production, or unset the credentials for development"
            )
        return
    if bool(appid) != bool(secret):
        missing = "WAGEDISPUTE_WECHAT_SECRET" if appid else "WAGEDISPUTE_WECHAT_APPID"
        raise WechatSettingsError(
            f"Only half of the WeChat credentials is set: {missing} is missing. Set both "
            "WAGEDISPUTE_WECHAT_APPID and WAGEDISPUTE_WECHAT_SECRET, or neither"
        )
    if not appid:
        log.warning("wechat: no credentials and no sandbox: WeChat calls will be refused")


def sandbox_active(app: Flask | None = None) -> bool:
    """True only when the local sandbox was switched on (``WECHAT_SANDBOX``)."""
    return bool((app or current_app).config.get("WECHAT_SANDBOX"))


# -- the client ----------------------------------------------------------------------------


class _SharedTokenClient(WeChatClient):
    """A client whose token refresh happens once across processes, under a Redis lock."""

    def __init__(self, appid: str, secret: str, *, connection: redis.Redis, timeout: float):
        super().__init__(
            appid,
            secret,
            session=RedisStorage(connection, prefix=TOKEN_PREFIX),
            timeout=timeout,
        )
        self._redis = connection

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a token unless another process did while we waited for the lock."""
        key = self.access_token_key
        seen = self.session.get(key)
        wait = self.timeout * 2 + 1
        lock = self._redis.lock(
            f"{TOKEN_PREFIX}:lock:{self.appid}", timeout=wait, blocking_timeout=wait
        )
        if not lock.acquire():
            raise _unavailable()
        try:
            current = self.session.get(key)
            if current and current != seen:
                return {"access_token": current}
            params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
            # wechatpy's own fetch has no timeout: a hung WeChat would hang the caller.
            res = self._http.get(TOKEN_URL, params=params, timeout=self.timeout)
            res.raise_for_status()
            result = res.json()
            if result.get("errcode"):
                raise WeChatClientException(
                    result["errcode"], result.get("errmsg"), client=self, response=res
                )
            expires_in = int(result.get("expires_in", 7200))
            ttl = max(expires_in - TOKEN_EXPIRY_MARGIN_SECONDS, 60)
            self.session.set(key, result["access_token"], ttl)
            # No local expiry: the Redis TTL alone decides, the same for every process.
            self.expires_at = None
            log.info("wechat: fetched a new access token for appid %s", self.appid)
            return result
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("wechat: token lock expired before release")


class _SandboxAdapter(BaseAdapter):
    """Sends every request, whatever its host, to the sandbox WSGI app in-process."""

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        super().__init__()
        self.wsgi_app = wsgi_app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = [
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in {"content-length", "host"}
        ]
        answer = WsgiClient(self.wsgi_app).open(
            path=parts.path,
            query_string=parts.query,
            method=request.method or "GET",
            headers=headers,
            data=body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers.items())
        response._content = answer.get_data()
        response.encoding = get_encoding_from_headers(response.headers)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        answer.close()
        return response

    def close(self) -> None:
        """Nothing to release: no sockets."""


def _build_client(app: Flask) -> WeChatClient:
    connection = app.extensions["wagedispute.redis"]
    timeout = float(app.config["WECHAT_TIMEOUT_SECONDS"])
    if sandbox_active(app):
        client = _SharedTokenClient(
            wechat_sandbox.SANDBOX_APPID,
            wechat_sandbox.SANDBOX_SECRET,
            connection=connection,
            timeout=timeout,
        )
        adapter = _SandboxAdapter(wechat_sandbox.WechatSandbox(connection))
        client._http.mount("https://", adapter)
        client._http.mount("http://", adapter)
        return client
    return _SharedTokenClient(
        app.config["WECHAT_APPID"],
        app.config["WECHAT_SECRET"],
        connection=connection,
        timeout=timeout,
    )


def get_client() -> WeChatClient:
    """The app's WeChat client (built once per app; the token lives in Redis)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not sandbox_active(app) and not app.config.get("WECHAT_APPID"):
        # Neither real credentials nor the sandbox: refuse here, never call WeChat anonymously.
        raise ServiceUnavailable("微信服务未配置", code="wechat_not_configured")
    client = app.extensions.get(EXTENSION)
    if client is None:
        with _client_lock:
            client = app.extensions.get(EXTENSION)
            if client is None:
                client = app.extensions[EXTENSION] = _build_client(app)
    return client


def _call(action: Callable[[], T], errors: dict[int, DomainError] | None = None) -> T:
    """Run a wechatpy call, turning WeChat's and the network's failures into DomainErrors."""
    try:
        return action()
    except WeChatClientException as exc:
        errcode = int(exc.errcode) if exc.errcode is not None else None
        log.warning("wechat: call failed with errcode %s", errcode)
        if errcode is not None and errors and errcode in errors:
            raise errors[errcode] from exc
        if errcode in {45009, 45011}:
            raise RateLimited(
                "微信接口调用过于频繁，请稍后再试", code="wechat_rate_limited"
            ) from exc
        raise _unavailable(errcode) from exc
    except (requests.RequestException, redis.RedisError, ValueError) as exc:
        log.warning("wechat: call failed: %s", type(exc).__name__)
        raise _unavailable() from exc


# -- mini-program APIs ---------------------------------------------------------------------


def code_to_session(js_code: str) -> WechatSession:
    """Exchange a ``wx.login`` code for the user's openid (the session_key stays here)."""
    if not js_code or len(js_code) > 256:
        raise Unauthorized("登录凭证无效，请重新进入小程序", code="wechat_code_invalid")
    client = get_client()
    result = _call(
        lambda: client.wxa.code_to_session(js_code),
        {
            40029: Unauthorized("登录凭证无效，请重新进入小程序", code="wechat_code_invalid"),
            40163: Unauthorized("登录凭证已被使用，请重新进入小程序", code="wechat_code_invalid"),
            45011: RateLimited("登录过于频繁，请稍后再试", code="wechat_rate_limited"),
            40226: Forbidden("微信判定该账号存在风险，暂不能登录", code="wechat_high_risk_user"),
        },
    )
    openid = result.get("openid") if isinstance(result, dict) else None
    if not openid:
        raise _unavailable()
    return WechatSession(openid=openid, unionid=result.get("unionid") or None)


def get_wxacode_unlimited(scene: str, page: str | None = None) -> bytes:
    """The mini-program code (PNG) whose scene is ``scene``; generate once and store it."""
    client = get_client()
    result = _call(
        lambda: client.wxa.get_wxa_code_unlimited(scene, page=page),
        {40169: InvalidInput("小程序码参数无效", code="wechat_scene_invalid")},
    )
    content = getattr(result, "content", b"")
    if not content.startswith(b"\x89PNG"):
        raise _unavailable()
    return content


def send_subscribe_message(
    openid: str, template_id: str, data: dict[str, str], page: str | None = None
) -> None:
    """Send one subscribe message; WeChat's refusal raises ``WechatSendError``."""
    client = get_client()
    payload = {key: {"value": value} for key, value in data.items()}
    try:
        client.wxa.send_subscribe_message(openid, template_id, payload, page=page)
    except WeChatClientException as exc:
        errcode = int(exc.errcode) if exc.errcode is not None else None
        log.warning("wechat: subscribe message refused with errcode %s", errcode)
        if errcode is None:
            raise _unavailable() from exc
        if errcode == 43101:
            raise WechatSendError(
                "用户未订阅或订阅次数已用完",
                code="subscription_refused",
                details={"errcode": 43101},
            ) from exc
        raise WechatSendError(details={"errcode": errcode}) from exc
    except (requests.RequestException, redis.RedisError, ValueError) as exc:
        log.warning("wechat: subscribe message failed: %s", type(exc).__name__)
        raise _unavailable() from exc


def get_phone_number(code: str) -> str:
    """The phone number the user agreed to share (``getPhoneNumber`` button code)."""
    client = get_client()
    result = _call(
        lambda: client.post(WXA_BASE_URL + "wxa/business/getuserphonenumber", data={"code": code}),
        {40029: InvalidInput("手机号授权已失效，请重新授权", code="wechat_phone_code_invalid")},
    )
    number = ((result or {}).get("phone_info") or {}).get("phoneNumber")
    if not number:
        raise _unavailable()
    return number


def sandbox_sent_messages(limit: int = 200) -> list[dict[str, Any]]:
    """What the sandbox recorded as sent, newest first (empty when the sandbox is off)."""
    if not sandbox_active():
        return []
    return wechat_sandbox.sent_messages(current_app.extensions["wagedispute.redis"], limit)


# -- message push --------------------------------------------------------------------------


def check_push_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """Whether a push request's plain ``signature`` is WeChat's (GET verification)."""
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException:
        return False
    return True


def _parse_document(text: str) -> dict[str, Any]:
    """A push document, JSON (mini-programs) or XML (WeChat's classic format), as a dict."""
    text = text.strip()
    # xmltodict refuses entity declarations by default (no billion laughs).
    parsed = json.loads(text) if text.startswith("{") else xmltodict.parse(text).get("xml")
    if not isinstance(parsed, dict):
        raise ValueError("push document is not an object")
    return parsed


def decrypt_push(
    body: bytes,
    *,
    token: str,
    aes_key: str,
    appid: str,
    msg_signature: str,
    timestamp: str,
    nonce: str,
) -> dict[str, Any]:
    """Check ``msg_signature`` over the ciphertext, then decrypt and check the appid."""
    try:
        envelope = _parse_document(body.decode("utf-8"))
    except Exception as exc:  # expat, JSON and Unicode errors all mean "malformed"
        raise PushRejected("推送消息格式有误", code="push_malformed", status=400) from exc
    encrypted = envelope.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise PushRejected("推送消息格式有误", code="push_malformed", status=400)
    try:
        crypto = WeChatCrypto(token, aes_key, appid)
        # wechatpy compares the signature before it decrypts anything.
        plaintext = crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
    except InvalidSignatureException as exc:
        raise PushRejected("推送消息签名无效", code="push_signature_invalid") from exc
    except InvalidAppIdException as exc:
        raise PushRejected("推送消息不属于本小程序", code="push_appid_invalid") from exc
    except Exception as exc:  # bad base64, padding or UTF-8 inside a correctly signed body
        raise PushRejected("推送消息无法解密", code="push_malformed", status=400) from exc
    try:
        return _parse_document(plaintext)
    except Exception as exc:
        raise PushRejected("推送消息格式有误", code="push_malformed", status=400) from exc
