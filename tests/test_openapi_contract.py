"""The OpenAPI document is a contract: every operation documents its 4xx answers, its response
schema, a tag and an operation id, and answers only the statuses it documents (checked by
walking the document and exercising every route, refusals and successes alike)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request, request_finished

from tests.test_foreman_api import auth, foreman_token, member_token, members_of
from tests.test_team_api import png_bytes
from tests.test_whole_loop import handle_to_resolution, sign_in_worker, submit
from wagedispute.models import QrCode
from wagedispute.platform.database import db

UNKNOWN = {"number": "YT-2026-999999", "evidence_id": "999999", "token": "Unknown00000000000000000"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, entry in methods.items():
            yield path, method.upper(), entry


def documented_path(rule: str, view_args: dict[str, Any]) -> str:
    """The OpenAPI path of a Flask rule (``<int:evidence_id>`` → ``{evidence_id}``)."""
    path = re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", r"{\1}", rule)
    if "{kind}" in path:
        path = path.replace("{kind}", view_args["kind"])
    return path


@pytest.fixture
def answered(app: Flask) -> Iterator[list[tuple[str, str, int]]]:
    """Every (documented path, method, status) the app answered during the test."""
    seen: list[tuple[str, str, int]] = []

    def record(sender: Flask, response: Any, **_: Any) -> None:
        if request.url_rule is not None and request.path.startswith("/api/v1/"):
            path = documented_path(request.url_rule.rule, request.view_args or {})
            seen.append((path, request.method, response.status_code))

    request_finished.connect(record, app)
    yield seen
    request_finished.disconnect(record, app)


def test_every_operation_documents_a_client_error_a_schema_a_tag_and_an_id(client):
    document = client.get("/api/v1/openapi.json").get_json()
    ids = []
    tags = {t["name"] for t in document["tags"]}
    for path, method, entry in operations(document):
        statuses = set(entry["responses"])
        assert any(s.startswith("4") for s in statuses), (method, path)
        success = [s for s in statuses if s.startswith("2")]
        assert success, (method, path)
        for status in success:
            assert entry["responses"][status].get("content"), (method, path, status)
        for status in statuses - set(success) - {"304"}:
            schema = entry["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            assert entry["responses"][status]["x-error-codes"], (method, path, status)
        assert entry["tags"] and set(entry["tags"]) <= tags, (method, path)
        ids.append(entry["operationId"])
    assert len(ids) == len(set(ids))
    assert document["components"]["schemas"]["Error"]["properties"]["error"]["required"] == [
        "code",
        "message",
        "details",
    ]


def test_enums_carry_their_chinese_labels(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Urgency"]["x-enum-labels"] == {
        "critical": "特急",
        "urgent": "紧急",
        "normal": "一般",
    }
    status = schemas["CaseSummaryOut"]["properties"]["status"]
    assert status["x-enum-labels"]["received"] == "已受理"
    assert "received" in status["enum"]
    assert schemas["Outcome"]["x-enum-labels"]["paid_in_full"] == "已全额支付"


ROLE_BY_TAG = {"工人": "worker", "工长": "foreman", "处置小组": "team"}


def role_of(entry: dict[str, Any]) -> str | None:
    """Whose token an operation takes: by its tag; a signed-in 登录 operation takes anyone's."""
    if "security" not in entry:
        return None
    return ROLE_BY_TAG.get(entry["tags"][0], "worker")


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"{([a-z_]+)}", lambda m: values[m.group(1)], path)


def test_every_operation_answers_only_statuses_it_documents(client, district, drain, answered):
    document = client.get("/api/v1/openapi.json").get_json()
    foreman = district["foremen"][0]
    qr_token = db.session.scalars(
        sa.select(QrCode.token).where(QrCode.foreman_id == foreman.id)
    ).one()
    team = next(t for t in district["teams"] if t.street_id == foreman.street_id)
    tokens = {
        "worker": sign_in_worker(client, "o-contract-worker"),
        "foreman": foreman_token(client, foreman),
        "team": member_token(client, members_of(team)[0]),
    }
    wrong_role = {"worker": "foreman", "foreman": "team", "team": "worker"}

    # Successes: the whole loop, then what it leaves out.
    number = submit(client, tokens["worker"], qr_token, "海景花园二期工地")
    other = submit(client, tokens["worker"], qr_token, "滨海大道改造工地")
    worker_upload = client.post(
        f"/api/v1/complaints/{number}/evidence",
        data=png_bytes(),
        content_type="application/octet-stream",
        headers=auth(tokens["worker"]),
    )
    assert worker_upload.status_code == 201
    assert client.get("/api/v1/foreman/teams", headers=auth(tokens["foreman"])).status_code == 200
    assert client.get(f"/api/v1/foreman/cases/{number}", headers=auth(tokens["foreman"])).json
    merged = client.post(
        f"/api/v1/foreman/cases/{other}/merge",
        json={"into": number},
        headers=auth(tokens["foreman"]),
    )
    assert merged.status_code == 200, merged.json
    split = client.post(f"/api/v1/foreman/cases/{other}/split", headers=auth(tokens["foreman"]))
    assert split.status_code == 200, split.json
    handle_to_resolution(client, tokens["foreman"], tokens["team"], number, drain)
    values = {"number": number, "token": qr_token, "evidence_id": str(worker_upload.json["id"])}
    for path, method, entry in operations(document):
        if method == "GET":
            role = role_of(entry)
            headers = auth(tokens[role]) if role else {}
            client.get(fill(path, values), headers=headers)
    assert (
        client.post(
            f"/api/v1/complaints/{number}/dispute",
            json={"reason": "只收到一半"},
            headers=auth(tokens["worker"]),
        ).status_code
        == 200
    )
    client.post(
        f"/api/v1/foreman/cases/{other}/reject",
        json={"reason": "重复投诉", "referral": "12345"},
        headers=auth(tokens["foreman"]),
    )
    client.post(f"/api/v1/complaints/{other}/withdraw", headers=auth(tokens["worker"]))
    client.post(
        "/api/v1/phone-number",
        json={"code": "sandbox-phone:13800138000"},
        headers=auth(tokens["worker"]),
    )

    # Refusals: no token, a bad token, another role's token, unknown ids, bad bodies.
    for path, method, entry in operations(document):
        role = role_of(entry)
        send = getattr(client, method.lower())
        known = fill(path, values)
        if "security" in entry:
            send(known)
            send(known, headers={"Authorization": "Bearer not-a-token"})
            send(known, headers=auth(tokens[wrong_role[role]]))
        headers = auth(tokens[role]) if role else {}
        send(fill(path, UNKNOWN), headers=headers, json={})
        if method == "POST":
            send(known, headers=headers, data="{", content_type="application/json")
            send(known, headers=headers, data="text", content_type="text/plain")
            send(known, headers=headers, json={"unexpected": 1})
        if method == "GET" and "cursor" in [p["name"] for p in entry.get("parameters", [])]:
            send(known + "?cursor=garbage", headers=headers)

    # The document describes every /api/v1 route it was asked about but itself.
    assert {path for path, _, _ in answered} - set(document["paths"]) == {"/api/v1/openapi.json"}
    answered = [entry for entry in answered if entry[0] in document["paths"]]
    exercised = {(path, method) for path, method, _ in answered}
    for path, method, _entry in operations(document):
        assert (path, method) in exercised, f"{method} {path} was never exercised"
    undocumented = sorted(
        {
            (method, path, status)
            for path, method, status in answered
            if str(status) not in document["paths"][path][method.lower()]["responses"]
        }
    )
    assert undocumented == []


def test_unknown_case_and_bad_login_code_carry_details(client, district):
    token = sign_in_worker(client, "o-details")
    missing = client.get("/api/v1/complaints/YT-2026-999999", headers=auth(token))
    assert missing.status_code == 404
    assert missing.json["error"]["details"] == {}
    bad = client.post("/api/v1/session", json={"code": "not-a-sandbox-code"})
    assert bad.status_code == 401
    assert "details" in bad.json["error"]
    assert isinstance(bad.json["error"]["details"], dict)


def test_a_429_says_when_to_come_back(make_app, district):
    limited = make_app(RATE_LIMIT_PER_MINUTE=1).test_client()
    qr_token = db.session.scalars(sa.select(QrCode.token)).first()
    db.session.rollback()  # end the read: SQLite would keep the other app from writing
    answers = [limited.get(f"/api/v1/qr/{qr_token}") for _ in range(6)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert 1 <= int(refused[0].headers["Retry-After"]) <= 60
    assert refused[0].json["error"]["code"] == "rate_limited"
    assert "details" in refused[0].json["error"]


def test_every_documented_operation_takes_its_method_and_path_from_one_route(app):
    from handlers.api import OPERATIONS, documented_operations

    bound = documented_operations(app)
    assert len(bound) == len(OPERATIONS)
    assert len({(op.method, op.path) for op in bound}) == len(bound)
    assert all(op.path.startswith("/api/v1/") and "<" not in op.path for op in bound)
