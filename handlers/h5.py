"""The H5 form at ``/q/<token>`` for scanners outside WeChat, and ``/h5/status``.

Plain HTML forms (no JavaScript, no CDN), CSRF-protected with a token bound to the Flask session,
validated by the same pydantic model as the API.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, current_app, render_template, request, session
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from handlers.miniprogram import IDEMPOTENCY_KEY
from wagedispute.intake.complaints import case_detail, find_case_by_access_code
from wagedispute.intake.qrcodes import foreman_card, resolve_qr_token
from wagedispute.intake.submission import ComplaintIn, field_errors, submit_complaint
from wagedispute.models import Channel
from wagedispute.platform.errors import DomainError, InvalidInput, NotFound, RateLimited
from wagedispute.platform.ratelimit import check_rate

blueprint = Blueprint(
    "h5",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/h5/static",
)

CSRF_SESSION_KEY = "h5_csrf"
EMPLOYER_ROWS = 3
EMPLOYER_ROLES = ["总包", "分包", "班组", "建设单位"]


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_ok() -> bool:
    """Whether the posted token matches the one bound to this browser's session."""
    expected = session.get(CSRF_SESSION_KEY) or ""
    given = request.form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(expected, given)


def page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    """Render an H5 page; pages must not be cached (they carry tokens and codes)."""
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
    """Unknown or revoked QR tokens: a clear message; revoked ones also give the contact."""
    if exc.code == "qr_revoked":
        contact = exc.details if isinstance(exc.details, dict) else {}
        return message_page("二维码已更换", exc.message, 410, contact=contact)
    if exc.code == "qr_foreman_inactive":
        contact = exc.details if isinstance(exc.details, dict) else {}
        return message_page("工长已更换", exc.message, exc.status, contact=contact)
    if isinstance(exc, NotFound):
        return message_page("无法识别二维码", exc.message, 404)
    return message_page("无法处理", exc.message, exc.status)


def form_to_input(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The model's input from the posted form, plus errors the form itself can give (yuan)."""
    errors: dict[str, str] = {}
    employers = []
    for index in range(EMPLOYER_ROWS):
        row = {
            key: form.get(f"employers-{index}-{key}", "").strip()
            for key in ("role", "name", "uscc")
        }
        if row["name"] or row["uscc"]:
            employers.append(row)
    raw_amount = form.get("amount_yuan", "").strip().replace(",", "").replace("，", "")
    amount_fen: Any = None
    try:
        yuan = Decimal(raw_amount or "0")
        if yuan != yuan.quantize(Decimal("0.01")) or not yuan.is_finite():
            raise InvalidOperation
        amount_fen = int(yuan * 100)
    except (InvalidOperation, ValueError):
        errors["amount_yuan"] = "请填写金额（元），最多两位小数"
        amount_fen = 0
    data = {
        "name": form.get("name", ""),
        "mobile": form.get("mobile", ""),
        "id_number": form.get("id_number", ""),
        "site_name": form.get("site_name", ""),
        "site_address": form.get("site_address", ""),
        "employers": employers,
        "workers_affected": form.get("workers_affected", "").strip() or None,
        "amount_owed_fen": amount_fen,
        "period_start": form.get("period_start", "").strip() or None,
        "period_end": form.get("period_end", "").strip() or None,
        "description": form.get("description", ""),
        "consent_disclose_identity": form.get("consent_disclose_identity") == "yes",
    }
    return data, errors


def form_field(field: str) -> str:
    """The form input a model error belongs to."""
    parts = field.split(".")
    if parts[0] == "employers" and len(parts) >= 2:
        return f"employers-{parts[1]}-{parts[2] if len(parts) > 2 else 'name'}"
    if parts[0] == "amount_owed_fen":
        return "amount_yuan"
    return parts[0]


def _form_context(qr: Any, values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "card": foreman_card(qr),
        "token": qr.token,
        "values": values,
        "errors": errors,
        "employer_rows": EMPLOYER_ROWS,
        "employer_roles": EMPLOYER_ROLES,
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
        "idempotency_key": uuid.uuid4().hex,
    }
    return page("form.html", **_form_context(qr, values, {}))


@blueprint.post("/q/<token>")
def submit_form(token: str) -> ResponseReturnValue:
    """Validate and submit the form; errors come back beside their fields."""
    if not csrf_ok():
        return message_page(
            "页面已过期", "页面已过期或来源不明，请重新打开二维码页面后再提交。", 400
        )
    refusal = limited("submit")
    if refusal is not None:
        return refusal
    try:
        qr = resolve_qr_token(token)
    except DomainError as exc:
        return qr_problem(exc)
    values = {key: request.form.get(key, "") for key in request.form}
    key = request.form.get("idempotency_key", "").strip()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        return message_page("页面已过期", "页面已过期，请重新打开二维码页面后再提交。", 400)
    data, errors = form_to_input(request.form)
    data["qr_token"] = token
    try:
        complaint = ComplaintIn.model_validate(data)
    except ValidationError as exc:
        for problem in field_errors(exc):
            errors.setdefault(form_field(problem["field"]), problem["message"])
        complaint = None
    if errors or complaint is None:
        return page("form.html", 422, **_form_context(qr, values, errors))
    try:
        result = submit_complaint(complaint, channel=Channel.WEB, actor=None, idempotency_key=key)
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
    return page(
        "done.html",
        number=result.number,
        access_code=result.access_code,
        created=result.created,
    )


@blueprint.get("/h5/status")
def status_form() -> ResponseReturnValue:
    """Ask for the case number and access code."""
    return page("status.html", values={}, error=None, case=None)


@blueprint.post("/h5/status")
def status_lookup() -> ResponseReturnValue:
    """Show the worker-safe timeline of the case the number and code open."""
    if not csrf_ok():
        return message_page("页面已过期", "页面已过期，请重新打开查询页面。", 400)
    refusal = limited("status", per_minute_factor=1)
    if refusal is not None:
        return refusal
    number = request.form.get("number", "")
    code = request.form.get("access_code", "")
    values = {"number": number}
    try:
        case = find_case_by_access_code(number, code)
    except NotFound as exc:
        return page("status.html", 404, values=values, error=exc.message, case=None)
    return page("status.html", values=values, error=None, case=case_detail(case))
