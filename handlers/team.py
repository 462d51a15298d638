"""The disposal team's mini-program API under ``/api/v1/team/``.

Only cases dispatched to the member's own team are visible; any other number answers 404, and
so does a token of another role.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from handlers.api import UPLOAD_REQUEST_BODY, current_actor, documented, parse_body, read_upload
from handlers.foreman import (
    NUMBER_PARAM,
    EventOut,
    EvidenceBriefOut,
    StaffCaseDetailOut,
    StaffCaseOut,
    case_out,
    detail_out,
    event_out,
    evidence_out,
)
from wagedispute.access.actors import Actor
from wagedispute.cases.clocks import pause_case_clocks, resume_case_clocks
from wagedispute.cases.evidence import store_evidence
from wagedispute.handling.foreman import case_detail
from wagedispute.handling.team import (
    ResolutionIn,
    accept_case,
    add_note,
    resolve_case,
    return_case,
    start_work,
    team_cases,
)
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.models import CaseStatus, Role
from wagedispute.platform.errors import InvalidInput

blueprint = Blueprint("team", __name__, url_prefix="/api/v1/team")


class TeamCaseListOut(BaseModel):
    """The team's cases: awaiting acceptance first, then by urgency and age."""

    cases: list[StaffCaseOut]


class ReturnIn(BaseModel):
    """Why the case goes back to the foreman."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class NoteIn(BaseModel):
    """A progress note; ``contacted_worker`` on the first note stops the first-contact clock."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)
    evidence_ids: list[int] = Field(default_factory=list, max_length=20)
    worker_visible: bool = False
    contacted_worker: bool = False


class PauseIn(BaseModel):
    """Why the clocks wait for the worker (shown to staff; the worker sees a standard message)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def member() -> Actor:
    """The signed-in team member (other roles: 404)."""
    return current_actor(Role.TEAM_MEMBER)


@blueprint.get("/cases")
@documented(
    "GET",
    "/api/v1/team/cases",
    "本小组的案件（默认：待接收、已接收、处置中；?status= 可多次指定）",
    response_model=TeamCaseListOut,
    parameters=[
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"type": "string"}},
        }
    ],
)
def cases() -> ResponseReturnValue:
    """My team's cases."""
    actor = member()
    try:
        statuses = [CaseStatus(s) for s in request.args.getlist("status")]
    except ValueError as exc:
        raise InvalidInput("状态参数无效", code="status_invalid") from exc
    return jsonify(cases=[case_out(c) for c in team_cases(actor, statuses or None)])


@blueprint.get("/cases/<number>")
@documented(
    "GET",
    "/api/v1/team/cases/{number}",
    "案件详情（全部记录和证据）",
    response_model=StaffCaseDetailOut,
    parameters=[NUMBER_PARAM],
)
def show_case(number: str) -> ResponseReturnValue:
    """One of the team's cases."""
    return jsonify(detail_out(case_detail(member(), number)))


@blueprint.post("/cases/<number>/accept")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/accept",
    "接收案件",
    response_model=StaffCaseOut,
    parameters=[NUMBER_PARAM],
)
def accept(number: str) -> ResponseReturnValue:
    """Accept a dispatched case."""
    return jsonify(case_out(accept_case(member(), number)))


@blueprint.post("/cases/<number>/return")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/return",
    "退回工长（须填写原因）",
    request_model=ReturnIn,
    response_model=StaffCaseOut,
    parameters=[NUMBER_PARAM],
)
def give_back(number: str) -> ResponseReturnValue:
    """Return a dispatched case to the foreman."""
    actor = member()
    body = parse_body(ReturnIn)
    return jsonify(case_out(return_case(actor, number, body.reason)))


@blueprint.post("/cases/<number>/start")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/start",
    "开始处置",
    response_model=StaffCaseOut,
    parameters=[NUMBER_PARAM],
)
def start(number: str) -> ResponseReturnValue:
    """Move an accepted case to in progress."""
    return jsonify(case_out(start_work(member(), number)))


@blueprint.post("/cases/<number>/notes")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/notes",
    "记录处置进展（可附本案证据；worker_visible 为真时工人可见；contacted_worker 表示已联系工人）",
    request_model=NoteIn,
    response_model=EventOut,
    parameters=[NUMBER_PARAM],
)
def note(number: str) -> ResponseReturnValue:
    """Add a progress note."""
    actor = member()
    body = parse_body(NoteIn)
    event = add_note(
        actor,
        number,
        body.text,
        evidence_ids=body.evidence_ids,
        worker_visible=body.worker_visible,
        contacted_worker=body.contacted_worker,
    )
    return jsonify(event_out(event).model_dump(mode="json")), 201


@blueprint.post("/cases/<number>/pause")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/pause",
    "等待工人补充材料或答复时暂停办理时限（须填写原因；工人进度中可见）",
    tag="处置小组",
    request_model=PauseIn,
    response_model=StaffCaseOut,
    errors={
        409: ("没有正在计算的时限，或已暂停", ["clock_not_running", "clock_already_paused"]),
        422: ("未填写原因", ["reason_required"]),
    },
    parameters=[NUMBER_PARAM],
)
def pause(number: str) -> ResponseReturnValue:
    """Pause the case's clocks while waiting for the worker."""
    actor = member()
    body = parse_body(PauseIn)
    return jsonify(case_out(pause_case_clocks(actor, number, body.reason)))


@blueprint.post("/cases/<number>/resume")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/resume",
    "恢复办理时限（各时限顺延暂停的时长）",
    tag="处置小组",
    response_model=StaffCaseOut,
    errors={409: ("时限未暂停", ["clock_not_paused"])},
    parameters=[NUMBER_PARAM],
)
def resume(number: str) -> ResponseReturnValue:
    """Restart the case's clocks."""
    return jsonify(case_out(resume_case_clocks(member(), number)))


@blueprint.post("/cases/<number>/evidence")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/evidence",
    "上传处置材料或支付凭证（图片或 PDF；multipart 字段 file，或以文件内容为请求体）",
    response_model=EvidenceBriefOut,
    parameters=[NUMBER_PARAM],
    requestBody=UPLOAD_REQUEST_BODY,
)
def upload_evidence(number: str) -> ResponseReturnValue:
    """Attach a file (e.g. proof of payment) to one of the team's cases."""
    actor = member()
    case = get_case_by_number(actor, number)
    evidence = store_evidence(case.id, actor, read_upload())
    return jsonify(evidence_out(evidence).model_dump(mode="json")), 201


@blueprint.post("/cases/<number>/resolve")
@documented(
    "POST",
    "/api/v1/team/cases/{number}/resolve",
    "办结：全额支付、部分支付、分期支付、移交劳动监察/劳动仲裁/法院、不属实；支付类须附本案支付凭证和每名工人实付金额",
    request_model=ResolutionIn,
    response_model=StaffCaseOut,
    parameters=[NUMBER_PARAM],
)
def resolve(number: str) -> ResponseReturnValue:
    """Resolve a case with its outcome."""
    actor = member()
    body = parse_body(ResolutionIn)
    return jsonify(case_out(resolve_case(actor, number, body)))
