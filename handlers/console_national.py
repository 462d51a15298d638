"""Console: the 全国根治欠薪线索反映平台 — import its leads, choose and export 核处结论 replies."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field, ValidationError

from handlers.console import use_console_pages, view
from handlers.console_supervision import _disposition
from wagedispute.access.actors import Actor
from wagedispute.models import NationalConclusion, StaffRole
from wagedispute.platform.errors import InvalidInput
from wagedispute.supervision import national_platform, tasks

blueprint = Blueprint(
    "console_national", __name__, url_prefix="/console", template_folder="templates"
)
use_console_pages(blueprint)

DISTRICT = (StaffRole.DISTRICT_ADMIN, StaffRole.DISTRICT_SUPERVISOR)


class ConclusionForm(BaseModel):
    """The reply class and its explanation."""

    conclusion: NationalConclusion
    note: str = Field(min_length=10, max_length=2000)


class ExportForm(BaseModel):
    """Which replies to export, in which format."""

    format: Literal["csv", "xlsx"] = "xlsx"
    scope: Literal["new", "all"] = "new"


def _form(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.form.to_dict())
    except ValidationError as exc:
        fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        raise InvalidInput(
            "表单填写有误：核处情况说明应为10至2000字", details={"fields": fields}
        ) from exc


@blueprint.get("/national")
@view(*DISTRICT)
def index(actor: Actor) -> ResponseReturnValue:
    """Imported leads with their cases and reply classes; import and export forms."""
    return render_template(
        "console/bureau/national.html",
        nav="national",
        leads=national_platform.list_leads(actor),
        conclusions=list(NationalConclusion),
        recent_tasks=tasks.list_tasks(actor, kind="national_import", limit=5),
        columns=national_platform.LEAD_COLUMNS,
        required=national_platform.REQUIRED,
    )


@blueprint.post("/national/import")
@view(*DISTRICT)
def import_leads(actor: Actor) -> ResponseReturnValue:
    """Queue the platform's export file for import and show its progress."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("请选择国家平台导出的线索文件", code="file_required")
    data = upload.read(tasks.MAX_UPLOAD_BYTES + 1)
    task = tasks.start_task(actor, "national_import", upload=data, upload_filename=upload.filename)
    return redirect(url_for("console_supervision.task_page", task_id=task.id))


@blueprint.post("/national/leads/<int:lead_id>/conclusion")
@view(*DISTRICT)
def conclude(actor: Actor, lead_id: int) -> ResponseReturnValue:
    """Choose the reply class of a lead."""
    form = _form(ConclusionForm)
    assert isinstance(form, ConclusionForm)
    lead = national_platform.set_conclusion(actor, lead_id, form.conclusion, form.note)
    flash(f"线索{lead.lead_number}的核处结论已保存：{form.conclusion.label}")
    return redirect(url_for("console_national.index"))


@blueprint.post("/national/export")
@view(*DISTRICT)
def export(actor: Actor) -> ResponseReturnValue:
    """The ready 核处结论 replies as the platform's upload file."""
    form = _form(ExportForm)
    assert isinstance(form, ExportForm)
    result = national_platform.export_replies(actor, form.format, only_new=form.scope == "new")
    response = Response(result.data, mimetype=result.content_type.split(";")[0])
    if result.content_type.startswith("text/"):
        response.charset = "utf-8"
    response.headers["Content-Disposition"] = _disposition(result.filename)
    response.headers["Cache-Control"] = "no-store"
    return response
