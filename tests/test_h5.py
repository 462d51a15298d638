"""The H5 form for scanners outside WeChat: the journey, CSRF, field errors, token pages."""

from __future__ import annotations

import html
import re
from typing import Any

import sqlalchemy as sa

from tests.test_intake import VALID_ID, VALID_USCC, demo_token, row_counts
from wagedispute.models import Case, Channel, QrCode, QrStatus
from wagedispute.platform.database import db, utcnow


def hidden(page: str, name: str) -> str:
    """The value of a hidden input in a rendered page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def open_form(client: Any, token: str) -> dict[str, str]:
    """GET the form and return the fields a browser would post back untouched."""
    answer = client.get(f"/q/{token}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    return {
        "csrf_token": hidden(page, "csrf_token"),
        "idempotency_key": hidden(page, "idempotency_key"),
    }


def form_fields(**overrides: str) -> dict[str, str]:
    """What a worker types into the form."""
    fields = {
        "name": "张三",
        "mobile": "13800138000",
        "id_number": VALID_ID,
        "site_name": "海景花园二期工地",
        "site_address": "盐田区海景路 1 号",
        "employers-0-role": "总包",
        "employers-0-name": "深圳市鹏城建设工程有限公司",
        "employers-0-uscc": VALID_USCC,
        "employers-1-role": "班组",
        "employers-1-name": "",
        "employers-1-uscc": "",
        "workers_affected": "4",
        "amount_yuan": "23,456.50",
        "period_start": "2025-08-01",
        "period_end": "2025-10-31",
        "description": "四个人三个月工资没有发",
    }
    fields.update(overrides)
    return fields


def text_of(answer: Any) -> str:
    return answer.get_data(as_text=True)


def test_worker_journey_through_the_h5_form(client: Any, district: dict[str, Any]) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    page = text_of(client.get(f"/q/{token}"))
    assert district["foremen"][0].name in page and "提交投诉" in page

    first = client.post(f"/q/{token}", data={**form, **form_fields()})
    assert first.status_code == 200, text_of(first)
    number = re.search(r'id="case-number">([^<]+)<', text_of(first)).group(1)
    first_code = re.search(r'id="access-code">([^<]+)<', text_of(first)).group(1)
    assert number.startswith("YT-") and len(first_code) == 8

    # The double-submit: the same hidden key, the same case; the page shows a working code.
    second = client.post(f"/q/{token}", data={**form, **form_fields()})
    assert second.status_code == 200
    assert re.search(r'id="case-number">([^<]+)<', text_of(second)).group(1) == number
    code = re.search(r'id="access-code">([^<]+)<', text_of(second)).group(1)
    case = db.session.scalars(sa.select(Case)).one()
    assert case.channel == Channel.WEB and case.amount_owed_fen == 2_345_650
    assert case.employers[0]["uscc"] == VALID_USCC and len(case.employers) == 1

    status_page = client.get("/h5/status")
    csrf = hidden(text_of(status_page), "csrf_token")
    shown = client.post(
        "/h5/status", data={"csrf_token": csrf, "number": number, "access_code": code}
    )
    assert shown.status_code == 200
    assert "您的投诉已受理" in text_of(shown) and "已受理" in text_of(shown)
    assert "13800138000" not in text_of(shown) and "张三" not in text_of(shown)
    # Only the code on the page the worker ended up with opens the case.
    assert first_code != code
    stale = client.post(
        "/h5/status", data={"csrf_token": csrf, "number": number, "access_code": first_code}
    )
    assert stale.status_code == 404


def test_a_post_without_a_valid_csrf_token_is_refused_and_creates_nothing(
    client: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    counts = row_counts()
    missing = client.post(
        f"/q/{token}", data={"idempotency_key": form["idempotency_key"], **form_fields()}
    )
    assert missing.status_code == 400 and "页面已过期" in text_of(missing)
    wrong = client.post(f"/q/{token}", data={**form, "csrf_token": "x" * 43, **form_fields()})
    assert wrong.status_code == 400
    # A token from another browser's session does not work here either.
    stranger = client.application.test_client()
    assert stranger.post(f"/q/{token}", data={**form, **form_fields()}).status_code == 400
    assert row_counts() == counts


def test_invalid_fields_come_back_beside_their_inputs_in_chinese(
    client: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    counts = row_counts()
    answer = client.post(
        f"/q/{token}",
        data={
            **form,
            **form_fields(
                id_number="110105194912310021",
                **{"employers-0-uscc": "91440300MA5D12345X"},
                mobile="12345",
                amount_yuan="一万",
                workers_affected="0",
            ),
        },
    )
    assert answer.status_code == 422
    page = text_of(answer)
    assert "身份证号码无效，请核对" in page
    assert "统一社会信用代码无效，请核对" in page
    assert "请填写金额（元），最多两位小数" in page
    assert "不能小于 1" in page
    assert re.search(r'id="mobile-error">[^<]*手机号码', page)
    assert 'id="employers-0-uscc-error"' in page
    # What the worker typed is kept.
    assert 'value="深圳市鹏城建设工程有限公司"' in page
    assert hidden(page, "idempotency_key") == form["idempotency_key"]
    assert row_counts() == counts


def test_unknown_and_revoked_tokens_get_clear_pages(client: Any, district: dict[str, Any]) -> None:
    unknown = client.get("/q/forgedtoken00000000000000")
    assert unknown.status_code == 404 and "二维码无效" in text_of(unknown)
    foreman = district["foremen"][1]
    old = db.session.scalars(sa.select(QrCode).where(QrCode.foreman_id == foreman.id)).one()
    old.status = QrStatus.REVOKED
    old.revoked_at = utcnow()
    db.session.add(QrCode(token="replacement00000000000001", foreman_id=foreman.id))
    db.session.commit()
    revoked = client.get(f"/q/{old.token}")
    page = text_of(revoked)
    assert revoked.status_code == 410
    assert foreman.name in page and "已停用" in page
    assert "/q/replacement00000000000001" in page
    counts = row_counts()
    form = open_form(client, "replacement00000000000001")
    assert client.post(f"/q/{old.token}", data={**form, **form_fields()}).status_code == 410
    assert row_counts() == counts


def test_the_form_needs_no_javascript_and_no_outside_resources(
    client: Any, district: dict[str, Any]
) -> None:
    page = text_of(client.get(f"/q/{demo_token(district)}"))
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert '<meta name="viewport"' in page and 'lang="zh-CN"' in page
    css_path = re.search(r'href="(/h5/static/[^"]+\.css)"', page).group(1)
    css = client.get(css_path)
    assert css.status_code == 200 and css.mimetype == "text/css"
    css.close()


def test_status_with_a_wrong_code_says_so(client: Any, make_case: Any) -> None:
    case = make_case()
    csrf = hidden(text_of(client.get("/h5/status")), "csrf_token")
    answer = client.post(
        "/h5/status", data={"csrf_token": csrf, "number": case.number, "access_code": "ABCDEFGH"}
    )
    assert answer.status_code == 404 and "案件编号或查询码不正确" in text_of(answer)
    refused = client.post("/h5/status", data={"number": case.number, "access_code": "ABCDEFGH"})
    assert refused.status_code == 400
