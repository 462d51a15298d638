"""SMS: which provider runs is settings only; Tencent Cloud's SDK is called with our template."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wagedispute.messaging import sms
from wagedispute.platform.config import Settings

CREDENTIALS = {"SMS_SECRET_ID": "AKIDx", "SMS_SECRET_KEY": "k", "SMS_SDK_APP_ID": "1400000000"}


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"SMS_SECRET_ID": "AKIDx"}, "partial"),
        ({**CREDENTIALS, "SMS_SIGN_NAME": "盐田区信访局", "SMS_SANDBOX": True}, "SMS_SANDBOX"),
        (CREDENTIALS, "SMS_SIGN_NAME"),
    ],
)
def test_partial_or_mixed_sms_settings_are_a_start_up_error(
    settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(**settings)


def test_the_provider_follows_the_settings(make_app: Any) -> None:
    off = make_app(SMS_SANDBOX=False)
    assert sms.get_provider(off) is None and not sms.sandbox_active(off)
    sandbox = make_app(SMS_SANDBOX=True)
    assert isinstance(sms.get_provider(sandbox), sms.SandboxSmsProvider)
    real = make_app(SMS_SANDBOX=False, SMS_SIGN_NAME="盐田区信访局", **CREDENTIALS)
    provider = sms.get_provider(real)
    assert isinstance(provider, sms.TencentSmsProvider) and not sms.sandbox_active(real)


def test_tencent_provider_sends_the_approved_template_through_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tencentcloud.sms.v20210111 import models, sms_client

    sent: list[Any] = []

    def send_sms(self: Any, request: Any) -> Any:
        sent.append(request)
        response = models.SendSmsResponse()
        status = models.SendStatus()
        refused = request.PhoneNumberSet[0].endswith("0000")
        status.Code = "FailedOperation.PhoneNumberInBlacklist" if refused else "Ok"
        status.SerialNo = "2645:1"
        response.SendStatusSet = [status]
        return response

    monkeypatch.setattr(sms_client.SmsClient, "SendSms", send_sms)
    provider = sms.TencentSmsProvider(
        secret_id="AKIDx",
        secret_key="k",
        sdk_app_id="1400000000",
        sign_name="盐田区信访局",
        template_ids={"case_progress": "2100001"},
        region="ap-guangzhou",
        timeout=3,
    )
    assert provider.send("13800138000", "case_progress", ["YT-2026-000001", "已分派"]) == "2645:1"
    request = sent[0]
    assert request.PhoneNumberSet == ["+8613800138000"] and request.TemplateId == "2100001"
    assert request.SignName == "盐田区信访局" and request.SmsSdkAppId == "1400000000"
    assert request.TemplateParamSet == ["YT-2026-000001", "已分派"]
    with pytest.raises(sms.SmsRefused) as refused:
        provider.send("13800000000", "case_progress", ["YT-2026-000001", "已分派"])
    assert refused.value.details == {"provider_code": "FailedOperation.PhoneNumberInBlacklist"}
    with pytest.raises(sms.SmsRefused, match="sms_template_missing"):
        provider.send("13800138000", "access_code", ["YT-2026-000001", "ABCDEFGH"])
