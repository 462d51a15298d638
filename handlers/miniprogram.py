"""The mini-program API under ``/api/v1/``: sign-in, QR card, complaints, evidence, consents."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.api import UPLOAD_REQUEST_BODY, current_actor, documented, parse_body, read_upload
from wagedispute.access.actors import Actor
from wagedispute.access.signin import sign_in_complainant
from wagedispute.cases.evidence import store_evidence
from wagedispute.intake.complaints import (
    case_detail,
    case_summary,
    get_case_by_number,
    list_my_cases,
    record_subscriptions,
    withdraw_complaint,
)
from wagedispute.intake.qrcodes import foreman_card, resolve_qr_token
from wagedispute.intake.submission import (
    ComplaintIn,
    ComplaintReceipt,
    IntakeResult,
    field_errors,
    record_bench_row,
    submit_complaint,
)
from wagedispute.models import Channel, Role
from wagedispute.platform.errors import DomainError, InvalidInput
from wagedispute.platform.ratelimit import check_rate

blueprint = Blueprint("miniprogram", __name__, url_prefix="/api/v1")
bench_blueprint = Blueprint("bench", __name__, url_prefix="/bench")

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "每份投诉一个随机键（8–128 位字母数字）；重试时原样发送",
    "schema": {"type": "string", "minLength": 8, "maxLength": 128},
}
NUMBER_PARAM = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
TOKEN_PARAM = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}


class IdempotencyKeyRequired(DomainError):
    """A complaint submission without an ``Idempotency-Key`` header."""

    code = "idempotency_key_required"
    message = "缺少 Idempotency-Key 请求头"
    status = 400


class SessionIn(BaseModel):
    """The code from ``wx.login``."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)


class SessionOut(BaseModel):
    """Our own bearer token (never WeChat's session_key)."""

    token: str
    expires_in: int


class WithdrawIn(BaseModel):
    """Why the worker withdraws (optional)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


class SubscriptionsIn(BaseModel):
    """Templates the worker accepted or rejected in ``wx.requestSubscribeMessage``."""

    model_config = ConfigDict(extra="forbid")
    accepted: list[str] = Field(default_factory=list, max_length=20)
    rejected: list[str] = Field(default_factory=list, max_length=20)


class TimelineEntry(BaseModel):
    """One step as the worker sees it."""

    message: str
    status: str | None
    at: str


class CaseSummaryOut(BaseModel):
    """A case in the worker's list."""

    number: str
    status: str
    status_label: str
    site_name: str
    workers_affected: int
    amount_owed_fen: int
    created_at: str


class CaseListOut(BaseModel):
    """The worker's own cases."""

    cases: list[CaseSummaryOut]


class CaseDetailOut(CaseSummaryOut):
    """One case with its worker-safe timeline."""

    site_address: str | None
    employers: list[dict[str, str | None]]
    period_start: str | None
    period_end: str | None
    description: str
    timeline: list[TimelineEntry]


class EvidenceOut(BaseModel):
    """The stored evidence file."""

    id: int
    content_type: str
    size_bytes: int
    sha256: str


def parse(model: type[BaseModel]) -> BaseModel:
    """``parse_body`` with per-field Chinese messages in the 422 details."""
    try:
        return parse_body(model)
    except ValidationError as exc:
        raise InvalidInput(details=field_errors(exc)) from exc


def limit_ip(name: str) -> None:
    """Per-IP limit on a public endpoint (looser than per user: a site may share one IP)."""
    per_minute = int(current_app.config["RATE_LIMIT_PER_MINUTE"])
    check_rate(f"{name}:ip:{request.remote_addr}", per_minute * 4)


def limit_user(name: str, actor: Actor) -> None:
    """Per-user limit (per openid: one complainant row per openid)."""
    per_minute = int(current_app.config["RATE_LIMIT_PER_MINUTE"])
    check_rate(f"{name}:{actor.role.value}:{actor.id}", per_minute)


def idempotency_key() -> str:
    """The required ``Idempotency-Key`` header, checked for shape."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise IdempotencyKeyRequired()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key 格式不正确（8–128 位字母、数字或 ._:-）",
            code="idempotency_key_invalid",
        )
    return key


def receipt(result: IntakeResult, *, foreman: bool = False) -> ResponseReturnValue:
    """201 for a new case, 200 for a replay, with the case number."""
    body = ComplaintReceipt(
        number=result.number,
        status=result.status.value,
        status_label=result.status.label,
        # Triage reasons are for the foreman who took the call, not for the worker.
        urgency_reasons=result.urgency_reasons if foreman else [],
        created=result.created,
        access_code=result.access_code,
    )
    return jsonify(body.model_dump()), 201 if result.created else 200


@blueprint.post("/session")
@documented(
    "POST",
    "/api/v1/session",
    "用 wx.login 的 code 登录，换取本系统的登录凭证",
    request_model=SessionIn,
    response_model=SessionOut,
    auth=False,
)
def create_session() -> ResponseReturnValue:
    """code2Session → our token."""
    limit_ip("session")
    body = parse(SessionIn)
    token, _actor = sign_in_complainant(body.code)
    out = SessionOut(token=token, expires_in=int(current_app.config["TOKEN_TTL_SECONDS"]))
    return jsonify(out.model_dump())


@blueprint.get("/qr/<token>")
@documented(
    "GET",
    "/api/v1/qr/{token}",
    "扫码后显示工长名片（姓名、街道、脱敏电话、工地）",
    auth=False,
    parameters=[TOKEN_PARAM],
)
def qr_card(token: str) -> ResponseReturnValue:
    """The foreman card behind a QR token; unknown 404, revoked 410 with current contact."""
    limit_ip("qr")
    return jsonify(foreman_card(resolve_qr_token(token)))


@blueprint.post("/complaints")
@documented(
    "POST",
    "/api/v1/complaints",
    "提交欠薪投诉（须带 Idempotency-Key；新建 201，重复提交 200）",
    request_model=ComplaintIn,
    response_model=ComplaintReceipt,
    parameters=[IDEMPOTENCY_PARAM],
)
def submit() -> ResponseReturnValue:
    """Submit a complaint from the mini-program."""
    actor = current_actor(Role.COMPLAINANT)
    limit_ip("complaints")
    limit_user("complaints", actor)
    key = idempotency_key()
    data = parse(ComplaintIn)
    result = submit_complaint(data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key=key)
    return receipt(result)


@blueprint.get("/complaints")
@documented("GET", "/api/v1/complaints", "我的投诉", response_model=CaseListOut)
def my_cases() -> ResponseReturnValue:
    """The signed-in worker's cases."""
    actor = current_actor(Role.COMPLAINANT)
    return jsonify(cases=[case_summary(case) for case in list_my_cases(actor)])


@blueprint.get("/complaints/<number>")
@documented(
    "GET",
    "/api/v1/complaints/{number}",
    "一宗投诉的详情与进度（仅工人可见的进度）",
    response_model=CaseDetailOut,
    parameters=[NUMBER_PARAM],
)
def one_case(number: str) -> ResponseReturnValue:
    """One case with its worker-safe timeline; another worker's number is 404."""
    actor = current_actor(Role.COMPLAINANT)
    return jsonify(case_detail(get_case_by_number(actor, number)))


@blueprint.post("/complaints/<number>/withdraw")
@documented(
    "POST",
    "/api/v1/complaints/{number}/withdraw",
    "撤回投诉",
    request_model=WithdrawIn,
    response_model=CaseSummaryOut,
    parameters=[NUMBER_PARAM],
)
def withdraw(number: str) -> ResponseReturnValue:
    """Withdraw an open complaint."""
    actor = current_actor(Role.COMPLAINANT)
    limit_user("withdraw", actor)
    body = parse(WithdrawIn) if request.content_length else WithdrawIn()
    case = withdraw_complaint(actor, number, body.reason)
    return jsonify(case_summary(case))


@blueprint.post("/complaints/<number>/evidence")
@documented(
    "POST",
    "/api/v1/complaints/{number}/evidence",
    "上传证据（JPG/PNG/WebP 图片或 PDF；multipart 字段 file，或直接以文件内容为请求体）",
    response_model=EvidenceOut,
    parameters=[NUMBER_PARAM],
    requestBody=UPLOAD_REQUEST_BODY,
)
def upload_evidence(number: str) -> ResponseReturnValue:
    """Attach a file to one of the worker's cases."""
    actor = current_actor(Role.COMPLAINANT)
    limit_user("evidence", actor)
    case = get_case_by_number(actor, number)
    evidence = store_evidence(case.id, actor, read_upload())
    out = EvidenceOut(
        id=evidence.id,
        content_type=evidence.content_type,
        size_bytes=evidence.size_bytes,
        sha256=evidence.sha256,
    )
    return jsonify(out.model_dump()), 201


@blueprint.post("/subscriptions")
@documented(
    "POST",
    "/api/v1/subscriptions",
    "记录工人同意或拒绝的订阅消息模板",
    request_model=SubscriptionsIn,
)
def subscriptions() -> ResponseReturnValue:
    """Record subscribe-message consents."""
    actor = current_actor(Role.COMPLAINANT)
    limit_user("subscriptions", actor)
    body = parse(SubscriptionsIn)
    count = record_subscriptions(actor, body.accepted, body.rejected)
    return jsonify(recorded=count)


@bench_blueprint.post("/insert-one")
def bench_insert_one() -> ResponseReturnValue:
    """Benchmark baseline (registered only with BENCH_ENDPOINTS): one row, one commit."""
    return jsonify(id=record_bench_row()), 201
