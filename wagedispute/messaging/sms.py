"""SMS, the workers' second channel: a provider interface, Tencent Cloud SMS, a local sandbox.

A worker who reported on the H5 form has no WeChat id, and a mini-program worker's one-time
subscription is often spent: their mobile is known, so progress reaches them by SMS. Messages say
no more than the case number and a short status (an access code only when the worker asks for it
to be sent again). Which provider runs is decided by settings alone:

- ``SMS_SECRET_ID`` + ``SMS_SECRET_KEY`` + ``SMS_SDK_APP_ID`` set: Tencent Cloud SMS (its official
  SDK), with ``SMS_SIGN_NAME`` and ``SMS_TEMPLATE_IDS``;
- none of them set and ``SMS_SANDBOX`` on: the local sandbox, which records each message in Redis
  for ``/dev/sms`` and the tests;
- neither: no SMS channel (messages are recorded as skipped, ``sms_off``, and shown to staff).

A partial set of credentials, or credentials beside ``SMS_SANDBOX``, is refused when settings load
(``wagedispute.platform.config``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from flask import Flask, current_app

from wagedispute.platform.errors import DomainError, ServiceUnavailable

log = logging.getLogger(__name__)

# Template names and the text each stands for. A real provider sends the approved template of the
# same name (``SMS_TEMPLATE_IDS``) with the same numbered parameters; the sandbox renders this text.
CASE_PROGRESS = "case_progress"
ACCESS_CODE = "access_code"
TEMPLATES: dict[str, str] = {
    CASE_PROGRESS: "您的欠薪投诉{1}有新进展：{2}。请凭案件编号和查询码在“查询投诉进度”页面查看。",
    ACCESS_CODE: "您的欠薪投诉{1}的查询码是{2}，请凭案件编号和查询码查看进度，勿告诉他人。",
}
# Tencent Cloud caps each template variable; an organisation's account (the bureau's kind) takes
# up to 26 characters for a variable of the "other" type, enough for a case number or a status.
MAX_PARAM_LENGTH = 26

CREDENTIAL_SETTINGS = ("SMS_SECRET_ID", "SMS_SECRET_KEY", "SMS_SDK_APP_ID")

SANDBOX_KEY = "wd:sandbox:sms"
SANDBOX_LIMIT = 1000
# Numbers starting with this are refused by the sandbox, as a carrier refuses an empty number.
SANDBOX_REFUSED_PREFIX = "1700000"


class SmsRefused(DomainError):
    """The provider refused this message for good (bad number, blocked, template)."""

    code = "sms_refused"
    message = "短信发送被拒绝"
    status = 502


class SmsUnavailable(ServiceUnavailable):
    """The provider could not be reached; the job retries."""

    code = "sms_unavailable"
    message = "短信服务暂时不可用，请稍后再试"


class SmsProvider(Protocol):
    """Sends one templated message to a mainland mobile number; returns the provider's id."""

    name: str

    def send(self, mobile: str, template: str, params: list[str]) -> str: ...


def render(template: str, params: list[str]) -> str:
    """The text a template stands for with its parameters filled in."""
    text = TEMPLATES[template]
    for index, value in enumerate(params, start=1):
        text = text.replace("{" + str(index) + "}", value)
    return text


def _param(value: str) -> str:
    return str(value)[:MAX_PARAM_LENGTH]


@dataclass(frozen=True)
class TencentSmsProvider:
    """Tencent Cloud SMS (``tencentcloud-sdk-python-sms``, API version 2021-01-11)."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_ids: dict[str, str]
    region: str
    timeout: float
    name: str = "tencent"

    def send(self, mobile: str, template: str, params: list[str]) -> str:
        """Send through Tencent Cloud; a per-number refusal raises ``SmsRefused``."""
        from tencentcloud.common import credential
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import models, sms_client

        template_id = self.template_ids.get(template)
        if not template_id:
            raise SmsRefused(code="sms_template_missing", details={"template": template})
        http = HttpProfile(reqTimeout=max(1, int(self.timeout)))
        client = sms_client.SmsClient(
            credential.Credential(self.secret_id, self.secret_key),
            self.region,
            ClientProfile(httpProfile=http),
        )
        request = models.SendSmsRequest()
        request.PhoneNumberSet = ["+86" + mobile]
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = [_param(p) for p in params]
        try:
            response = client.SendSms(request)
        except TencentCloudSDKException as exc:
            # Authentication, quota and network problems: nothing the worker's number did.
            log.warning("tencent sms call failed: %s", exc.get_code())
            raise SmsUnavailable(details={"provider_code": exc.get_code()}) from exc
        status = (response.SendStatusSet or [None])[0]
        if status is None or status.Code != "Ok":
            code = status.Code if status is not None else "NoStatus"
            raise SmsRefused(details={"provider_code": code})
        return str(status.SerialNo or "")


@dataclass(frozen=True)
class SandboxSmsProvider:
    """Records messages in Redis instead of sending them (development and tests)."""

    connection: redis.Redis
    sign_name: str
    name: str = "sandbox"

    def send(self, mobile: str, template: str, params: list[str]) -> str:
        """Record the message; numbers starting 1700000 are refused like an unreachable one."""
        if template not in TEMPLATES:
            raise SmsRefused(code="sms_template_missing", details={"template": template})
        if mobile.startswith(SANDBOX_REFUSED_PREFIX):
            raise SmsRefused(details={"provider_code": "FailedOperation.PhoneNumberInBlacklist"})
        params = [_param(p) for p in params]
        serial = f"sandbox-{time.time_ns()}"
        record = {
            "sent_at": time.time(),
            "serial": serial,
            "mobile": mobile,
            "sign_name": self.sign_name,
            "template": template,
            "params": params,
            "text": f"【{self.sign_name}】" + render(template, params),
        }
        pipe = self.connection.pipeline()
        pipe.lpush(SANDBOX_KEY, json.dumps(record, ensure_ascii=False))
        pipe.ltrim(SANDBOX_KEY, 0, SANDBOX_LIMIT - 1)
        pipe.execute()
        return serial


def template_ids(setting: str) -> dict[str, str]:
    """``name=id,name=id`` as a mapping."""
    pairs = (pair.split("=", 1) for pair in (setting or "").split(",") if "=" in pair)
    return {name.strip(): value.strip() for name, value in pairs if value.strip()}


def sandbox_active(app: Flask | None = None) -> bool:
    """True when the local SMS sandbox answers (explicitly on, no real credential)."""
    config = (app or current_app).config
    return bool(config.get("SMS_SANDBOX")) and not any(config.get(n) for n in CREDENTIAL_SETTINGS)


def get_provider(app: Flask | None = None) -> SmsProvider | None:
    """The configured provider, or None when the SMS channel is off."""
    app = app or current_app
    config = app.config
    if all(config.get(name) for name in CREDENTIAL_SETTINGS):
        return TencentSmsProvider(
            secret_id=config["SMS_SECRET_ID"],
            secret_key=config["SMS_SECRET_KEY"],
            sdk_app_id=config["SMS_SDK_APP_ID"],
            sign_name=config["SMS_SIGN_NAME"],
            template_ids=template_ids(config.get("SMS_TEMPLATE_IDS", "")),
            region=config.get("SMS_REGION") or "ap-guangzhou",
            timeout=float(config.get("SMS_TIMEOUT_SECONDS") or 5),
        )
    if sandbox_active(app):
        return SandboxSmsProvider(
            app.extensions["wagedispute.redis"], config.get("SMS_SIGN_NAME") or "工长制"
        )
    return None


def send_sms(mobile: str, template: str, params: list[str]) -> str:
    """Send one SMS with the configured provider (callers check ``get_provider`` first)."""
    provider = get_provider()
    if provider is None:
        raise SmsUnavailable(code="sms_off", message="未开通短信通道")
    return provider.send(mobile, template, params)


def sandbox_sent(limit: int = 200) -> list[dict[str, Any]]:
    """What the SMS sandbox recorded, newest first (empty when the sandbox is off)."""
    if not sandbox_active():
        return []
    raw = current_app.extensions["wagedispute.redis"].lrange(SANDBOX_KEY, 0, max(limit, 1) - 1)
    return [json.loads(item) for item in raw]
