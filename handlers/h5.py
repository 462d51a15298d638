"""The H5 pages for scanners outside WeChat: the form at ``/q/<token>`` and the case pages.

Plain HTML forms (no JavaScript, no CDN), CSRF-protected with a token bound to the Flask session.
The form is short by default (more fields inside a ``<details>``, which opens without script),
takes the amount as people write it ("8万", "8000元"), and keeps what was typed on every refusal.
An optional field that fails its check does not block the complaint: it is kept and flagged for
staff. The case pages (number + access code) show the outcome and let the worker confirm,
dispute, rate and add photos; a lost access code is sent again by SMS to the mobile on the case.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf, validate_csrf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from wtforms.validators import ValidationError as WtfValidationError

from handlers.errors import field_errors
from handlers.miniprogram import IDEMPOTENCY_KEY
from wagedispute.access.actors import Actor
from wagedispute.cases.evidence import store_evidence
from wagedispute.handling.followup import confirm_resolution, dispute_resolution, rate_case
from wagedispute.intake.complaints import (
    complainant_actor,
    find_case_by_access_code,
    get_case_by_number,
    request_access_code_sms,
    worker_case_detail,
)
from wagedispute.intake.qrcodes import foreman_card, resolve_qr_token
from wagedispute.intake.submission import (
    MAX_AMOUNT_FEN,
    ComplaintIn,
    submit_complaint,
)
from wagedispute.models import OPEN_STATUSES, Case, CaseStatus, Channel
from wagedispute.platform.errors import DomainError, InvalidInput, NotFound, RateLimited
from wagedispute.platform.ratelimit import check_rate
from wagedispute.platform.timekeeping import district_today

blueprint = Blueprint(
    "h5",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/h5/static",
)

CASE_SESSION_KEY = "h5_case"
EMPLOYER_ROWS = 3
EMPLOYER_ROLES = ["总包", "分包", "班组", "建设单位"]
MAX_PHOTOS = 6
MAX_MONTHS = 120
# Checks of these fields may fail without blocking a complaint: the value is kept for staff.
OPTIONAL_FIELDS = re.compile(
    r"(id_number|site_address|period_start|period_end|employers\.\d+\.uscc)"
)
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)(万|千)?")


def csrf_token() -> str:
    """The session's CSRF token (Flask-WTF's, as on the console), created on first use."""
    return generate_csrf()


def csrf_ok() -> bool:
    """Whether the posted token is the one bound to this browser's session (Flask-WTF)."""
    try:
        validate_csrf(request.form.get("csrf_token", ""))
    except WtfValidationError:
        return False
    return True


def page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    """Render an H5 page; pages must not be cached (they carry tokens and codes)."""
    context.setdefault("hotline", current_app.config["NOTICE_HOTLINE"])
    body = render_template(f"h5/{template}", csrf_token=csrf_token(), **context)
    return body, status, {"Cache-Control": "no-store"}


def message_page(title: str, message: str, status: int, **extra: Any) -> ResponseReturnValue:
    """A page with one clear Chinese message."""
    return page("message.html", status, title=title, message=message, **extra)


def limited(name: str, per_minute_factor: int = 4) -> ResponseReturnValue | None:
    """Per-IP rate limit; the refusal is a page, not JSON."""
    limit = int(current_app.config["RATE_LIMIT_PER_MINUTE"]) * per_minute_factor
    try:
        check_rate(f"h5:{name}:ip:{request.remote_addr}", limit)
    except RateLimited as exc:
        return message_page("请稍后再试", exc.message, 429)
    return None


def qr_problem(exc: DomainError) -> ResponseReturnValue:
    """Unknown or revoked QR tokens: a clear message, a phone to call and the hotline."""
    contact = exc.details if isinstance(exc.details, dict) else {}
    if exc.code == "qr_revoked":
        return message_page("二维码已更换", exc.message, 410, contact=contact, fallback=True)
    if exc.code == "qr_foreman_inactive":
        return message_page("工长已更换", exc.message, exc.status, contact=contact, fallback=True)
    if isinstance(exc, NotFound):
        return message_page("无法识别二维码", exc.message, 404, fallback=True)
    return message_page("无法处理", exc.message, exc.status, fallback=True)


# -- the form ---------------------------------------------------------------------------------


def parse_yuan(text: str) -> int:
    """An amount as people write it ("8万", "8000元", "1.5万元", "23,456.50") in fen."""
    cleaned = unicodedata.normalize("NFKC", text or "")
    cleaned = re.sub(r"[\s,，]|人民币|¥|￥", "", cleaned)
    cleaned = re.sub(r"(元|块|圆)(钱)?$", "", cleaned)
    if not cleaned:
        raise PydanticCustomError("amount_missing", "请填写欠薪金额")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise PydanticCustomError("amount_invalid", "金额请填数字，如 8000、8000元 或 8万")
    number, unit = match.groups()
    try:
        yuan = Decimal(number) * {"万": 10_000, "千": 1_000, None: 1}[unit]
    except InvalidOperation as exc:
        raise PydanticCustomError("amount_invalid", "金额请填数字，如 8000、8000元 或 8万") from exc
    fen = yuan * 100
    if fen != fen.to_integral_value():
        raise PydanticCustomError("amount_invalid", "金额最多精确到分（两位小数）")
    if fen <= 0:
        raise PydanticCustomError("amount_invalid", "欠薪金额须大于 0")
    if fen > MAX_AMOUNT_FEN:
        raise PydanticCustomError("amount_invalid", "金额过大，请核对")
    return int(fen)


class H5FormIn(BaseModel):
    """The form's own fields, as typed; required ones must be filled in (no blank-to-zero)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    amount_yuan: int = Field(description="欠薪金额，以分计")
    workers_affected: int = Field(ge=1, le=10_000)
    months_owed: int | None = Field(default=None, ge=1, le=MAX_MONTHS)

    @field_validator("amount_yuan", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return parse_yuan(str(value or ""))

    @field_validator("workers_affected", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if not str(value or "").strip():
            raise PydanticCustomError("workers_missing", "请填写被欠薪人数（含您自己）")
        return value

    @field_validator("months_owed", mode="before")
    @classmethod
    def _months(cls, value: Any) -> Any:
        return str(value).strip() or None if value is not None else None


def _months_to_period(months: int | None) -> tuple[str | None, str | None]:
    """ "Owed for N months" as a period ending today (the first day of the N-th month back)."""
    if not months:
        return None, None
    today = district_today()
    start = date(today.year, today.month, 1)
    for _ in range(months - 1):
        start = (start - timedelta(days=1)).replace(day=1)
    return start.isoformat(), today.isoformat()


def form_to_input(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The complaint model's input from the posted form, plus the form's own errors."""
    errors: dict[str, str] = {}
    employers = []
    for index in range(EMPLOYER_ROWS):
        row = {key: form.get(f"employers-{index}-{key}", "").strip() for key in ("role", "name")}
        row["uscc"] = form.get(f"employers-{index}-uscc", "").strip()
        if row["name"] or row["uscc"]:
            # The one "老板或单位" line of the short form has no role: call it the 班组.
            row["role"] = row["role"] or "班组"
            employers.append(row)
    own: dict[str, Any] = {}
    try:
        own = H5FormIn.model_validate(
            {
                "amount_yuan": form.get("amount_yuan", ""),
                "workers_affected": form.get("workers_affected", ""),
                "months_owed": form.get("months_owed", ""),
            }
        ).model_dump()
    except ValidationError as exc:
        for problem in field_errors(exc):
            errors.setdefault(problem["field"], problem["message"])
    period_start = form.get("period_start", "").strip() or None
    period_end = form.get("period_end", "").strip() or None
    if own.get("months_owed") and not (period_start or period_end):
        period_start, period_end = _months_to_period(own["months_owed"])
    data = {
        "name": form.get("name", ""),
        "mobile": form.get("mobile", ""),
        "id_number": form.get("id_number", ""),
        "site_name": form.get("site_name", ""),
        "site_address": form.get("site_address", ""),
        "employers": employers,
        "workers_affected": own.get("workers_affected", 1),
        "amount_owed_fen": own.get("amount_yuan", 0),
        "period_start": period_start,
        "period_end": period_end,
        "description": form.get("description", ""),
        "consent_disclose_identity": form.get("consent_disclose_identity") == "yes",
    }
    return data, errors


def validate_leniently(
    data: dict[str, Any],
) -> tuple[ComplaintIn | None, dict[str, str], list[dict[str, Any]]]:
    """Validate; an optional field that fails is dropped from the input and flagged instead."""
    flags: list[dict[str, Any]] = []
    for _ in range(3):
        try:
            return ComplaintIn.model_validate(data), {}, flags
        except ValidationError as exc:
            problems = field_errors(exc)
        blocking = {p["field"]: p["message"] for p in problems if not _optional(p["field"])}
        if blocking:
            return None, blocking, flags
        for problem in problems:
            flags.append({**problem, "value": _pop_value(data, problem["field"])})
    return None, {"description": "填写内容有误"}, flags


def _optional(field: str) -> bool:
    return OPTIONAL_FIELDS.fullmatch(field) is not None


def _pop_value(data: dict[str, Any], field: str) -> str:
    """Remove a field's value from the input (so it is not checked again) and return it."""
    parts = field.split(".")
    if parts[0] == "employers":
        row = data["employers"][int(parts[1])]
        return str(row.pop(parts[2], "") or "")
    return str(data.pop(parts[0], "") or "")


def form_field(field: str) -> str:
    """The form input a model error belongs to."""
    parts = field.split(".")
    if parts[0] == "employers" and len(parts) >= 2:
        return f"employers-{parts[1]}-{parts[2] if len(parts) > 2 else 'name'}"
    if parts[0] == "amount_owed_fen":
        return "amount_yuan"
    if parts[0] in {"period_start", "period_end"}:
        return "months_owed"
    return parts[0]


def _form_context(
    qr: Any, values: dict[str, str], errors: dict[str, str], notice: str | None = None
) -> dict[str, Any]:
    more_open = any(
        values.get(key)
        for key in ("id_number", "site_address", "employers-1-name", "employers-0-uscc")
    ) or any(not key.startswith(("name", "mobile", "amount", "workers")) for key in errors)
    return {
        "card": foreman_card(qr),
        "token": qr.token,
        "values": values,
        "errors": errors,
        "notice": notice,
        "more_open": more_open,
        "employer_rows": EMPLOYER_ROWS,
        "employer_roles": EMPLOYER_ROLES,
        "max_photos": MAX_PHOTOS,
    }


@blueprint.get("/q/<token>")
def complaint_form(token: str) -> ResponseReturnValue:
    """The complaint form behind a foreman's QR code."""
    refusal = limited("form")
    if refusal is not None:
        return refusal
    try:
        qr = resolve_qr_token(token)
    except DomainError as exc:
        return qr_problem(exc)
    values = {
        "site_name": qr.site_name or "",
        "site_address": qr.site_address or "",
        "workers_affected": "1",
        "idempotency_key": uuid.uuid4().hex,
    }
    return page("form.html", **_form_context(qr, values, {}))


@blueprint.post("/q/<token>")
def submit_form(token: str) -> ResponseReturnValue:
    """Validate and submit the form; errors come back beside their fields, input kept."""
    refusal = limited("submit")
    if refusal is not None:
        return refusal
    try:
        qr = resolve_qr_token(token)
    except DomainError as exc:
        return qr_problem(exc)
    values = {key: request.form.get(key, "") for key in request.form if key != "csrf_token"}
    key = request.form.get("idempotency_key", "").strip()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        values["idempotency_key"] = key = uuid.uuid4().hex
    if not csrf_ok():
        # An expired session (or a page left open overnight): keep everything typed, ask again.
        notice = "页面停留太久已过期，您填写的内容都还在，请核对后再次提交。照片需要重新选择。"
        return page("form.html", 400, **_form_context(qr, values, {}, notice))
    data, errors = form_to_input(request.form)
    data["qr_token"] = token
    complaint, model_errors, flags = validate_leniently(data)
    for field, message in model_errors.items():
        errors.setdefault(form_field(field), message)
    photos = [f.read() for f in request.files.getlist("photos") if f and f.filename][:MAX_PHOTOS]
    if errors or complaint is None:
        return page("form.html", 422, **_form_context(qr, values, errors))
    try:
        result = submit_complaint(
            complaint, channel=Channel.WEB, actor=None, idempotency_key=key, intake_flags=flags
        )
    except InvalidInput as exc:
        if isinstance(exc.details, list):
            for problem in exc.details:
                errors[form_field(problem["field"])] = problem["message"]
            return page("form.html", 422, **_form_context(qr, values, errors))
        return message_page("提交失败", exc.message, exc.status)
    except DomainError as exc:
        if exc.code in {"qr_revoked", "qr_foreman_inactive", "qr_unknown"}:
            return qr_problem(exc)
        return message_page("提交失败", exc.message, exc.status)
    photo_problems = _store_photos(result.case, photos) if result.created else []
    session[CASE_SESSION_KEY] = result.number
    return page(
        "done.html",
        number=result.number,
        access_code=result.access_code,
        created=result.created,
        photos_saved=len(photos) - len(photo_problems) if result.created else 0,
        photo_problems=photo_problems,
        flagged=[f["message"] for f in flags],
    )


def _store_photos(case: Case, photos: list[bytes]) -> list[str]:
    """Attach the form's photos to the new case; a bad photo is reported, never fatal."""
    actor = complainant_actor(case)
    problems = []
    for index, data in enumerate(photos, start=1):
        try:
            store_evidence(case.id, actor, data)
        except DomainError as exc:
            problems.append(f"第 {index} 张：{exc.message}")
    return problems


# -- the worker's case -------------------------------------------------------------------------


@blueprint.get("/h5/status")
def status_form() -> ResponseReturnValue:
    """Ask for the case number and access code."""
    return page("status.html", values={}, error=None)


@blueprint.post("/h5/status")
def status_lookup() -> ResponseReturnValue:
    """Open the case the number and code match, then show it (post/redirect/get)."""
    if not csrf_ok():
        return message_page("页面已过期", "页面已过期，请重新打开查询页面。", 400)
    refusal = limited("status", per_minute_factor=1)
    if refusal is not None:
        return refusal
    number = request.form.get("number", "")
    values = {"number": number}
    try:
        case = find_case_by_access_code(number, request.form.get("access_code", ""))
    except NotFound as exc:
        return page("status.html", 404, values=values, error=exc.message)
    session[CASE_SESSION_KEY] = case.number
    return redirect(url_for("h5.case_page"), 303)


def _opened_case() -> Case | None:
    """The case this browser opened with its number and code (kept in the signed session)."""
    number = session.get(CASE_SESSION_KEY)
    if not number:
        return None
    try:
        return get_case_by_number(Actor.system(), number)
    except NotFound:
        return None


def _case_page(case: Case, status: int = 200, error: str | None = None) -> ResponseReturnValue:
    detail = worker_case_detail(case)
    return page(
        "case.html",
        status,
        case=detail,
        can_answer=case.status == CaseStatus.RESOLVED,
        can_rate=case.status in {CaseStatus.CLOSED, CaseStatus.REOPENED}
        and detail.get("rating") is None,
        can_add_photos=case.status in OPEN_STATUSES,
        messages=get_flashed_messages(),
        error=error,
        max_photos=MAX_PHOTOS,
    )


@blueprint.get("/h5/case")
def case_page() -> ResponseReturnValue:
    """The opened case: status, outcome, amounts, proof, timeline and what the worker can do."""
    case = _opened_case()
    if case is None:
        return redirect(url_for("h5.status_form"), 303)
    return _case_page(case)


def _case_action() -> tuple[Case | None, ResponseReturnValue | None]:
    """CSRF and the opened case for a POST on the case page."""
    if not csrf_ok():
        return None, message_page("页面已过期", "页面已过期，请重新查询案件后再操作。", 400)
    case = _opened_case()
    if case is None:
        return None, redirect(url_for("h5.status_form"), 303)
    return case, None


def _score(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if raw not in {"1", "2", "3", "4", "5"}:
        raise InvalidInput("评分须为1至5分", code="score_invalid")
    return int(raw)


@blueprint.post("/h5/case/confirm")
def confirm_case() -> ResponseReturnValue:
    """The worker accepts the outcome (with an optional rating): the case closes."""
    case, refusal = _case_action()
    if refusal is not None:
        return refusal
    try:
        confirm_resolution(
            complainant_actor(case),
            case.number,
            score=_score(request.form.get("score")),
            comment=request.form.get("comment", "")[:500],
        )
    except DomainError as exc:
        return _case_page(case, exc.status, exc.message)
    flash("已确认处置结果，案件已结案。感谢您的评价。")
    return redirect(url_for("h5.case_page"), 303)


@blueprint.post("/h5/case/dispute")
def dispute_case() -> ResponseReturnValue:
    """The worker disputes the outcome with a reason: the case reopens and goes to the bureau."""
    case, refusal = _case_action()
    if refusal is not None:
        return refusal
    reason = request.form.get("reason", "").strip()[:500]
    if not reason:
        return _case_page(case, 422, "请写明对处置结果有什么异议")
    try:
        dispute_resolution(
            complainant_actor(case),
            case.number,
            reason,
            score=_score(request.form.get("score")),
            comment=request.form.get("comment", "")[:500],
        )
    except DomainError as exc:
        return _case_page(case, exc.status, exc.message)
    flash("已收到您的异议，案件已转区信访局督办，工作人员会尽快联系您。")
    return redirect(url_for("h5.case_page"), 303)


@blueprint.post("/h5/case/rate")
def rate_opened_case() -> ResponseReturnValue:
    """The worker rates the handling once (after confirming or disputing)."""
    case, refusal = _case_action()
    if refusal is not None:
        return refusal
    try:
        score = _score(request.form.get("score"))
        if score is None:
            raise InvalidInput("请选择评分", code="score_invalid")
        rate_case(
            complainant_actor(case), case.number, score, request.form.get("comment", "")[:500]
        )
    except DomainError as exc:
        return _case_page(case, exc.status, exc.message)
    flash("感谢您的评价。")
    return redirect(url_for("h5.case_page"), 303)


@blueprint.post("/h5/case/photos")
def add_photos() -> ResponseReturnValue:
    """The worker adds photos to an open case later."""
    case, refusal = _case_action()
    if refusal is not None:
        return refusal
    photos = [f.read() for f in request.files.getlist("photos") if f and f.filename][:MAX_PHOTOS]
    if not photos:
        return _case_page(case, 422, "请选择要上传的照片")
    problems = _store_photos(case, photos)
    if problems:
        return _case_page(case, 422, "部分照片未能保存：" + "；".join(problems))
    flash(f"已补充 {len(photos)} 张照片。")
    return redirect(url_for("h5.case_page"), 303)


@blueprint.post("/h5/case/leave")
def leave_case() -> ResponseReturnValue:
    """Close the case on this browser (a shared phone)."""
    if csrf_ok():
        session.pop(CASE_SESSION_KEY, None)
    return redirect(url_for("h5.status_form"), 303)


# -- a lost access code ------------------------------------------------------------------------


@blueprint.get("/h5/access-code")
def access_code_form() -> ResponseReturnValue:
    """Ask for the case number and the mobile given on the form."""
    return page("access_code.html", values={}, sent=False)


@blueprint.post("/h5/access-code")
def access_code_send() -> ResponseReturnValue:
    """Send the access code again by SMS; the answer is the same whether or not it matched."""
    if not csrf_ok():
        return message_page("页面已过期", "页面已过期，请重新打开页面。", 400)
    refusal = limited("access-code", per_minute_factor=1)
    if refusal is not None:
        return refusal
    number = request.form.get("number", "").strip().upper()[:32]
    try:
        check_rate(f"h5:access-code:case:{number}", 3, 3600)
    except RateLimited as exc:
        return message_page("请稍后再试", exc.message, 429)
    request_access_code_sms(number, request.form.get("mobile", "")[:20])
    return page("access_code.html", values={"number": number}, sent=True)
