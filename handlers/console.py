"""The bureau console (``/console/``): staff sign-in, CSRF, the layout's helpers and core pages.

Other console pages (the supervision engineer's blueprint, ``handlers/console_supervision.py``)
reuse this module:

- ``require_staff(*staff_roles) -> Actor`` inside a view: the signed-in staff actor, or a
  redirect to sign-in; a staff role outside ``staff_roles`` answers 404.
- ``use_console_pages(blueprint)`` makes a blueprint part of the console: every POST must carry
  the session's CSRF token (Flask-WTF: form field ``csrf_token`` or header ``X-CSRFToken``),
  else 400 and nothing changes (templates call ``{{ csrf_token() }}``); its templates get who
  is signed in and the menu; its errors are the console's HTML error pages.
- sessions are versioned: the cookie carries the account's ``session_version``, and sign-out,
  a password change or deactivation bumps it, so an old cookie stops working at once.
- templates extend ``console/base.html`` and fill ``{% block content %}``; set
  ``{% set nav = "daily" %}`` (a key of ``NAV``) to highlight the menu entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from handlers.miniprogram import evidence_download
from handlers.pages import local_time
from handlers.security import csrf, data_error
from wagedispute.access.actors import Actor
from wagedispute.access.staff import (
    MIN_PASSWORD_LENGTH,
    StaffSession,
    change_staff_password,
    create_staff_account,
    end_staff_sessions,
    list_staff_accounts,
    load_staff_session,
    set_staff_active,
    sign_in_bureau_staff,
    staff_display_name,
    staff_role_choices,
)
from wagedispute.handling.followup import followup_calls_for, undelivered_for
from wagedispute.intake.qrcodes import NOTICE_FIELDS, get_qr_code, site_notice, update_site_notice
from wagedispute.models import CaseStatus, Channel, StaffRole, Urgency
from wagedispute.platform.database import db
from wagedispute.platform.errors import DomainError, InvalidInput
from wagedispute.supervision.casebook import (
    PII_FIELDS,
    CaseFilter,
    bureau_case_detail,
    filter_choices,
    get_evidence_for,
    list_cases,
    reveal_pii,
)
from wagedispute.supervision.indicators import (
    INDICATORS,
    dashboard_for,
    dashboard_year,
    list_targets,
    set_indicator_targets,
)
from wagedispute.supervision.roster import (
    add_team_member,
    create_foreman,
    create_team,
    issue_or_rotate_qr,
    issue_person_binding_code,
    roster_for,
    set_foreman_active,
    set_member_active,
    set_team_active,
)

log = logging.getLogger(__name__)

blueprint = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# A session unused for this long must sign in again.
IDLE_TIMEOUT = timedelta(hours=8)
# What a console session cookie holds.
SESSION_KEYS = ("staff_id", "sv", "staff_name", "seen")
# Pages an account that must change its password may still open.
PASSWORD_EXEMPT_ENDPOINTS = frozenset({"console.password", "console.sign_out", "console.static"})

ADMIN = StaffRole.DISTRICT_ADMIN
SUPERVISOR = StaffRole.DISTRICT_SUPERVISOR
STREET = StaffRole.STREET_STAFF

# (key, label, endpoint) of each menu entry.
NAV = [
    ("overview", "总览", "console.dashboard"),
    ("cases", "案件", "console.case_list"),
    ("daily", "日核查", "console_supervision.daily"),
    ("weekly", "周反馈", "console_supervision.weekly"),
    ("letters", "督办函件", "console_supervision.letters"),
    ("warnings", "预警", "console_supervision.warnings"),
    ("reception", "周四接访", "console_reception.index"),
    ("national", "国家平台", "console_national.index"),
    ("calendar", "工作日历", "console_calendar.index"),
    ("manage", "管理", "console.manage"),
    ("exports", "导出", "console_supervision.exports"),
]


def _check_csrf() -> None:
    """Refuse (400) a console POST without the session's CSRF token (Flask-WTF checks it)."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    csrf.protect()


def require_staff(*staff_roles: StaffRole) -> Actor:
    """The signed-in staff actor; otherwise redirect to sign-in. Other staff roles get 404.

    In production mode an account still on its demo password goes to the password page first.
    """
    actor = _request_actor()
    if actor is None:
        staff = _session_staff()
        if staff is None:
            for key in SESSION_KEYS:
                session.pop(key, None)
            abort(redirect(url_for("console.sign_in", next=_safe_next(request.full_path))))
        if (
            staff.must_change_password
            and production_mode()
            and request.endpoint not in PASSWORD_EXEMPT_ENDPOINTS
        ):
            abort(redirect(url_for("console.password")))
        actor = staff.actor
        # Remembered per request: an app context (and its ``g``) can outlive one request.
        g.console_actor = (request._get_current_object(), actor)
    if staff_roles and actor.staff_role not in staff_roles:
        abort(404)
    return actor


def production_mode() -> bool:
    """Production mode is "the WeChat sandbox is off": demo passwords must be changed."""
    return not current_app.config.get("WECHAT_SANDBOX")


def _request_actor() -> Actor | None:
    remembered = g.get("console_actor")
    if remembered and remembered[0] is request._get_current_object():
        return remembered[1]
    return None


def _session_staff() -> StaffSession | None:
    staff_id = session.get("staff_id")
    version = session.get("sv")
    seen = session.get("seen")
    if not all(isinstance(value, int) for value in (staff_id, version)):
        return None
    if not isinstance(seen, int | float):
        return None
    now = datetime.now(UTC).timestamp()
    if now - seen > IDLE_TIMEOUT.total_seconds():
        return None
    staff = load_staff_session(staff_id, version)
    # Refresh the idle clock at most once a minute, so most requests do not rewrite the cookie.
    if staff is not None and now - seen > 60:
        session["seen"] = int(now)
    return staff


def _clear_session() -> None:
    """Empty the cookie, CSRF token included (Flask-WTF also caches it in ``g``)."""
    session.clear()
    g.pop("csrf_token", None)


def _start_session(staff: StaffSession) -> None:
    """A fresh cookie for a signed-in account: nothing planted before sign-in survives it."""
    _clear_session()
    session["staff_id"] = staff.actor.id
    session["sv"] = staff.version
    session["staff_name"] = staff.display_name
    session["seen"] = int(datetime.now(UTC).timestamp())


def _safe_next(target: str | None) -> str | None:
    """Only same-site console paths are followed after sign-in (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return None
    return target.rstrip("?")


def _console_globals() -> dict[str, Any]:
    actor = _request_actor() if request else None
    if actor is None:
        return {"current_staff": None}
    return {
        "current_staff": actor,
        # Kept in the session at sign-in: one query fewer on every page.
        "current_staff_name": session.get("staff_name") or staff_display_name(actor.id),
        "current_staff_role": actor.staff_role.label if actor.staff_role else "",
        "nav_items": NAV,
    }


def use_console_pages(bp: Blueprint) -> None:
    """Make a blueprint a part of the console: CSRF on its forms, the layout's globals (who is
    signed in, the menu) and the console's HTML error pages."""
    bp.before_request(_check_csrf)
    bp.context_processor(_console_globals)
    bp.register_error_handler(DomainError, _domain_error_page)
    # Before the catch-all below: a value the database refuses is bad input (422), not a 500.
    bp.register_error_handler(DataError, data_error)
    bp.register_error_handler(HTTPException, _http_error_page)
    bp.register_error_handler(Exception, _unexpected_error_page)


ERROR_TITLES = {
    400: "请求无效（页面已过期或表单校验失败），请刷新页面后重试",
    422: "提交的内容有误，请检查后重试",
    401: "请先登录",
    403: "您没有权限进行此操作",
    404: "找不到该页面或记录",
    405: "不支持该请求方式",
    413: "提交的内容过大",
    429: "操作过于频繁，请稍后再试",
}


def _domain_error_page(exc: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    # A form's field problems (the one 422 shape of handlers.errors.field_errors), listed.
    problems = exc.details if isinstance(exc.details, list) else []
    page = render_template(
        "console/error.html", message=exc.message, status=exc.status, problems=problems
    )
    return page, exc.status


def _http_error_page(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    message = ERROR_TITLES.get(status, "请求无法处理")
    return render_template("console/error.html", message=message, status=status), status


def _unexpected_error_page(exc: Exception) -> ResponseReturnValue:
    # Roll back first: a half-done unit of work must never be committed by a later request.
    db.session.rollback()
    log.exception("console: unhandled error: %s", type(exc).__name__)
    return render_template("console/error.html", message="系统出错，请稍后再试", status=500), 500


use_console_pages(blueprint)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    """The staff sign-in form; a correct password starts a fresh session."""
    next_url = _safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        try:
            staff = sign_in_bureau_staff(
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.remote_addr or "",
            )
        except DomainError as exc:
            error, status = exc.message, exc.status
        else:
            _start_session(staff)
            if staff.must_change_password and production_mode():
                return redirect(url_for("console.password"))
            return redirect(next_url or url_for("console.dashboard"))
    return render_template("console/sign_in.html", error=error, next_url=next_url), status


@blueprint.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End the session: this cookie and any copy of it stop working."""
    staff = _session_staff()
    if staff is not None and staff.actor.id is not None:
        end_staff_sessions(staff.actor.id)
    _clear_session()
    flash("您已退出登录")
    return redirect(url_for("console.sign_in"))


@blueprint.route("/password", methods=["GET", "POST"])
def password() -> ResponseReturnValue:
    """Change one's own password; other sessions of the account end, this one goes on."""
    actor = require_staff()
    error = None
    status = 200
    if request.method == "POST":
        try:
            staff = change_staff_password(
                actor,
                request.form.get("current_password", ""),
                request.form.get("new_password", ""),
                request.form.get("confirm_password", ""),
            )
        except InvalidInput as exc:
            error, status = exc.message, exc.status
        else:
            _start_session(staff)
            flash("密码已修改，其他设备上的登录已失效")
            return redirect(url_for("console.dashboard"))
    forced = bool(session.get("staff_id")) and production_mode() and _must_change()
    return render_template(
        "console/password.html", error=error, forced=forced, min_length=MIN_PASSWORD_LENGTH
    ), status


def _must_change() -> bool:
    staff = _session_staff()
    return bool(staff and staff.must_change_password)


def view(*staff_roles: StaffRole) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of ``require_staff``: the view receives the actor as its first argument."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(require_staff(*staff_roles), *args, **kwargs)

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper

    return decorate


@blueprint.get("/")
def dashboard() -> ResponseReturnValue:
    """总览: indicators beside their targets, open cases by status, urgency and street, trend."""
    actor = require_staff()
    dash = dashboard_for(actor)
    return render_template(
        "console/dashboard.html",
        nav="overview",
        dash=dash,
        undelivered=undelivered_for(actor),
        followup_calls=followup_calls_for(actor),
    )


@blueprint.get("/cases")
def case_list() -> ResponseReturnValue:
    """The case list with filters and keyset pages."""
    actor = require_staff()
    flt = CaseFilter.from_args(request.args)
    page = list_cases(actor, flt, cursor=request.args.get("after") or None)
    return render_template(
        "console/cases.html",
        nav="cases",
        flt=flt,
        page=page,
        choices=filter_choices(actor),
        statuses=list(CaseStatus),
        urgencies=list(Urgency),
        channels=list(Channel),
    )


@blueprint.get("/cases/<int:case_id>")
def case_page(case_id: int) -> ResponseReturnValue:
    """One case: facts, clocks, the full timeline, its dispute group, evidence and reveals."""
    actor = require_staff()
    return _render_case(actor, case_id)


def _render_case(actor: Actor, case_id: int, **extra: Any) -> ResponseReturnValue:
    detail = bureau_case_detail(actor, case_id)
    return render_template(
        "console/case.html",
        nav="cases",
        d=detail,
        c=detail.case,
        pii_fields={k: v[0] for k, v in PII_FIELDS.items()},
        undelivered=undelivered_for(actor, case_id),
        **extra,
    )


@blueprint.post("/cases/<int:case_id>/reveal")
def reveal(case_id: int) -> ResponseReturnValue:
    """Show one personal-data field in full, once, after logging the reason."""
    actor = require_staff()
    field_name = request.form.get("field", "")
    try:
        value = reveal_pii(actor, case_id, field_name, request.form.get("reason", ""))
    except InvalidInput as exc:
        return _render_case(actor, case_id, reveal_error=exc.message), exc.status
    return _render_case(
        actor, case_id, revealed={"field": PII_FIELDS[field_name][0], "value": value}
    )


@blueprint.get("/cases/<int:case_id>/evidence/<int:evidence_id>")
def evidence_file(case_id: int, evidence_id: int) -> ResponseReturnValue:
    """An evidence file of a case in scope, served as an attachment-safe download."""
    actor = require_staff()
    response = evidence_download(get_evidence_for(actor, case_id, evidence_id))
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
    return response


@blueprint.route("/targets", methods=["GET", "POST"])
def targets() -> ResponseReturnValue:
    """Annual indicator targets: everyone reads them, district admins set them."""
    actor = require_staff()
    year = _int_arg(request.values.get("year")) or dashboard_year()
    if request.method == "POST":
        require_staff(ADMIN)
        values: dict[str, float | None] = {}
        for spec in INDICATORS:
            raw = request.form.get(spec.key, "").strip()
            try:
                values[spec.key] = float(raw) if raw else None
            except ValueError as exc:
                raise InvalidInput(f"“{spec.label}”的目标值须为数字") from exc
        set_indicator_targets(
            actor, year=year, values=values, street_id=_int_arg(request.form.get("street"))
        )
        flash("年度目标已保存")
        return redirect(url_for("console.targets", year=year))
    rows = list_targets(year)
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        table.setdefault(row.scope, {})[row.indicator] = row.value
    return render_template(
        "console/targets.html",
        nav="overview",
        year=year,
        indicators=INDICATORS,
        table=table,
        streets=filter_choices(actor).streets,
        can_edit=actor.staff_role == ADMIN,
    )


def _int_arg(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError as exc:
        raise InvalidInput("参数无效") from exc


# ---- management -------------------------------------------------------------------------


@blueprint.get("/manage")
def manage(issued: dict[str, str] | None = None) -> ResponseReturnValue:
    """管理: foremen, disposal teams and members, staff accounts (admin)."""
    actor = require_staff()
    roster = roster_for(actor)
    staff = list_staff_accounts(actor) if actor.staff_role == ADMIN else []
    return render_template(
        "console/manage.html",
        nav="manage",
        roster=roster,
        staff=staff,
        staff_roles=staff_role_choices(),
        can_edit=actor.staff_role == ADMIN,
        issued=issued,
    )


def _back() -> ResponseReturnValue:
    return redirect(url_for("console.manage"))


@blueprint.post("/manage/foremen")
def add_foreman() -> ResponseReturnValue:
    """Appoint a foreman (district admin)."""
    actor = require_staff(ADMIN)
    create_foreman(
        actor,
        name=request.form.get("name", ""),
        phone=request.form.get("phone", ""),
        street_id=_int_arg(request.form.get("street")),
    )
    flash("已新增工长")
    return _back()


@blueprint.post("/manage/foremen/<int:foreman_id>/active")
def foreman_active(foreman_id: int) -> ResponseReturnValue:
    """Deactivate or reactivate a foreman (district admin)."""
    actor = require_staff(ADMIN)
    set_foreman_active(actor, foreman_id, request.form.get("active") == "1")
    flash("工长状态已更新")
    return _back()


@blueprint.post("/manage/foremen/<int:foreman_id>/qr")
def foreman_qr(foreman_id: int) -> ResponseReturnValue:
    """Issue a foreman's first QR code, or rotate the given one (district admin)."""
    actor = require_staff(ADMIN)
    qr_id = _int_arg(request.form.get("qr"))
    issue_or_rotate_qr(actor, foreman_id, qr_id)
    flash("已生成新的二维码，旧二维码已停用" if qr_id else "已生成二维码")
    return _back()


@blueprint.get("/manage/qr/<int:qr_id>/notice")
def qr_notice(qr_id: int) -> ResponseReturnValue:
    """告示牌信息: the site facts printed on a QR code's poster (district admin)."""
    require_staff(ADMIN)
    return render_template(
        "console/qr_notice.html",
        nav="manage",
        qr=get_qr_code(qr_id),
        values=site_notice(qr_id),
        fields=NOTICE_FIELDS,
    )


@blueprint.post("/manage/qr/<int:qr_id>/notice")
def save_qr_notice(qr_id: int) -> ResponseReturnValue:
    """Save the site facts of a QR code's poster (district admin)."""
    require_staff(ADMIN)
    update_site_notice(qr_id, {key: request.form.get(key, "") for key in NOTICE_FIELDS})
    flash("告示牌信息已保存，海报已按新信息生成")
    return _back()


@blueprint.post("/manage/binding-codes")
def binding_code() -> ResponseReturnValue:
    """Issue a one-time binding code to a foreman or a team member (district admin)."""
    actor = require_staff(ADMIN)
    issued = issue_person_binding_code(
        actor,
        foreman_id=_int_arg(request.form.get("foreman")),
        team_member_id=_int_arg(request.form.get("member")),
    )
    # Shown once, in this answer: the code is a credential, so it is never stored in clear,
    # not even in the (client-side) session cookie.
    return manage(
        issued={
            "code": issued.code,
            "expires": local_time(issued.expires_at),
            "who": request.form.get("who", ""),
        }
    )


@blueprint.post("/manage/teams")
def add_team() -> ResponseReturnValue:
    """Set up a disposal team (district admin)."""
    actor = require_staff(ADMIN)
    create_team(
        actor, name=request.form.get("name", ""), street_id=_int_arg(request.form.get("street"))
    )
    flash("已新增处置小组")
    return _back()


@blueprint.post("/manage/teams/<int:team_id>/active")
def team_active(team_id: int) -> ResponseReturnValue:
    """Deactivate or reactivate a disposal team (district admin)."""
    actor = require_staff(ADMIN)
    set_team_active(actor, team_id, request.form.get("active") == "1")
    flash("处置小组状态已更新")
    return _back()


@blueprint.post("/manage/teams/<int:team_id>/members")
def add_member(team_id: int) -> ResponseReturnValue:
    """Add a member to a disposal team (district admin)."""
    actor = require_staff(ADMIN)
    add_team_member(
        actor, team_id, name=request.form.get("name", ""), phone=request.form.get("phone", "")
    )
    flash("已新增小组成员")
    return _back()


@blueprint.post("/manage/members/<int:member_id>/active")
def member_active(member_id: int) -> ResponseReturnValue:
    """Deactivate or reactivate a team member (district admin)."""
    actor = require_staff(ADMIN)
    set_member_active(actor, member_id, request.form.get("active") == "1")
    flash("成员状态已更新")
    return _back()


@blueprint.post("/manage/staff")
def add_staff() -> ResponseReturnValue:
    """Create a staff account (district admin)."""
    actor = require_staff(ADMIN)
    try:
        role = StaffRole(request.form.get("role", ""))
    except ValueError as exc:
        raise InvalidInput("请选择角色") from exc
    create_staff_account(
        actor,
        username=request.form.get("username", ""),
        display_name=request.form.get("display_name", ""),
        password=request.form.get("password", ""),
        role=role,
        street_id=_int_arg(request.form.get("street")),
    )
    flash("已新增工作人员账户")
    return _back()


@blueprint.post("/manage/staff/<int:staff_id>/active")
def staff_active(staff_id: int) -> ResponseReturnValue:
    """Deactivate or reactivate a staff account (district admin)."""
    actor = require_staff(ADMIN)
    set_staff_active(actor, staff_id, request.form.get("active") == "1")
    flash("账户状态已更新")
    return _back()
