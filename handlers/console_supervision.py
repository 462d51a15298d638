"""Console pages for supervision: 日核查, 周反馈, letters, early warning, exports, task progress."""

from __future__ import annotations

from datetime import date
from typing import Literal, TypeVar
from urllib.parse import quote

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field, ValidationError

from handlers.console import use_console_pages, view
from handlers.errors import field_errors
from wagedispute.access.actors import Actor
from wagedispute.cases import clocks
from wagedispute.models import AlertKind, CaseStatus, LetterKind, LetterStatus, StaffRole
from wagedispute.platform.errors import Conflict, InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.platform.validation import DbId, SafeText, WholeNumber
from wagedispute.supervision import alerts as alert_service
from wagedispute.supervision import casebook, channel_imports, reception, tasks, weekly_packs
from wagedispute.supervision import daily_check as supervision
from wagedispute.supervision import letters as letter_service

blueprint = Blueprint(
    "console_supervision", __name__, url_prefix="/console", template_folder="templates"
)
use_console_pages(blueprint)

ADMIN = StaffRole.DISTRICT_ADMIN
SUPERVISOR = StaffRole.DISTRICT_SUPERVISOR
STREET = StaffRole.STREET_STAFF
ALL_STAFF = (ADMIN, SUPERVISOR, STREET)

FormT = TypeVar("FormT", bound=BaseModel)


def parse_form(model: type[FormT]) -> FormT:
    """Validate the posted form with a pydantic model; a bad form is a Chinese 422."""
    try:
        return model.model_validate(request.form.to_dict())
    except ValidationError as exc:
        raise InvalidInput(details=field_errors(exc)) from exc


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def _disposition(filename: str) -> str:
    """An attachment header that carries a Chinese file name (RFC 5987) and an ASCII fallback."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# --- 日核查 ------------------------------------------------------------------------------------


class CheckForm(BaseModel):
    """Mark a case checked."""

    note: SafeText = Field(default="", max_length=500)


@blueprint.get("/daily")
@view(*ALL_STAFF)
def daily(actor: Actor) -> ResponseReturnValue:
    """The daily check queue and today's checks."""
    return render_template(
        "console/supervision/daily.html",
        nav="daily",
        items=supervision.daily_queue(actor),
        checks=supervision.list_daily_checks(actor),
        today=district_today(),
        stale_days=supervision.STALE_DAYS,
        promises=reception.promises_due(actor),
    )


@blueprint.post("/daily/<int:case_id>/check")
@view(*ALL_STAFF)
def check(actor: Actor, case_id: int) -> ResponseReturnValue:
    """Mark one case checked by the signed-in staff member."""
    form = parse_form(CheckForm)
    supervision.check_case(actor, case_id, form.note)
    flash("已标记为已核查")
    return redirect(url_for("console_supervision.daily"))


# --- Clock pause (DESIGN §5: clocks wait while the worker is asked for something) ---------------


class PauseForm(BaseModel):
    """Why the clocks wait for the worker."""

    reason: SafeText = Field(min_length=1, max_length=500)


@blueprint.post("/cases/<int:case_id>/pause-clocks")
@view(*ALL_STAFF)
def pause_clocks(actor: Actor, case_id: int) -> ResponseReturnValue:
    """Pause the case's clocks while waiting for the worker."""
    try:
        form = parse_form(PauseForm)
        clocks.pause_clocks(case_id, actor, form.reason)
        flash("已暂停计时，恢复后各时限顺延")
    except (InvalidInput, Conflict) as exc:
        flash(exc.message)
    return redirect(url_for("console.case_page", case_id=case_id))


@blueprint.post("/cases/<int:case_id>/resume-clocks")
@view(*ALL_STAFF)
def resume_clocks(actor: Actor, case_id: int) -> ResponseReturnValue:
    """Restart the case's clocks; running deadlines move later by the paused time."""
    try:
        clocks.resume_clocks(case_id, actor)
        flash("已恢复计时")
    except Conflict as exc:
        flash(exc.message)
    return redirect(url_for("console.case_page", case_id=case_id))


# --- 周反馈 ------------------------------------------------------------------------------------


class BuildPacksForm(BaseModel):
    """Build the packs of one week now."""

    week_start: date


@blueprint.get("/weekly")
@view(*ALL_STAFF)
def weekly(actor: Actor) -> ResponseReturnValue:
    """The packs of a week (default: the latest built, else this week)."""
    weeks = weekly_packs.list_pack_weeks(actor)
    this_week = weekly_packs.week_start_of(district_today())
    try:
        chosen = date.fromisoformat(request.args["week"]) if request.args.get("week") else None
    except ValueError:
        chosen = None
    week = chosen or (weeks[0] if weeks else this_week)
    packs = weekly_packs.list_weekly_packs(actor, week)
    return render_template(
        "console/supervision/weekly.html",
        nav="weekly",
        week=week,
        weeks=weeks,
        this_week=this_week,
        packs=packs,
        total=weekly_packs.district_total(packs) if packs else None,
        labels=weekly_packs.FIGURE_LABELS,
        can_build=actor.staff_role != STREET,
        recent_tasks=tasks.list_tasks(actor, kind="weekly_packs", limit=5),
    )


@blueprint.post("/weekly/build")
@view(ADMIN, SUPERVISOR)
def build_weekly(actor: Actor) -> ResponseReturnValue:
    """Queue the building of a week's packs and show its progress."""
    form = parse_form(BuildPacksForm)
    task = tasks.start_task(actor, "weekly_packs", {"week_start": form.week_start.isoformat()})
    return redirect(url_for("console_supervision.task_page", task_id=task.id))


@blueprint.get("/weekly/<int:pack_id>")
@view(*ALL_STAFF)
def weekly_pack(actor: Actor, pack_id: int) -> ResponseReturnValue:
    """One street's pack."""
    pack = weekly_packs.get_weekly_pack_for(actor, pack_id)
    return render_template(
        "console/supervision/pack.html",
        nav="weekly",
        pack=pack,
        labels=weekly_packs.FIGURE_LABELS,
        team_rows=weekly_packs.team_rows(pack.figures),
    )


@blueprint.get("/weekly/district-<week>.pdf")
@view(ADMIN, SUPERVISOR)
def district_pack_pdf(actor: Actor, week: str) -> ResponseReturnValue:
    """The district-wide pack of a week as a PDF."""
    try:
        week_start = date.fromisoformat(week)
    except ValueError as exc:
        raise NotFound() from exc
    data = weekly_packs.district_pack_pdf(actor, week_start)
    return _pdf(data, f"周反馈-全区-{week_start}.pdf")


@blueprint.get("/weekly/<int:pack_id>.pdf")
@view(*ALL_STAFF)
def weekly_pack_pdf(actor: Actor, pack_id: int) -> ResponseReturnValue:
    """One street's pack as a PDF."""
    pack = weekly_packs.get_weekly_pack_for(actor, pack_id)
    return _pdf(weekly_packs.pack_pdf(pack), f"周反馈-{pack.street.name}-{pack.week_start}.pdf")


# --- Letters -----------------------------------------------------------------------------------


class IssueLetterForm(BaseModel):
    """Issue a letter about a case."""

    case_id: DbId
    kind: LetterKind
    title: SafeText = Field(default="", max_length=120)
    body: SafeText = Field(default="", max_length=5000)


class PhoneSupervisionForm(BaseModel):
    """Record a telephone supervision of a case on a clock shorter than a working day."""

    case_id: DbId
    note: SafeText = Field(min_length=1, max_length=2000)


class ReplyForm(BaseModel):
    """Record the addressee's reply."""

    reply: SafeText = Field(min_length=1, max_length=5000)


@blueprint.get("/letters")
@view(*ALL_STAFF)
def letters(actor: Actor) -> ResponseReturnValue:
    """Suggested letters and the letters issued, with their reply status."""
    status = request.args.get("status") or None
    try:
        chosen = LetterStatus(status) if status else None
    except ValueError:
        chosen = None
    return render_template(
        "console/supervision/letters.html",
        nav="letters",
        suggestions=letter_service.suggest_letters(actor),
        letters=letter_service.list_letters(actor, status=chosen),
        statuses=list(LetterStatus),
        chosen=chosen,
        can_issue=actor.staff_role in letter_service.ISSUING_ROLES,
    )


@blueprint.get("/letters/new")
@view(ADMIN, SUPERVISOR)
def new_letter(actor: Actor) -> ResponseReturnValue:
    """The draft of a letter about a case, for review before it is issued."""
    try:
        case_id = int(request.args.get("case_id", ""))
        kind = LetterKind(request.args["kind"]) if request.args.get("kind") else None
    except ValueError as exc:
        raise NotFound() from exc
    draft = letter_service.draft_letter(actor, case_id, kind)
    return render_template(
        "console/supervision/letter_new.html",
        nav="letters",
        draft=draft,
        kinds=list(LetterKind),
    )


@blueprint.post("/letters")
@view(ADMIN, SUPERVISOR)
def issue(actor: Actor) -> ResponseReturnValue:
    """Issue (number) the letter."""
    form = parse_form(IssueLetterForm)
    letter = letter_service.issue_letter(
        actor, form.case_id, form.kind, title=form.title, body=form.body
    )
    flash(f"已发出{letter.kind.label}：{letter.number}")
    return redirect(url_for("console_supervision.letter_page", letter_id=letter.id))


@blueprint.post("/letters/phone")
@view(ADMIN, SUPERVISOR)
def phone_supervision(actor: Actor) -> ResponseReturnValue:
    """Record a telephone supervision instead of a letter (clock shorter than a working day)."""
    form = parse_form(PhoneSupervisionForm)
    letter_service.record_phone_supervision(actor, form.case_id, form.note)
    flash("已记录电话督办")
    return redirect(url_for("console_supervision.letters"))


@blueprint.post("/cases/<int:case_id>/merge")
@view(*ALL_STAFF)
def merge_duplicate(actor: Actor, case_id: int) -> ResponseReturnValue:
    """Confirm a suspected duplicate and merge it into the earlier case."""
    case = casebook.merge_duplicate(actor, case_id)
    flash(f"已确认重复，{case.number}并入较早投诉办理")
    return redirect(url_for("console.case_page", case_id=case.duplicate_of_id))


@blueprint.get("/letters/<int:letter_id>")
@view(*ALL_STAFF)
def letter_page(actor: Actor, letter_id: int) -> ResponseReturnValue:
    """One letter, its reply, and the reply form."""
    letter = letter_service.get_letter_for(actor, letter_id)
    return render_template("console/supervision/letter.html", nav="letters", letter=letter)


@blueprint.get("/letters/<int:letter_id>.pdf")
@view(*ALL_STAFF)
def letter_pdf(actor: Actor, letter_id: int) -> ResponseReturnValue:
    """The printable letter."""
    letter = letter_service.get_letter_for(actor, letter_id)
    return _pdf(letter_service.letter_pdf(letter), f"{letter.number}.pdf")


@blueprint.post("/letters/<int:letter_id>/reply")
@view(*ALL_STAFF)
def reply(actor: Actor, letter_id: int) -> ResponseReturnValue:
    """Record the reply to a letter."""
    form = parse_form(ReplyForm)
    letter_service.record_reply(actor, letter_id, form.reply)
    flash("已登记回复")
    return redirect(url_for("console_supervision.letter_page", letter_id=letter_id))


# --- Early warning -----------------------------------------------------------------------------


class AcknowledgeForm(BaseModel):
    """Acknowledge an alert."""

    note: SafeText = Field(default="", max_length=500)


@blueprint.get("/warnings")
@view(*ALL_STAFF)
def warnings(actor: Actor) -> ResponseReturnValue:
    """Alerts (open first), the import form and recent imported records."""
    show_all = request.args.get("all") == "1"
    alerts = alert_service.list_alerts(actor, include_acknowledged=show_all)
    return render_template(
        "console/supervision/warnings.html",
        nav="warnings",
        alerts=alerts,
        alert_cases=alert_service.alert_cases(actor, alerts),
        show_all=show_all,
        records=channel_imports.list_channel_records(actor, limit=50),
        aliases=channel_imports.list_channel_aliases(actor),
        can_edit_aliases=actor.staff_role != STREET,
        channels=channel_imports.CHANNELS,
        kinds={k.value: k.label for k in AlertKind},
        recent_tasks=tasks.list_tasks(actor, kind="import", limit=5),
    )


class AliasForm(BaseModel):
    """Another name for a channel, as other channels' files write it."""

    alias: SafeText = Field(min_length=1, max_length=64)
    channel: str = Field(min_length=1, max_length=32)


@blueprint.post("/warnings/aliases")
@view(ADMIN, SUPERVISOR)
def add_alias(actor: Actor) -> ResponseReturnValue:
    """Accept another name for a channel in later imports."""
    form = parse_form(AliasForm)
    row = channel_imports.add_channel_alias(actor, form.alias, form.channel)
    flash(f"已登记渠道别名：{row.alias} → {channel_imports.CHANNELS[row.channel]}")
    return redirect(url_for("console_supervision.warnings"))


@blueprint.post("/warnings/aliases/<int:alias_id>/delete")
@view(ADMIN, SUPERVISOR)
def remove_alias(actor: Actor, alias_id: int) -> ResponseReturnValue:
    """Stop accepting a channel alias."""
    channel_imports.remove_channel_alias(actor, alias_id)
    flash("已删除渠道别名")
    return redirect(url_for("console_supervision.warnings"))


@blueprint.post("/warnings/import")
@view(*ALL_STAFF)
def import_records(actor: Actor) -> ResponseReturnValue:
    """Queue an uploaded CSV/XLSX for import and show its progress."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("请选择要导入的文件", code="file_required")
    data = upload.read(tasks.MAX_UPLOAD_BYTES + 1)
    task = tasks.start_task(actor, "import", upload=data, upload_filename=upload.filename)
    return redirect(url_for("console_supervision.task_page", task_id=task.id))


@blueprint.post("/warnings/<int:alert_id>/acknowledge")
@view(*ALL_STAFF)
def acknowledge(actor: Actor, alert_id: int) -> ResponseReturnValue:
    """Acknowledge an alert."""
    form = parse_form(AcknowledgeForm)
    alert_service.acknowledge_alert(actor, alert_id, form.note)
    flash("已确认该预警")
    return redirect(url_for("console_supervision.warnings"))


@blueprint.get("/warnings/import-sample.csv")
@view(*ALL_STAFF)
def import_sample(actor: Actor) -> ResponseReturnValue:
    """The import template with two example rows."""
    header = ",".join(dict.fromkeys(channel_imports.FIELD_LABELS.values()))
    example = (
        "信访,2026-01-05,海景花园二期工地,深圳市海景建设有限公司,,沙头角,12,360000,"
        "反映春节前工资未结清"
    )
    response = Response(f"{header}\n{example}\n".encode("utf-8-sig"), mimetype="text/csv")
    response.headers["Content-Disposition"] = _disposition("预警导入模板.csv")
    return response


# --- Exports -----------------------------------------------------------------------------------


class ExportForm(BaseModel):
    """What to export."""

    what: Literal["cases", "indicators"]
    format: Literal["csv", "xlsx"]
    status: CaseStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    year: WholeNumber | None = Field(default=None, ge=2000, le=2100)


@blueprint.get("/exports")
@view(*ALL_STAFF)
def exports(actor: Actor) -> ResponseReturnValue:
    """The export form and recent exports."""
    return render_template(
        "console/supervision/exports.html",
        nav="exports",
        statuses=list(CaseStatus),
        year=district_today().year,
        recent_tasks=tasks.list_tasks(actor, kind="export", limit=10),
    )


@blueprint.post("/exports")
@view(*ALL_STAFF)
def start_export(actor: Actor) -> ResponseReturnValue:
    """Queue an export and show its progress."""
    form = {k: v for k, v in request.form.to_dict().items() if v != "" and k != "csrf_token"}
    try:
        parsed = ExportForm.model_validate(form)
    except ValidationError as exc:
        raise InvalidInput(details=field_errors(exc)) from exc
    task = tasks.start_task(actor, "export", parsed.model_dump(mode="json", exclude_none=True))
    return redirect(url_for("console_supervision.task_page", task_id=task.id))


# --- Background tasks --------------------------------------------------------------------------


@blueprint.get("/tasks/<int:task_id>")
@view(*ALL_STAFF)
def task_page(actor: Actor, task_id: int) -> ResponseReturnValue:
    """A progress bar that refreshes itself every 2 s until the task ends (no script needed)."""
    task = tasks.get_task_for(actor, task_id)
    running = task.status.value in {"queued", "running"}
    page = render_template(
        "console/supervision/task.html",
        nav={
            "import": "warnings",
            "national_import": "national",
            "weekly_packs": "weekly",
            "export": "exports",
        }.get(task.kind),
        task=task,
        kind_label=tasks.TASK_KINDS.get(task.kind, task.kind),
        running=running,
    )
    response = Response(page, mimetype="text/html")
    if running:
        # The header and the page's meta tag both reload it, so no script is needed.
        response.headers["Refresh"] = "2"
    return response


@blueprint.get("/tasks/<int:task_id>.json")
@view(*ALL_STAFF)
def task_json(actor: Actor, task_id: int) -> ResponseReturnValue:
    """The task's progress as JSON."""
    return jsonify(tasks.task_status(tasks.get_task_for(actor, task_id)))


@blueprint.get("/tasks/<int:task_id>/download")
@view(*ALL_STAFF)
def task_download(actor: Actor, task_id: int) -> ResponseReturnValue:
    """A finished export's file."""
    filename, content_type, data = tasks.get_task_download(actor, task_id)
    response = Response(data, mimetype=content_type.split(";")[0])
    if content_type.startswith("text/"):
        response.charset = "utf-8"
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response
