"""The mini-program API under ``/api/v1/``: sign-in, QR card, complaints, evidence, consents."""

from __future__ import annotations

import re
from typing import Annotated

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.api import UPLOAD_REQUEST_BODY, current_actor, documented, parse_body, read_upload
from handlers.errors import field_errors
from wagedispute.access.actors import Actor
from wagedispute.access.signin import sign_in_complainant, verified_mobile
from wagedispute.cases.evidence import store_evidence
from wagedispute.intake.complaints import (
    case_summary,
    get_case_by_number,
    page_my_cases,
    record_subscriptions,
    withdraw_complaint,
    worker_case_detail,
    worker_evidence,
)
from wagedispute.intake.qrcodes import foreman_card, resolve_qr_token
from wagedispute.intake.submission import (
    ComplaintIn,
    ComplaintReceipt,
    IntakeResult,
    record_bench_row,
    submit_complaint,
)
from wagedispute.messaging.notifications import (
    BREACH_ALERT,
    CASE_ASSIGNED,
    CASE_PROGRESS,
    CASE_RETURNED,
    NEW_LEAD,
    template_id,
)
from wagedispute.models import Channel, Role
from wagedispute.platform.errors import DomainError, InvalidInput, NotFound
from wagedispute.platform.ratelimit import check_rate
from wagedispute.platform.validation import SafeText

blueprint = Blueprint("miniprogram", __name__, url_prefix="/api/v1")
# WeChat's domain check for ordinary QR links lives at the site's root.
link_verify_blueprint = Blueprint("link_verify", __name__)
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


# Who is asked to allow which subscribe messages (the names notifications.py sends).
SUBSCRIBE_TEMPLATES = {
    "complainant": [(CASE_PROGRESS, "案件进度提醒")],
    "foreman": [
        (NEW_LEAD, "新线索提醒"),
        (CASE_RETURNED, "案件退回提醒"),
        (BREACH_ALERT, "超时提醒"),
    ],
    "team_member": [(CASE_ASSIGNED, "新分派提醒"), (BREACH_ALERT, "超时提醒")],
}
CURSOR_PARAMS = [
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "上一页响应中的 next_cursor；不传为第一页",
        "schema": {"type": "string"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "每页条数，1–100，默认 50",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    },
]
CURSOR_ERRORS = {422: ("分页参数无效", ["cursor_invalid"])}
REPLAY_RESPONSE = {
    "description": "同一 Idempotency-Key 的重复提交：返回原案件（created 为 false）",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ComplaintReceipt"}}},
}
EVIDENCE_ID_PARAM = {
    "name": "evidence_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
FILE_RESPONSE = {
    "200": {
        "description": "文件内容（附件下载）",
        "content": {
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/webp": {"schema": {"type": "string", "format": "binary"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class SessionIn(BaseModel):
    """The code from ``wx.login``."""

    model_config = ConfigDict(extra="forbid")
    code: SafeText = Field(
        min_length=1, max_length=128, description="wx.login 返回的 code（5 分钟内有效，只能用一次）"
    )


class SessionOut(BaseModel):
    """Our own bearer token (never WeChat's session_key)."""

    token: str = Field(description="本系统的登录令牌，放在 Authorization: Bearer 头中")
    expires_in: int = Field(description="有效秒数", examples=[604800])


class QrCardOut(BaseModel):
    """The foreman behind a QR code, as a worker sees it."""

    foreman_name: str = Field(examples=["张建国"])
    foreman_phone_masked: str = Field(description="脱敏电话", examples=["138****0101"])
    street_name: str = Field(examples=["沙头角街道"])
    site_name: str | None = Field(description="二维码绑定的工地（可能为空）")
    site_address: str | None
    qr_url: str | None = Field(description="工长当前有效的二维码链接 <公开地址>/q/<token>")


class WithdrawIn(BaseModel):
    """Why the worker withdraws (optional)."""

    model_config = ConfigDict(extra="forbid")
    reason: SafeText | None = Field(default=None, max_length=500)


class SubscriptionsIn(BaseModel):
    """Templates the worker accepted or rejected in ``wx.requestSubscribeMessage``."""

    model_config = ConfigDict(extra="forbid")
    accepted: list[Annotated[SafeText, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    rejected: list[Annotated[SafeText, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )


class SubscriptionsOut(BaseModel):
    """How many template answers were recorded."""

    recorded: int


class TemplateOut(BaseModel):
    """One subscribe-message template to ask consent for."""

    name: str = Field(description="本系统的模板名", examples=["case_progress"])
    id: str = Field(description="微信模板 id（传给 wx.requestSubscribeMessage 的 tmplIds）")
    title: str = Field(examples=["案件进度提醒"])


class TemplatesOut(BaseModel):
    """Templates per role: ask for them at the step after which a message follows."""

    templates: dict[str, list[TemplateOut]] = Field(
        description="键为角色：complainant 工人，foreman 工长，team_member 处置小组成员"
    )


class PhoneCodeIn(BaseModel):
    """The code a ``getPhoneNumber`` button hands to its handler."""

    model_config = ConfigDict(extra="forbid")
    code: SafeText = Field(min_length=1, max_length=128)


class PhoneOut(BaseModel):
    """The mobile number WeChat verified, to fill the person's own form."""

    mobile: str = Field(examples=["13800138000"])


class TimelineEntry(BaseModel):
    """One step as the worker sees it."""

    message: str = Field(examples=["已分派给处置工作小组"])
    status: str | None
    at: str = Field(description="北京时间，ISO 8601", examples=["2026-12-05T14:30:00+08:00"])


class CaseSummaryOut(BaseModel):
    """A case in the worker's list."""

    number: str = Field(description="案件编号", examples=["YT-2026-000123"])
    status: str
    status_label: str = Field(examples=["已受理"])
    site_name: str = Field(examples=["海景花园二期工地"])
    workers_affected: int = Field(examples=[3])
    amount_owed_fen: int = Field(description="欠薪金额（分）", examples=[1800000])
    created_at: str = Field(
        description="北京时间，ISO 8601", examples=["2026-12-05T09:00:00+08:00"]
    )


class CaseListOut(BaseModel):
    """The worker's own cases, newest first."""

    cases: list[CaseSummaryOut]
    next_cursor: str | None = Field(description="下一页的 cursor；为空表示没有更多")


class PaymentOut(BaseModel):
    """What one worker received."""

    worker: str
    amount_fen: int


class InstalmentOut(BaseModel):
    """One agreed future payment."""

    due_date: str
    amount_fen: int


class ProofOut(BaseModel):
    """A proof file; download it from ``/api/v1/complaints/{number}/evidence/{id}``."""

    id: int
    content_type: str
    size_bytes: int


class OutcomeOut(BaseModel):
    """How the case was resolved."""

    code: str = Field(alias="code", description="处理结果代码（见 Outcome）")
    label: str = Field(examples=["已全额支付"])
    summary: str
    amount_paid_fen: int | None = Field(description="已支付合计（分），支付类结果才有")
    payments: list[PaymentOut]
    amount_planned_fen: int | None = Field(description="分期合计（分）")
    instalments: list[InstalmentOut]
    transferred_to: str | None = Field(examples=["劳动监察"])
    transfer_reference: str | None
    proof: list[ProofOut]


class RatingOut(BaseModel):
    """The worker's rating of the handling."""

    score: int = Field(ge=1, le=5)
    comment: str | None


class CaseDetailOut(CaseSummaryOut):
    """One case with its worker-safe timeline and, once resolved, the outcome."""

    site_address: str | None
    employers: list[dict[str, str | None]]
    period_start: str | None
    period_end: str | None
    description: str
    timeline: list[TimelineEntry]
    resolved_at: str | None
    outcome: OutcomeOut | None
    rating: RatingOut | None


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


def page_args() -> tuple[str | None, int | None]:
    """The ``cursor`` and ``limit`` query parameters of a list."""
    limit = request.args.get("limit")
    if limit is not None and not limit.isdigit():
        raise InvalidInput("每页条数应为 1 到 100 的整数", code="cursor_invalid")
    return request.args.get("cursor") or None, int(limit) if limit is not None else None


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


def evidence_download(evidence) -> Response:
    """A stored file as a download that no browser renders inline."""
    extension = {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/webp": "webp",
        "application/pdf": "pdf",
    }.get(evidence.content_type, "bin")
    return Response(
        evidence.data,
        mimetype=evidence.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{evidence.id}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@blueprint.post("/session")
@documented(
    "用 wx.login 的 code 登录，换取本系统的登录凭证",
    tag="登录",
    request_model=SessionIn,
    response_model=SessionOut,
    auth=False,
    errors={
        401: ("微信登录 code 无效或已过期", ["wechat_code_invalid"]),
        403: ("微信判定为高风险用户", ["wechat_high_risk_user"]),
        429: ("请求过于频繁", ["rate_limited", "wechat_rate_limited"]),
        503: ("微信暂时不可用", ["wechat_unavailable"]),
    },
)
def create_session() -> ResponseReturnValue:
    """code2Session → our token."""
    limit_ip("session")
    body = parse(SessionIn)
    token, _actor = sign_in_complainant(body.code)
    out = SessionOut(token=token, expires_in=int(current_app.config["TOKEN_TTL_SECONDS"]))
    return jsonify(out.model_dump())


@blueprint.get("/subscribe-templates")
@documented(
    "订阅消息模板 id（按角色）：在之后会收到消息的那一步，用 wx.requestSubscribeMessage 请求授权",
    tag="登录",
    response_model=TemplatesOut,
    auth=False,
    errors={429: ("请求过于频繁", ["rate_limited"])},
)
def subscribe_templates() -> ResponseReturnValue:
    """The template ids each role is asked to allow (configured per deployment)."""
    limit_ip("templates")
    out = TemplatesOut(
        templates={
            role: [TemplateOut(name=n, id=template_id(n), title=t) for n, t in items]
            for role, items in SUBSCRIBE_TEMPLATES.items()
        }
    )
    return jsonify(out.model_dump())


@blueprint.post("/phone-number")
@documented(
    "用 getPhoneNumber 按钮的 code 换取微信验证过的手机号（只返回给本人，用于填表）",
    tag="登录",
    request_model=PhoneCodeIn,
    response_model=PhoneOut,
    errors={
        422: ("手机号授权 code 无效或已过期", ["wechat_phone_code_invalid"]),
        429: ("请求过于频繁", ["rate_limited", "wechat_rate_limited"]),
        503: ("微信暂时不可用", ["wechat_unavailable"]),
    },
)
def phone_number() -> ResponseReturnValue:
    """getPhoneNumber code → the verified mobile."""
    actor = current_actor()
    limit_user("phone", actor)
    body = parse(PhoneCodeIn)
    return jsonify(PhoneOut(mobile=verified_mobile(actor, body.code)).model_dump())


@blueprint.get("/qr/<token>")
@documented(
    "扫码后显示工长名片（姓名、街道、脱敏电话、工地）",
    tag="扫码",
    response_model=QrCardOut,
    auth=False,
    parameters=[TOKEN_PARAM],
    errors={
        404: ("二维码无效或不存在", ["qr_unknown"]),
        410: (
            "二维码已停用：details 为现任工长的名片（字段同 200 响应；"
            "工长已不再负责且街道无人接替时为 {}）",
            ["qr_revoked", "qr_foreman_inactive"],
        ),
        429: ("请求过于频繁", ["rate_limited"]),
    },
)
def qr_card(token: str) -> ResponseReturnValue:
    """The foreman card behind a QR token; unknown 404, revoked 410 with current contact."""
    limit_ip("qr")
    return jsonify(QrCardOut(**foreman_card(resolve_qr_token(token))).model_dump())


@blueprint.post("/complaints")
@documented(
    "提交欠薪投诉（须带 Idempotency-Key；新建 201，重复提交 200）",
    tag="工人",
    request_model=ComplaintIn,
    response_model=ComplaintReceipt,
    status=201,
    parameters=[IDEMPOTENCY_PARAM],
    errors={
        400: ("缺少 Idempotency-Key", ["idempotency_key_required"]),
        404: ("qr_token 无效", ["qr_unknown"]),
        409: ("同一 Idempotency-Key 提交了不同内容", ["idempotency_key_reused"]),
        410: ("qr_token 已停用", ["qr_revoked", "qr_foreman_inactive"]),
        422: ("字段有误", ["idempotency_key_invalid"]),
        429: ("请求过于频繁", ["rate_limited"]),
    },
    responses={"200": REPLAY_RESPONSE},
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
@documented(
    "我的投诉（新的在前，cursor 分页）",
    tag="工人",
    response_model=CaseListOut,
    parameters=CURSOR_PARAMS,
    errors={404: ("非工人身份的令牌", ["not_found"]), **CURSOR_ERRORS},
)
def my_cases() -> ResponseReturnValue:
    """The signed-in worker's cases, a page at a time."""
    actor = current_actor(Role.COMPLAINANT)
    cursor, limit = page_args()
    page = page_my_cases(actor, cursor, limit)
    return jsonify(cases=[case_summary(c) for c in page.items], next_cursor=page.next_cursor)


@blueprint.get("/complaints/<number>")
@documented(
    "一宗投诉的详情与进度（仅工人可见的进度）；办结后含处理结果、金额和凭证",
    tag="工人",
    response_model=CaseDetailOut,
    parameters=[NUMBER_PARAM],
)
def one_case(number: str) -> ResponseReturnValue:
    """One case with its worker-safe timeline; another worker's number is 404."""
    actor = current_actor(Role.COMPLAINANT)
    return jsonify(worker_case_detail(get_case_by_number(actor, number)))


@blueprint.get("/complaints/<number>/evidence/<int:evidence_id>")
@documented(
    "下载本人上传的证据或处理结果的凭证（附件）",
    tag="工人",
    parameters=[NUMBER_PARAM, EVIDENCE_ID_PARAM],
    errors={404: ("材料不存在或不可查看", ["evidence_not_found"])},
    responses=FILE_RESPONSE,
)
def download_evidence(number: str, evidence_id: int) -> Response:
    """A file of the worker's own case: their uploads and the proof of the outcome."""
    actor = current_actor(Role.COMPLAINANT)
    return evidence_download(worker_evidence(actor, number, evidence_id))


@blueprint.post("/complaints/<number>/withdraw")
@documented(
    "撤回投诉（请求体可省略）",
    tag="工人",
    request_model=WithdrawIn,
    response_model=CaseSummaryOut,
    parameters=[NUMBER_PARAM],
    errors={
        409: ("案件当前状态不能撤回", ["invalid_transition", "stale_data"]),
        429: ("请求过于频繁", ["rate_limited"]),
    },
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
    "上传证据（JPG/PNG/WebP 图片或 PDF；multipart 字段 file，或直接以文件内容为请求体）",
    tag="工人",
    response_model=EvidenceOut,
    status=201,
    parameters=[NUMBER_PARAM],
    requestBody=UPLOAD_REQUEST_BODY,
    errors={
        409: ("案件已结束", ["case_closed"]),
        413: ("文件过大：details.max_bytes", ["evidence_too_large"]),
        415: ("不是 JPG/PNG/WebP/PDF", ["evidence_type_unsupported"]),
        422: ("没有文件", ["evidence_empty"]),
        429: ("请求过于频繁", ["rate_limited"]),
    },
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
    "记录工人同意或拒绝的订阅消息模板（微信模板 id）",
    tag="工人",
    request_model=SubscriptionsIn,
    response_model=SubscriptionsOut,
    errors={
        404: ("非工人身份的令牌", ["not_found"]),
        422: ("模板列表有误或未在小程序内登录", ["templates_invalid", "openid_required"]),
        429: ("请求过于频繁", ["rate_limited"]),
    },
)
def subscriptions() -> ResponseReturnValue:
    """Record subscribe-message consents."""
    actor = current_actor(Role.COMPLAINANT)
    limit_user("subscriptions", actor)
    body = parse(SubscriptionsIn)
    count = record_subscriptions(actor, body.accepted, body.rejected)
    return jsonify(SubscriptionsOut(recorded=count).model_dump())


@link_verify_blueprint.get("/<name>.txt")
def link_verify_file(name: str) -> Response:
    """The verification file WeChat fetches before ordinary QR links may open the mini-program."""
    configured, _, content = current_app.config["WECHAT_LINK_VERIFY_FILE"].partition(":")
    if not configured or configured != f"{name}.txt":
        raise NotFound()
    return Response(content, mimetype="text/plain")


@bench_blueprint.post("/insert-one")
def bench_insert_one() -> ResponseReturnValue:
    """Benchmark baseline (registered only with BENCH_ENDPOINTS): one row, one commit."""
    return jsonify(id=record_bench_row()), 201
