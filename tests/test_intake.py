"""Intake services: validation, triage, grouping, idempotency, personal data, evidence."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import chinese_calendar
import pytest
import sqlalchemy as sa
from PIL import Image
from pydantic import ValidationError

from handlers.errors import field_errors
from wagedispute.access.actors import Actor
from wagedispute.cases.evidence import store_evidence
from wagedispute.cases.grouping import match_keys, normalise_name
from wagedispute.intake.submission import ComplaintIn, submit_complaint
from wagedispute.intake.triage import (
    TriageFacts,
    load_rules,
    months_owed,
    next_spring_festival,
    suggest_urgency,
)
from wagedispute.models import (
    Case,
    CaseEvent,
    Channel,
    Complainant,
    DisputeGroup,
    Evidence,
    IdempotencyRecord,
    Outbox,
    QrCode,
    Role,
    Urgency,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import Conflict, DomainError, NotFound

VALID_ID = "11010519491231002X"
VALID_ID_2 = "360426199101010071"
VALID_USCC = "91440300MA5D12345W"
VALID_USCC_2 = "91440300MA5F000007"

COUNTED = (Case, CaseEvent, Outbox, Complainant, IdempotencyRecord, DisputeGroup, Evidence)


def complaint_payload(**overrides: Any) -> dict[str, Any]:
    """A valid complaint body as a client would send it."""
    body: dict[str, Any] = {
        "name": "王小明",
        "mobile": "13800138000",
        "id_number": VALID_ID,
        "site_name": "海景花园二期工地",
        "site_address": "深圳市盐田区海山街道海景路 1 号",
        "employers": [
            {"role": "总包", "name": "深圳市鹏城建设工程有限公司", "uscc": VALID_USCC},
            {"role": "班组", "name": "李师傅木工班组"},
        ],
        "workers_affected": 3,
        "amount_owed_fen": 1_800_000,
        "period_start": "2025-09-01",
        "period_end": "2025-10-31",
        "description": "木工班组三人两个月工资未发",
        "consent_disclose_identity": False,
    }
    body.update(overrides)
    return body


def row_counts() -> dict[str, int]:
    """How many rows each intake table holds (to prove a refusal changed nothing)."""
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in COUNTED
    }


def demo_token(district: dict[str, Any], index: int = 0) -> str:
    """The QR token of a demo foreman."""
    foreman = district["foremen"][index]
    return db.session.scalars(sa.select(QrCode.token).where(QrCode.foreman_id == foreman.id)).one()


def signed_in_complainant(openid: str = "o-worker-1") -> Actor:
    """A complainant row as sign-in would create it, and its actor."""
    complainant = Complainant(openid=openid)
    db.session.add(complainant)
    db.session.commit()
    return Actor(Role.COMPLAINANT, complainant.id)


# ---- validation (no database) ----


def test_valid_complaint_is_normalised() -> None:
    data = ComplaintIn.model_validate(
        complaint_payload(
            mobile="+86 138-0013-8000",
            id_number="11010519491231002x",
            employers=[{"role": "分包", "name": " 某劳务公司 ", "uscc": VALID_USCC.lower()}],
        )
    )
    assert data.mobile == "13800138000"
    assert data.id_number == VALID_ID
    assert data.employers[0].uscc == VALID_USCC
    assert data.employers[0].name == "某劳务公司"
    assert data.consent_disclose_identity is False


def test_invalid_id_number_and_credit_code_are_reported_per_field_in_chinese() -> None:
    body = complaint_payload(
        id_number="110105194912310021",
        employers=[{"role": "总包", "name": "某公司", "uscc": "91440300MA5D12345X"}],
    )
    with pytest.raises(ValidationError) as caught:
        ComplaintIn.model_validate(body)
    problems = {p["field"]: p for p in field_errors(caught.value)}
    assert problems["id_number"]["problem"] == "id_number_invalid"
    assert problems["id_number"]["message"] == "身份证号码无效，请核对"
    assert problems["employers.0.uscc"]["problem"] == "uscc_invalid"
    assert "统一社会信用代码" in problems["employers.0.uscc"]["message"]


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"mobile": "12345678901"}, "mobile", "mobile_invalid"),
        ({"mobile": "02012345678"}, "mobile", "mobile_invalid"),
        ({"workers_affected": 0}, "workers_affected", "greater_than_equal"),
        ({"workers_affected": 10_001}, "workers_affected", "less_than_equal"),
        ({"amount_owed_fen": -1}, "amount_owed_fen", "greater_than_equal"),
        ({"amount_owed_fen": 10_000_000_001}, "amount_owed_fen", "less_than_equal"),
        ({"amount_owed_fen": 12.5}, "amount_owed_fen", "int_from_float"),
        ({"period_end": "2025-08-01"}, "period_end", "period_reversed"),
        ({"description": "欠" * 2001}, "description", "string_too_long"),
        ({"employers": [{"role": "老板", "name": "某人"}]}, "employers.0.role", "literal_error"),
        ({"name": ""}, "name", "string_too_short"),
        ({"unexpected": 1}, "unexpected", "extra_forbidden"),
    ],
)
def test_out_of_range_fields_are_refused(overrides: dict, field: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ComplaintIn.model_validate(complaint_payload(**overrides))
    problems = {p["field"]: p for p in field_errors(caught.value)}
    assert problems[field]["problem"] == problem
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problems[field]["message"])


def test_period_in_the_future_is_refused() -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    with pytest.raises(ValidationError) as caught:
        ComplaintIn.model_validate(complaint_payload(period_end=tomorrow))
    assert field_errors(caught.value)[0]["problem"] == "date_in_future"


# ---- triage (no database) ----


def facts(**overrides: Any) -> TriageFacts:
    values: dict[str, Any] = {
        "workers_affected": 2,
        "amount_owed_fen": 500_000,
        "description": "工资没发",
        "today": date(2026, 6, 15),
    }
    values.update(overrides)
    return TriageFacts(**values)


def test_quiet_small_case_far_from_the_festival_is_normal() -> None:
    level, reasons = suggest_urgency(facts())
    assert level == Urgency.NORMAL
    assert reasons == ["未发现紧急信号"]


def test_many_workers_or_threats_make_a_case_critical_with_reasons() -> None:
    level, reasons = suggest_urgency(facts(workers_affected=45))
    assert level == Urgency.CRITICAL
    assert reasons == ["涉及工人 45 人（≥30 人）"]
    level, reasons = suggest_urgency(facts(description="再不给钱我们就去堵路"))
    assert level == Urgency.CRITICAL
    assert "堵路" in reasons[0]


def test_moderate_signals_make_a_case_urgent() -> None:
    level, reasons = suggest_urgency(
        facts(period_start=date(2026, 2, 1), period_end=date(2026, 4, 30), amount_owed_fen=0)
    )
    assert (level, reasons) == (Urgency.URGENT, ["拖欠 3 个月（≥3 个月）"])
    level, reasons = suggest_urgency(facts(repeat_count=2))
    assert level == Urgency.URGENT and "已有 2 宗投诉" in reasons[0]
    level, reasons = suggest_urgency(facts(earlier_unresolved_by_worker=True))
    assert (level, reasons) == (Urgency.URGENT, ["该工人此前的投诉尚未解决"])
    level, reasons = suggest_urgency(facts(amount_owed_fen=150_000_00))
    assert level == Urgency.URGENT and "150,000 元" in reasons[0]


def test_the_weeks_before_spring_festival_raise_the_level_by_one() -> None:
    before = date(2026, 2, 17) - timedelta(days=10)
    level, reasons = suggest_urgency(facts(today=before))
    assert level == Urgency.URGENT
    assert reasons == ["距春节还有 10 天（春节前 30 天内，风险上升）"]
    level, _ = suggest_urgency(facts(today=before, workers_affected=12))
    assert level == Urgency.CRITICAL
    level, _ = suggest_urgency(facts(today=date(2026, 2, 17) - timedelta(days=31)))
    assert level == Urgency.NORMAL


def test_spring_festival_table_agrees_with_the_holiday_calendar() -> None:
    for text in load_rules()["spring_festival_dates"]:
        day = date.fromisoformat(text)
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            continue  # the calendar only covers published years
        assert on_holiday and name == "Spring Festival", text
    assert next_spring_festival(date(2026, 2, 18)) == date(2027, 2, 6)


def test_months_owed_counts_calendar_months_touched() -> None:
    assert months_owed(date(2025, 1, 15), date(2025, 3, 10), date(2026, 1, 1)) == 3
    assert months_owed(date(2025, 11, 1), None, date(2026, 1, 5)) == 3
    assert months_owed(None, None, date(2026, 1, 5)) == 0


# ---- grouping keys (no database) ----


def test_company_names_normalise_to_one_key() -> None:
    variants = [
        "深圳市鹏城建设工程有限公司",
        "深圳市鹏城建设工程 有限责任公司",
        "深圳市鹏城建设工程（有限公司）",
        "深圳市鹏城建设工程",
    ]
    assert {normalise_name(v) for v in variants} == {"深圳市鹏城建设工程"}
    assert normalise_name("ＡＢＣ建筑　公司") == "abc建筑"
    keys = match_keys("海景 花园", [{"name": "某某有限公司", "uscc": VALID_USCC}])
    assert keys == [f"uscc:{VALID_USCC}", "employer:某某", "site:海景花园"]


# ---- submit_complaint (database) ----


def test_submission_stores_encrypted_personal_data_with_hashes_and_masks(
    app: Any, district: dict[str, Any]
) -> None:
    actor = signed_in_complainant()
    data = ComplaintIn.model_validate(complaint_payload(qr_token=demo_token(district)))
    result = submit_complaint(data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key="k1")
    db.session.expire_all()
    case = db.session.get(Case, result.case.id)
    assert result.created and result.access_code is None
    assert case.number.startswith("YT-") and case.channel == Channel.MINIPROGRAM
    assert case.foreman_id == district["foremen"][0].id
    assert case.street_id == district["foremen"][0].street_id
    assert case.complainant_id == actor.id
    complainant = db.session.get(Complainant, actor.id)
    vault = app.extensions["wagedispute.pii"]
    assert "13800138000" not in complainant.mobile_encrypted
    assert vault.decrypt(complainant.mobile_encrypted) == "13800138000"
    assert vault.decrypt(complainant.name_encrypted) == "王小明"
    assert vault.decrypt(complainant.id_number_encrypted) == VALID_ID
    assert complainant.mobile_hash == vault.keyed_hash("13800138000")
    assert complainant.mobile_masked == "138****8000"
    assert complainant.id_number_masked == "110*************2X"
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert [(e.kind, e.to_status, e.worker_visible) for e in events] == [
        ("status", "received", True)
    ]
    assert "王小明" not in str(events[0].data) and "13800138000" not in str(events[0].data)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 1
    assert case.urgency_reasons and case.group_id is not None


def test_same_key_and_body_returns_the_same_case(app: Any, district: dict[str, Any]) -> None:
    actor = signed_in_complainant()
    data = ComplaintIn.model_validate(complaint_payload(qr_token=demo_token(district)))
    first = submit_complaint(data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key="k1")
    counts = row_counts()
    again = submit_complaint(data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key="k1")
    assert again.case.id == first.case.id and not again.created
    assert row_counts() == counts


def test_same_key_with_another_body_is_refused_and_changes_nothing(
    app: Any, district: dict[str, Any]
) -> None:
    actor = signed_in_complainant()
    token = demo_token(district)
    data = ComplaintIn.model_validate(complaint_payload(qr_token=token))
    submit_complaint(data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key="k1")
    counts = row_counts()
    other = ComplaintIn.model_validate(complaint_payload(qr_token=token, workers_affected=4))
    with pytest.raises(Conflict) as caught:
        submit_complaint(other, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key="k1")
    assert caught.value.code == "idempotency_key_reused" and caught.value.status == 409
    assert row_counts() == counts


def test_web_submission_gets_an_access_code_stored_only_as_a_hash(
    app: Any, district: dict[str, Any]
) -> None:
    data = ComplaintIn.model_validate(complaint_payload(qr_token=demo_token(district)))
    result = submit_complaint(data, channel=Channel.WEB, actor=None, idempotency_key="web-key-1")
    assert result.access_code and len(result.access_code) == 8
    case = db.session.get(Case, result.case.id)
    assert case.access_code_hash and result.access_code not in case.access_code_hash
    from wagedispute.intake.complaints import find_case_by_access_code

    assert find_case_by_access_code(case.number, result.access_code.lower()).id == case.id
    with pytest.raises(NotFound):
        find_case_by_access_code(case.number, "AAAAAAAA")


def test_phone_intake_records_the_callers_details_under_the_foreman(
    app: Any, district: dict[str, Any]
) -> None:
    foreman = district["foremen"][2]
    actor = Actor(Role.FOREMAN, foreman.id, street_id=foreman.street_id)
    data = ComplaintIn.model_validate(complaint_payload(id_number=None))
    result = submit_complaint(data, channel=Channel.PHONE, actor=actor, idempotency_key=None)
    case = db.session.get(Case, result.case.id)
    assert case.channel == Channel.PHONE and case.foreman_id == foreman.id
    assert case.qr_code_id is None and case.street_id == foreman.street_id
    complainant = db.session.get(Complainant, case.complainant_id)
    assert complainant.openid is None and complainant.mobile_masked == "138****8000"
    event = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
    assert (event.actor_role, event.actor_id) == (Role.FOREMAN, foreman.id)


def test_missing_site_without_a_bound_site_is_refused(app: Any, district: dict[str, Any]) -> None:
    actor = signed_in_complainant()
    data = ComplaintIn.model_validate(
        complaint_payload(qr_token=demo_token(district), site_name="")
    )
    counts = row_counts()
    with pytest.raises(DomainError) as caught:
        submit_complaint(data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key="k9")
    assert caught.value.status == 422 and caught.value.details[0]["field"] == "site_name"
    assert row_counts() == counts


def test_site_defaults_to_the_site_bound_to_the_qr_code(app: Any, district: dict[str, Any]) -> None:
    foreman = district["foremen"][0]
    qr = QrCode(
        token="sitebound0000000000000001",
        foreman_id=foreman.id,
        site_name="盐田港后方陆域工地",
        site_address="盐田区港前路",
    )
    db.session.add(qr)
    db.session.commit()
    body = complaint_payload(qr_token=qr.token, site_name=None, site_address=None)
    result = submit_complaint(
        ComplaintIn.model_validate(body),
        channel=Channel.WEB,
        actor=None,
        idempotency_key="site-default-1",
    )
    assert (result.case.site_name, result.case.site_address) == (
        "盐田港后方陆域工地",
        "盐田区港前路",
    )
    assert result.case.qr_code_id == qr.id


def test_complaints_about_one_employer_join_one_group_with_live_totals(
    app: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    bodies = [
        complaint_payload(
            mobile="13800138001",
            site_name="工地甲",
            employers=[{"role": "总包", "name": "鹏城建设有限公司", "uscc": VALID_USCC}],
            workers_affected=3,
            amount_owed_fen=100,
        ),
        # Same credit code, a different spelling and site.
        complaint_payload(
            mobile="13800138002",
            site_name="工地乙",
            employers=[{"role": "分包", "name": "鹏城建设（集团）", "uscc": VALID_USCC}],
            workers_affected=5,
            amount_owed_fen=200,
        ),
        # No credit code, but the same site as the first.
        complaint_payload(
            mobile="13800138003",
            site_name="工地 甲",
            employers=[],
            workers_affected=7,
            amount_owed_fen=400,
        ),
        # Unrelated.
        complaint_payload(
            mobile="13800138004",
            site_name="别处工地",
            employers=[{"role": "总包", "name": "另一家公司", "uscc": VALID_USCC_2}],
        ),
    ]
    cases = []
    for index, body in enumerate(bodies):
        result = submit_complaint(
            ComplaintIn.model_validate({**body, "qr_token": token, "id_number": None}),
            channel=Channel.WEB,
            actor=None,
            idempotency_key=f"group-key-{index}",
        )
        cases.append(result.case)
    first_group = cases[0].group_id
    assert cases[1].group_id == first_group
    assert cases[3].group_id != first_group
    group = db.session.get(DisputeGroup, first_group)
    assert (group.case_count, group.workers_total, group.amount_total_fen) == (2, 8, 300)
    # The third case matched the first case's site, which keyed a group of its own.
    site_group = db.session.get(DisputeGroup, cases[2].group_id)
    assert site_group.match_key == "site:工地甲"


def test_grouping_window_ends_old_groups(app: Any, district: dict[str, Any]) -> None:
    token = demo_token(district)
    body = complaint_payload(qr_token=token, id_number=None)
    first = submit_complaint(
        ComplaintIn.model_validate(body), channel=Channel.WEB, actor=None, idempotency_key="w-1"
    )
    group = db.session.get(DisputeGroup, first.case.group_id)
    group.last_case_at = utcnow() - timedelta(days=91)
    db.session.commit()
    second = submit_complaint(
        ComplaintIn.model_validate({**body, "mobile": "13912345678"}),
        channel=Channel.WEB,
        actor=None,
        idempotency_key="w-2",
    )
    assert second.case.group_id != first.case.group_id


def test_repeat_and_earlier_unresolved_complaints_raise_urgency(
    app: Any, district: dict[str, Any]
) -> None:
    token = demo_token(district)
    results = []
    for index in range(3):
        body = complaint_payload(
            qr_token=token,
            id_number=None,
            mobile=f"1380013800{index}",
            period_start=None,
            period_end=None,
            workers_affected=1,
            amount_owed_fen=100,
            description="工资没发",
        )
        results.append(
            submit_complaint(
                ComplaintIn.model_validate(body),
                channel=Channel.WEB,
                actor=None,
                idempotency_key=f"repeat-{index}",
            )
        )
    festival = next_spring_festival(date.today())
    near_festival = festival is not None and (festival - date.today()).days <= 30
    if not near_festival:
        assert results[0].case.urgency_suggested == Urgency.NORMAL
    assert results[2].case.urgency_suggested in {Urgency.URGENT, Urgency.CRITICAL}
    assert any("已有 2 宗投诉" in r for r in results[2].case.urgency_reasons)
    # The first worker complains again about another site: the open earlier case counts.
    again = submit_complaint(
        ComplaintIn.model_validate(
            complaint_payload(
                qr_token=token,
                id_number=None,
                mobile="13800138000",
                site_name="完全不同的工地",
                employers=[],
                workers_affected=1,
                amount_owed_fen=100,
                period_start=None,
                period_end=None,
                description="工资没发",
            )
        ),
        channel=Channel.WEB,
        actor=None,
        idempotency_key="repeat-again",
    )
    assert "该工人此前的投诉尚未解决" in again.case.urgency_reasons


# ---- evidence (database) ----


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 30), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (22.0, 35.0, 1.0), 3: "E", 4: (114.0, 14.0, 2.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_evidence_image_is_stored_without_its_metadata(app: Any, make_case: Any) -> None:
    case = make_case()
    actor = Actor(Role.FOREMAN, case.foreman_id)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    evidence = store_evidence(case.id, actor, original)
    assert evidence.content_type == "image/jpeg"
    stored = Image.open(io.BytesIO(evidence.data))
    assert stored.format == "JPEG" and stored.size == (40, 30)
    assert not stored.getexif() and b"PhoneMaker" not in evidence.data
    event = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "evidence")
    ).one()
    assert event.data["evidence_id"] == evidence.id and event.worker_visible


def test_evidence_is_recognised_by_content_not_by_name(app: Any, make_case: Any) -> None:
    case = make_case()
    actor = Actor(Role.FOREMAN, case.foreman_id)
    counts = row_counts()
    for data in (b"GIF89a" + b"\0" * 64, b"<html>not an image</html>", b"PK\x03\x04zipfile"):
        with pytest.raises(DomainError) as caught:
            store_evidence(case.id, actor, data)
        assert caught.value.status == 415
    assert row_counts() == counts
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert store_evidence(case.id, actor, pdf).content_type == "application/pdf"


def test_oversized_or_out_of_scope_evidence_is_refused(
    app: Any, make_app: Any, make_case: Any, district: dict[str, Any]
) -> None:
    case = make_case()
    other = Actor(Role.FOREMAN, district["foremen"][1].id)
    counts = row_counts()
    with pytest.raises(NotFound):
        store_evidence(case.id, other, jpeg_with_gps())
    app.config["EVIDENCE_MAX_BYTES"] = 100
    try:
        with pytest.raises(DomainError) as caught:
            store_evidence(case.id, Actor(Role.FOREMAN, case.foreman_id), jpeg_with_gps())
        assert caught.value.status == 413 and caught.value.code == "evidence_too_large"
    finally:
        app.config["EVIDENCE_MAX_BYTES"] = 8 * 1024 * 1024
    assert row_counts() == counts
