"""The mini-program API over HTTP: the worker's journey, every refusal, concurrency, OpenAPI."""

from __future__ import annotations

import io
import json
import re
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import HTTPException

from tests.test_intake import (
    VALID_USCC,
    complaint_payload,
    demo_token,
    jpeg_with_gps,
    row_counts,
)
from wagedispute.access.actors import Actor
from wagedispute.access.tokens import issue_token
from wagedispute.intake.submission import ComplaintIn
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Complainant,
    QrCode,
    QrStatus,
    Role,
    SubscriptionConsent,
)
from wagedispute.platform.database import db, utcnow


def sign_in(client: Any, openid: str = "o-worker-1") -> dict[str, str]:
    """Sign in through the sandbox (wechatpy's real client) and return auth headers."""
    answer = client.post("/api/v1/session", json={"code": f"sandbox:{openid}"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert set(body) == {"token", "expires_in"}
    return {"Authorization": f"Bearer {body['token']}"}


def assert_error(answer: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape, with the status and code expected and a Chinese message."""
    assert answer.status_code == status, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == code
    assert re.search(r"[\u4e00-\u9fff]", error["message"])
    return error


def submit(client: Any, headers: dict[str, str], body: dict[str, Any], key: str | None) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/complaints", json=body, headers={**headers, **extra})


def test_worker_journey_through_the_sandbox(client: Any, district: dict[str, Any]) -> None:
    token = demo_token(district)
    card = client.get(f"/api/v1/qr/{token}")
    assert card.status_code == 200
    assert card.get_json()["foreman_name"] == district["foremen"][0].name
    assert "****" in card.get_json()["foreman_phone_masked"]

    answer = client.post("/api/v1/session", json={"code": "sandbox:o-journey"})
    assert "session_key" not in answer.get_data(as_text=True)
    headers = {"Authorization": f"Bearer {answer.get_json()['token']}"}

    body = complaint_payload(qr_token=token)
    first = submit(client, headers, body, "journey-key-0001")
    assert first.status_code == 201, first.get_json()
    receipt = first.get_json()
    assert receipt["created"] is True and receipt["number"].startswith("YT-")
    assert receipt["status_label"] == "已受理" and receipt["access_code"] is None
    again = submit(client, headers, body, "journey-key-0001")
    assert again.status_code == 200
    assert again.get_json()["number"] == receipt["number"] and again.get_json()["created"] is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1

    listed = client.get("/api/v1/complaints", headers=headers).get_json()["cases"]
    assert [c["number"] for c in listed] == [receipt["number"]]

    upload = client.post(
        f"/api/v1/complaints/{receipt['number']}/evidence",
        data={"file": (io.BytesIO(jpeg_with_gps()), "工资条.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201 and upload.get_json()["content_type"] == "image/jpeg"

    # A staff-only internal note must not reach the worker.
    case = db.session.scalars(sa.select(Case)).one()
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind="note",
            actor_role=Role.TEAM_MEMBER,
            actor_id=77,
            data={"message": "内部备注：老板电话 13900000000", "member": "海山1组队员1"},
            worker_visible=False,
        )
    )
    db.session.commit()
    detail = client.get(f"/api/v1/complaints/{receipt['number']}", headers=headers)
    assert detail.status_code == 200
    view = detail.get_json()
    assert [step["message"] for step in view["timeline"]] == ["您的投诉已受理", "已补充证据材料"]
    assert all(set(step) == {"message", "status", "at"} for step in view["timeline"])
    text = detail.get_data(as_text=True)
    for secret in ("内部备注", "海山1组队员1", "13800138000", "王小明", "actor_id", "team"):
        assert secret not in text
    assert view["timeline"][0]["at"].endswith("+08:00")

    consents = client.post(
        "/api/v1/subscriptions",
        json={"accepted": ["tmpl-dispatched"], "rejected": ["tmpl-resolved"]},
        headers=headers,
    )
    assert consents.status_code == 200
    rows = {
        r.template: (r.accepted, r.remaining)
        for r in db.session.scalars(sa.select(SubscriptionConsent))
    }
    assert rows == {"tmpl-dispatched": (True, 1), "tmpl-resolved": (False, 0)}

    withdrawn = client.post(
        f"/api/v1/complaints/{receipt['number']}/withdraw",
        json={"reason": "老板已经付钱了"},
        headers=headers,
    )
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.WITHDRAWN


def test_sign_in_with_an_invalid_code_is_refused(client: Any, app: Any) -> None:
    counts = row_counts()
    answer = client.post("/api/v1/session", json={"code": "not-a-real-code"})
    assert_error(answer, 401, "wechat_code_invalid")
    assert row_counts() == counts


def test_signing_in_twice_keeps_one_complainant(client: Any, app: Any) -> None:
    sign_in(client, "o-twice")
    sign_in(client, "o-twice")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Complainant)) == 1


@pytest.mark.parametrize(
    "token",
    ["forgedtoken00000000000000", "demo0000000000000000dead", "short", "bad%20token!!"],
)
def test_forged_and_malformed_qr_tokens_are_unknown(
    client: Any, district: dict[str, Any], token: str
) -> None:
    assert_error(client.get(f"/api/v1/qr/{token}"), 404, "qr_unknown")
    headers = sign_in(client)
    counts = row_counts()
    answer = submit(client, headers, complaint_payload(qr_token=token), "forged-key-0001")
    assert_error(answer, 404, "qr_unknown")
    assert row_counts() == counts


def test_revoked_qr_token_answers_with_the_foremans_current_contact(
    client: Any, district: dict[str, Any]
) -> None:
    foreman = district["foremen"][0]
    old = db.session.scalars(sa.select(QrCode).where(QrCode.foreman_id == foreman.id)).one()
    old.status = QrStatus.REVOKED
    old.revoked_at = utcnow()
    db.session.add(QrCode(token="newtoken0000000000000001", foreman_id=foreman.id))
    db.session.commit()
    error = assert_error(client.get(f"/api/v1/qr/{old.token}"), 410, "qr_revoked")
    assert error["details"]["foreman_name"] == foreman.name
    assert error["details"]["qr_url"].endswith("/q/newtoken0000000000000001")
    headers = sign_in(client)
    counts = row_counts()
    answer = submit(client, headers, complaint_payload(qr_token=old.token), "revoked-key-001")
    assert_error(answer, 410, "qr_revoked")
    assert row_counts() == counts


def test_malformed_requests_are_refused_and_change_nothing(
    client: Any, app: Any, district: dict[str, Any]
) -> None:
    headers = sign_in(client)
    token = demo_token(district)
    body = complaint_payload(qr_token=token)
    counts = row_counts()
    key = {"Idempotency-Key": "malformed-0001"}

    answer = client.post(
        "/api/v1/complaints",
        data=json.dumps(body),
        headers={**headers, **key},
        content_type="text/plain",
    )
    assert_error(answer, 415, "unsupported_media_type")

    answer = client.post(
        "/api/v1/complaints",
        data=json.dumps(body)[:-5],
        headers={**headers, **key},
        content_type="application/json",
    )
    assert_error(answer, 400, "malformed_json")

    bad = complaint_payload(
        qr_token=token,
        id_number="110105194912310021",
        employers=[{"role": "总包", "name": "某公司", "uscc": "91440300MA5D12345X"}],
    )
    error = assert_error(submit(client, headers, bad, "malformed-0002"), 422, "invalid_input")
    fields = {d["field"]: d for d in error["details"]}
    assert fields["id_number"]["problem"] == "id_number_invalid"
    assert fields["employers.0.uscc"]["problem"] == "uscc_invalid"
    assert fields["id_number"]["message"] == "身份证号码无效，请核对"

    assert_error(submit(client, headers, body, None), 400, "idempotency_key_required")
    assert_error(submit(client, headers, body, "short"), 422, "idempotency_key_invalid")

    app.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        big = complaint_payload(qr_token=token, description="欠" * 1500)
        answer = submit(client, headers, big, "malformed-0003")
        assert_error(answer, 413, "payload_too_large")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024

    assert_error(client.post("/api/v1/complaints", json=body, headers=key), 401, "unauthorized")
    forged = {"Authorization": "Bearer forged.token.value", **key}
    assert_error(client.post("/api/v1/complaints", json=body, headers=forged), 401, "token_invalid")
    assert row_counts() == counts


def test_reusing_a_key_with_another_body_is_a_conflict(
    client: Any, district: dict[str, Any]
) -> None:
    headers = sign_in(client)
    token = demo_token(district)
    assert (
        submit(client, headers, complaint_payload(qr_token=token), "reuse-key-0001").status_code
        == 201
    )
    counts = row_counts()
    other = complaint_payload(qr_token=token, amount_owed_fen=1)
    error = assert_error(
        submit(client, headers, other, "reuse-key-0001"), 409, "idempotency_key_reused"
    )
    assert error["message"].startswith("该幂等键")
    assert row_counts() == counts


def test_another_workers_case_number_is_not_found(client: Any, district: dict[str, Any]) -> None:
    token = demo_token(district)
    owner = sign_in(client, "o-owner")
    number = submit(client, owner, complaint_payload(qr_token=token), "owner-key-0001").get_json()[
        "number"
    ]
    stranger = sign_in(client, "o-stranger")
    counts = row_counts()
    assert_error(client.get(f"/api/v1/complaints/{number}", headers=stranger), 404, "not_found")
    assert_error(
        client.post(f"/api/v1/complaints/{number}/withdraw", headers=stranger), 404, "not_found"
    )
    answer = client.post(
        f"/api/v1/complaints/{number}/evidence",
        data=jpeg_with_gps(),
        headers=stranger,
        content_type="image/jpeg",
    )
    assert_error(answer, 404, "not_found")
    assert client.get("/api/v1/complaints", headers=stranger).get_json() == {
        "cases": [],
        "next_cursor": None,
    }
    # A foreman's token does not open the worker endpoints either.
    foreman = district["foremen"][0]
    foreman_headers = {
        "Authorization": "Bearer " + issue_token(Actor(Role.FOREMAN, foreman.id)),
    }
    assert_error(
        client.get(f"/api/v1/complaints/{number}", headers=foreman_headers), 404, "not_found"
    )
    assert row_counts() == counts
    db.session.expire_all()
    assert db.session.scalars(sa.select(Case)).one().status == CaseStatus.RECEIVED


def test_evidence_with_a_wrong_type_is_refused(client: Any, district: dict[str, Any]) -> None:
    headers = sign_in(client)
    number = submit(
        client, headers, complaint_payload(qr_token=demo_token(district)), "evidence-key-001"
    ).get_json()["number"]
    counts = row_counts()
    answer = client.post(
        f"/api/v1/complaints/{number}/evidence",
        data={"file": (io.BytesIO(b"MZ\x90\x00 executable"), "photo.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert_error(answer, 415, "evidence_type_unsupported")
    assert row_counts() == counts


def test_rate_limit_answers_429_in_the_error_shape(client: Any, app: Any) -> None:
    app.config["RATE_LIMIT_PER_MINUTE"] = 1
    try:
        answers = [client.get("/api/v1/qr/forgedtoken00000000000000") for _ in range(6)]
    finally:
        app.config["RATE_LIMIT_PER_MINUTE"] = 30
    assert [a.status_code for a in answers[:4]] == [404] * 4
    assert_error(answers[4], 429, "rate_limited")


def test_foreman_phone_intake_creates_a_phone_case(client: Any, district: dict[str, Any]) -> None:
    foreman = district["foremen"][3]
    headers = {
        "Authorization": "Bearer "
        + issue_token(Actor(Role.FOREMAN, foreman.id, street_id=foreman.street_id))
    }
    body = complaint_payload(description="电话反映：十几个人准备去拉横幅讨薪", workers_affected=15)
    answer = client.post(
        "/api/v1/foreman/phone-intake",
        json=body,
        headers={**headers, "Idempotency-Key": "phone-key-0001"},
    )
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["urgency_reasons"]
    case = db.session.scalars(sa.select(Case)).one()
    assert case.channel == "phone" and case.foreman_id == foreman.id
    assert case.urgency_suggested in {"urgent", "critical"}
    worker = sign_in(client)
    counts = row_counts()
    answer = client.post("/api/v1/foreman/phone-intake", json=body, headers=worker)
    assert_error(answer, 404, "not_found")
    assert row_counts() == counts


def test_twenty_concurrent_submissions_with_one_key_create_one_case(
    migrated_app: Any, app: Any, district: dict[str, Any]
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is checked on PostgreSQL, the production database")
    client = app.test_client()
    headers = sign_in(client, "o-concurrent")
    body = complaint_payload(qr_token=demo_token(district))
    barrier = threading.Barrier(20)
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def send() -> None:
        own = migrated_app.test_client()
        barrier.wait()
        answer = submit(own, headers, body, "concurrent-key-0001")
        with lock:
            answers.append((answer.status_code, answer.get_json()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 19 + [201], answers
    assert len({body["number"] for _, body in answers}) == 1
    counts = row_counts()
    assert counts["cases"] == 1 and counts["idempotency_records"] == 1
    assert counts["case_events"] == 1 and counts["outbox"] == 1
    assert counts["dispute_groups"] == 1


def test_every_documented_path_exists_in_the_app(client: Any, app: Any) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    adapter = app.url_map.bind("wage.example.test")
    assert document["paths"], "the document lists no paths"
    for path, operations in document["paths"].items():
        # Ids are integers in the routes ("<int:evidence_id>"); other segments are strings.
        concrete = re.sub(
            r"\{(\w+)\}", lambda m: "1" if m[1].endswith("_id") else "sample-value", path
        )
        for method in operations:
            try:
                adapter.match(concrete, method=method.upper())
            except HTTPException as exc:
                pytest.fail(f"{method.upper()} {path} is documented but not served ({exc})")
    ours = {path for path in document["paths"] if path.startswith("/api/v1/complaints")}
    assert {"/api/v1/complaints", "/api/v1/complaints/{number}"} <= ours
    schema = document["components"]["schemas"]["ComplaintIn"]
    assert {"name", "mobile", "workers_affected", "amount_owed_fen"} <= set(schema["required"])


def test_a_request_built_from_the_documented_model_is_accepted(
    client: Any, district: dict[str, Any]
) -> None:
    headers = sign_in(client)
    model = ComplaintIn(
        name="李四",
        mobile="13912345678",
        workers_affected=2,
        amount_owed_fen=600_000,
        site_name="盐田港工地",
        employers=[{"role": "总包", "name": "某建设公司", "uscc": VALID_USCC}],
        qr_token=demo_token(district),
    )
    answer = submit(client, headers, model.model_dump(mode="json"), "documented-key-01")
    assert answer.status_code == 201, answer.get_json()
