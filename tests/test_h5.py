"""The H5 pages for scanners outside WeChat: the form, the case page, a lost code, token pages."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.test_intake import VALID_ID, VALID_USCC, demo_token, row_counts
from tests.test_team_api import png_bytes
from wagedispute.access.actors import Actor
from wagedispute.cases.evidence import store_evidence
from wagedispute.handling.foreman import dispatch_case
from wagedispute.handling.team import ResolutionIn, accept_case, resolve_case
from wagedispute.messaging import sms
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    DisposalTeam,
    DisputeGroup,
    Evidence,
    QrCode,
    QrStatus,
    Role,
    TeamMember,
)
from wagedispute.platform.database import db, utcnow


def hidden(page: str, name: str) -> str:
    """The value of a hidden input in a rendered page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def text_of(answer: Any) -> str:
    return answer.get_data(as_text=True)


def open_form(client: Any, token: str) -> dict[str, str]:
    """GET the form and return the fields a browser would post back untouched."""
    answer = client.get(f"/q/{token}")
    assert answer.status_code == 200
    page = text_of(answer)
    return {
        "csrf_token": hidden(page, "csrf_token"),
        "idempotency_key": hidden(page, "idempotency_key"),
    }


def short_form(**overrides: str) -> dict[str, str]:
    """What a worker types into the short form."""
    fields = {
        "name": "张三",
        "mobile": "13800138000",
        "site_name": "海景花园二期工地",
        "employers-0-name": "李老板",
        "amount_yuan": "8万",
        "months_owed": "3",
        "workers_affected": "1",
        "description": "三个月工资没有发",
    }
    fields.update(overrides)
    return fields


def full_form(**overrides: str) -> dict[str, str]:
    """The short form plus everything under "补充更多信息"."""
    return short_form(
        **{
            "id_number": VALID_ID,
            "site_address": "盐田区海景路 1 号",
            "employers-0-uscc": VALID_USCC,
            "employers-1-role": "总包",
            "employers-1-name": "深圳市鹏城建设工程有限公司",
            "employers-1-uscc": "",
            **overrides,
        }
    )


def submitted(answer: Any) -> tuple[str, str]:
    """The case number and access code on the "受理" page."""
    page = text_of(answer)
    number = re.search(r'id="case-number">([^<]+)<', page)
    code = re.search(r'id="access-code">([^<]+)<', page)
    assert number and code, page
    return number.group(1), code.group(1)


def open_case_page(client: Any, number: str, code: str) -> str:
    """Look the case up with its number and code, follow the redirect, return the page."""
    csrf = hidden(text_of(client.get("/h5/status")), "csrf_token")
    answer = client.post(
        "/h5/status", data={"csrf_token": csrf, "number": number, "access_code": code}
    )
    assert answer.status_code == 303, text_of(answer)
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    return text_of(page)


def case_csrf(client: Any) -> str:
    return hidden(text_of(client.get("/h5/case")), "csrf_token")


def sms_log(mobile: str) -> list[dict[str, Any]]:
    """What the SMS sandbox recorded for one number, oldest first."""
    return [m for m in reversed(sms.sandbox_sent(1000)) if m["mobile"] == mobile]


def case_by_number(number: str) -> Case:
    db.session.expire_all()
    return db.session.scalars(sa.select(Case).where(Case.number == number)).one()


def resolve_as_team(case: Case, *, paid_fen: int) -> None:
    """Dispatch, accept and resolve a case as paid in full with a proof photo."""
    member = db.session.scalars(
        sa.select(TeamMember)
        .join(DisposalTeam, DisposalTeam.id == TeamMember.team_id)
        .where(DisposalTeam.street_id == case.street_id, DisposalTeam.active, TeamMember.active)
        .order_by(TeamMember.id)
    ).first()
    team = member.team
    dispatch_case(
        Actor(Role.FOREMAN, case.foreman_id), case.number, team.id, urgency=case.urgency_suggested
    )
    actor = Actor(Role.TEAM_MEMBER, member.id, team_id=team.id)
    accept_case(actor, case.number)
    proof = store_evidence(case.id, actor, png_bytes("green"))
    resolve_case(
        actor,
        case.number,
        ResolutionIn(
            outcome="paid_in_full",
            summary="总包代付，工人已签收",
            proof_evidence_ids=[proof.id],
            payments=[{"worker": "工人甲", "amount_fen": paid_fen}],
        ),
    )


def test_h5_worker_journey_from_form_to_confirmed_closure_and_to_a_dispute(
    client: Any, district: dict[str, Any], drain: Any
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    page = text_of(client.get(f"/q/{token}"))
    assert "<script" not in page and "老板或单位" in page and "<details" in page
    photo = (io.BytesIO(png_bytes("red")), "gongzi.png")
    first = client.post(
        f"/q/{token}",
        data={**form, **short_form(), "photos": photo},
        content_type="multipart/form-data",
    )
    assert first.status_code == 200, text_of(first)
    number, code = submitted(first)
    assert "已收到 1 张照片" in text_of(first)

    # Back and submit again: the same case and the same access code.
    again = client.post(f"/q/{token}", data={**form, **short_form()})
    assert submitted(again) == (number, code)
    case = case_by_number(number)
    assert case.channel == Channel.WEB and case.amount_owed_fen == 8_000_000
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id))) == 1
    assert case.period_start is not None and case.period_end is not None

    drain()
    resolve_as_team(case, paid_fen=8_000_000)
    drain()
    texts = [m["text"] for m in sms_log("13800138000")]
    assert any(number in t and "已分派" in t for t in texts), texts
    assert any(number in t and "已办结待确认" in t for t in texts), texts
    # Nothing personal beyond the case number and a short status.
    assert not any("张三" in t or "李老板" in t or "80" in t.replace(number, "") for t in texts)

    shown = open_case_page(client, number, code)
    assert "<script" not in shown
    assert "已全额支付" in shown or "全额" in shown
    assert "80,000.00" in shown and "总包代付" in shown and "已上传 1 份" in shown
    csrf = hidden(shown, "csrf_token")
    confirmed = client.post("/h5/case/confirm", data={"csrf_token": csrf, "score": "5"})
    assert confirmed.status_code == 303
    assert "案件已结案" in text_of(client.get("/h5/case"))
    assert case_by_number(number).status == CaseStatus.CLOSED
    rating = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "rating")
    ).one()
    assert rating.data["score"] == 5
    drain()
    assert any("已结案" in m["text"] for m in sms_log("13800138000"))

    # A second worker disputes the outcome with a reason.
    other = client.application.test_client()
    form = open_form(other, token)
    answer = other.post(
        f"/q/{token}",
        data={**form, **short_form(name="李四", mobile="13900139000", amount_yuan="8000元")},
    )
    number2, code2 = submitted(answer)
    case2 = case_by_number(number2)
    assert case2.amount_owed_fen == 800_000
    resolve_as_team(case2, paid_fen=400_000)
    open_case_page(other, number2, code2)
    csrf = case_csrf(other)
    blank = other.post("/h5/case/dispute", data={"csrf_token": csrf, "reason": " "})
    assert blank.status_code == 422 and "请写明" in text_of(blank)
    disputed = other.post(
        "/h5/case/dispute", data={"csrf_token": csrf, "reason": "只拿到一半工资", "score": "1"}
    )
    assert disputed.status_code == 303
    after = case_by_number(number2)
    assert after.status == CaseStatus.REOPENED and after.flagged_to_bureau
    assert "区信访局督办" in text_of(other.get("/h5/case"))
    drain()
    assert any(number2 in m["text"] for m in sms_log("13900139000"))


def test_a_blank_required_amount_is_refused_and_8wan_is_80000_yuan(
    client: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    counts = row_counts()
    blank = client.post(f"/q/{token}", data={**form, **short_form(amount_yuan="  ")})
    assert blank.status_code == 422
    assert re.search(r'id="amount_yuan-error">请填写欠薪金额<', text_of(blank))
    assert row_counts() == counts
    no_workers = client.post(f"/q/{token}", data={**form, **short_form(workers_affected="")})
    assert no_workers.status_code == 422 and "请填写被欠薪人数" in text_of(no_workers)
    accepted = client.post(f"/q/{token}", data={**form, **short_form(amount_yuan="8万")})
    number, _ = submitted(accepted)
    assert case_by_number(number).amount_owed_fen == 80_000 * 100


@pytest.mark.parametrize(
    ("typed", "fen"),
    [("8000元", 800_000), ("1.5万元", 1_500_000), ("23,456.50", 2_345_650), ("３千", 300_000)],
)
def test_amounts_are_read_as_workers_write_them(typed: str, fen: int) -> None:
    from handlers.h5 import parse_yuan

    assert parse_yuan(typed) == fen


def test_an_optional_field_failing_its_check_is_kept_and_flagged_not_a_blocker(
    client: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    answer = client.post(
        f"/q/{token}",
        data={
            **form,
            **full_form(id_number="110105194912310021", **{"employers-0-uscc": "91440300BAD"}),
        },
    )
    assert answer.status_code == 200, text_of(answer)
    number, _ = submitted(answer)
    assert "已照原样记下" in text_of(answer)
    case = case_by_number(number)
    flags = {f["field"]: f for f in case.intake_flags}
    assert flags["employers.0.uscc"]["value"] == "91440300BAD"
    # An ID number is kept, but never in clear.
    assert "value" not in flags["id_number"] and flags["id_number"]["value_encrypted"]
    assert case.complainant.id_number_hash is None
    # A required field is still required.
    form = open_form(client, token)
    refused = client.post(f"/q/{token}", data={**form, **short_form(mobile="12345")})
    assert refused.status_code == 422 and re.search(
        r'id="mobile-error">[^<]*手机号码', text_of(refused)
    )
    assert 'value="李老板"' in text_of(refused)


def test_an_expired_form_session_keeps_what_was_typed(
    client: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    counts = row_counts()
    # Another browser (or this one after its session cookie expired) posts the page.
    stranger = client.application.test_client()
    expired = stranger.post(f"/q/{token}", data={**form, **full_form()})
    page = text_of(expired)
    assert expired.status_code == 400 and "您填写的内容都还在" in page
    assert 'value="张三"' in page and 'value="8万"' in page and 'value="李老板"' in page
    assert hidden(page, "idempotency_key") == form["idempotency_key"]
    assert row_counts() == counts
    # Submitting the kept page again works.
    again = stranger.post(
        f"/q/{token}",
        data={
            **full_form(),
            "csrf_token": hidden(page, "csrf_token"),
            "idempotency_key": form["idempotency_key"],
        },
    )
    assert again.status_code == 200 and submitted(again)


def test_a_lost_access_code_is_sent_again_by_sms_to_the_mobile_on_the_case(
    client: Any, district: dict[str, Any], drain: Any
) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    number, code = submitted(client.post(f"/q/{token}", data={**form, **short_form()}))
    page = client.get("/h5/access-code")
    csrf = hidden(text_of(page), "csrf_token")
    wrong = client.post(
        "/h5/access-code", data={"csrf_token": csrf, "number": number, "mobile": "13700137000"}
    )
    right = client.post(
        "/h5/access-code", data={"csrf_token": csrf, "number": number, "mobile": "138 0013 8000"}
    )
    # The same answer either way: the page does not tell who filed a complaint.
    assert wrong.status_code == right.status_code == 200
    assert "如果手机号与案件登记的一致" in text_of(
        wrong
    ) and "如果手机号与案件登记的一致" in text_of(right)
    drain()
    codes = [m for m in sms_log("13800138000") if m["template"] == sms.ACCESS_CODE]
    assert len(codes) == 1 and codes[0]["params"] == [number, code]
    assert not sms_log("13700137000")
    assert code in codes[0]["text"]


def test_photos_can_be_added_later_on_the_case_page(client: Any, district: dict[str, Any]) -> None:
    token = demo_token(district)
    form = open_form(client, token)
    number, code = submitted(client.post(f"/q/{token}", data={**form, **short_form()}))
    open_case_page(client, number, code)
    csrf = case_csrf(client)
    answer = client.post(
        "/h5/case/photos",
        data={
            "csrf_token": csrf,
            "photos": [(io.BytesIO(png_bytes("red")), "a.png"), (io.BytesIO(b"nope"), "b.txt")],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "第 2 张" in text_of(answer)
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id))) == 1


def test_same_mobile_same_site_is_a_linked_duplicate_counted_once(
    client: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    numbers = []
    for amount in ("35000", "35000", "36000"):
        form = open_form(client, token)
        numbers.append(
            submitted(
                client.post(
                    f"/q/{token}",
                    data={**form, **short_form(workers_affected="35", amount_yuan=amount)},
                )
            )[0]
        )
    form = open_form(client, token)
    numbers.append(
        submitted(
            client.post(
                f"/q/{token}",
                data={**form, **short_form(mobile="13900139000", workers_affected="2")},
            )
        )[0]
    )
    first, second, third, fourth = (case_by_number(n) for n in numbers)
    assert first.duplicate_of_id is None and fourth.duplicate_of_id is None
    assert second.duplicate_of_id == first.id and third.duplicate_of_id == first.id
    # The foreman sees the suggestion on the case.
    from tests.test_foreman_api import auth, foreman_token

    token = foreman_token(client, second.foreman)
    shown = client.get(f"/api/v1/foreman/cases/{second.number}", headers=auth(token)).json
    assert shown["duplicate_of"] == first.number
    group = db.session.get(DisputeGroup, first.group_id)
    assert {c.group_id for c in (second, third, fourth)} == {group.id}
    assert group.case_count == 4 and group.complainants_total == 2
    assert group.workers_total == 37 and group.amount_total_fen == (35_000 + 80_000) * 100
    # The early-warning alert counts the 35 once, not 105.
    from wagedispute.models import Alert, AlertKind
    from wagedispute.supervision.alerts import scan_alerts

    scan_alerts()
    [alert] = db.session.scalars(sa.select(Alert).where(Alert.kind == AlertKind.GROUP_GROWTH))
    assert alert.details["workers_total"] == 37 and alert.details["new_workers"] == 37
    assert "105" not in alert.title


def test_fallback_pages_give_a_full_phone_to_call_and_the_hotline(
    client: Any, district: dict[str, Any]
) -> None:
    unknown = client.get("/q/forgedtoken00000000000000")
    page = text_of(unknown)
    assert unknown.status_code == 404 and "二维码无效" in page
    assert 'href="tel:12345"' in page
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
    assert f'href="tel:{foreman.phone}"' in page and "****" not in page
    assert 'href="tel:12345"' in page
    assert "/q/replacement00000000000001" in page
    counts = row_counts()
    form = open_form(client, "replacement00000000000001")
    assert client.post(f"/q/{old.token}", data={**form, **short_form()}).status_code == 410
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


def test_status_with_a_wrong_code_says_so_and_case_actions_need_the_session(
    client: Any, make_case: Any
) -> None:
    case = make_case()
    csrf = hidden(text_of(client.get("/h5/status")), "csrf_token")
    answer = client.post(
        "/h5/status", data={"csrf_token": csrf, "number": case.number, "access_code": "ABCDEFGH"}
    )
    assert answer.status_code == 404 and "案件编号或查询码不正确" in text_of(answer)
    refused = client.post("/h5/status", data={"number": case.number, "access_code": "ABCDEFGH"})
    assert refused.status_code == 400
    # Nothing opened: the case page and its actions lead back to the lookup.
    assert client.get("/h5/case").status_code == 303
    confirm = client.post("/h5/case/confirm", data={"csrf_token": csrf})
    assert confirm.status_code == 303 and case_by_number(case.number).status == CaseStatus.RECEIVED
