"""The disposal team's mini-program API under ``/api/v1/team/``.

Only cases dispatched to the member's own team are visible; any other number answers 404, and
so does a token of another role.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
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
from handlers.miniprogram import (
    CURSOR_PARAMS,
    EVIDENCE_ID_PARAM,
    FILE_RESPONSE,
    evidence_download,
    page_args,
)
from wagedispute.access.actors import Actor
from wagedispute.cases.clocks import pause_case_clocks, resume_case_clocks
from wagedispute.cases.evidence import store_evidence
from wagedispute.handling.followup import record_followup_call
from wagedispute.handling.foreman import handling_case_detail
from wagedispute.handling.team import (
    ResolutionIn,
    accept_case,
    add_note,
    page_team_cases,
    resolve_case,
    return_case,
    start_work,
    team_evidence,
)
from wagedispute.intake.complaints import get_case_by_number
from wagedispute.models import CaseStatus, Role
from wagedispute.platform.errors import InvalidInput
from wagedispute.platform.validation import DbId, SafeText

blueprint = Blueprint("team", __name__, url_prefix="/api/v1/team")


RESOLUTION_RULES = (
    "办结规则：paid_in_full（已全额支付）和 paid_in_part（已部分支付）须有 proof_evidence_ids"
    "（本案已上传的支付凭证）和 payments（每名工人实收金额，分）；instalment_plan（分期支付）"
    "须有 instalments；transferred_inspection / transferred_arbitration / transferred_court"
    "（移交劳动监察、劳动仲裁、法院）可附 transfer_reference；"
    "unsubstantiated（不属实）须有 summary。"
)
TRANSITION_ERRORS = {409: ("案件当前状态不能这样处理", ["invalid_transition", "stale_data"])}


class TeamCaseListOut(BaseModel):
    """The team's cases: awaiting acceptance first, then by urgency and age."""

    cases: list[StaffCaseOut]
    next_cursor: str | None = Field(description="下一页的 cursor；为空表示没有更多")


class ReturnIn(BaseModel):
    """Why the case goes back to the foreman."""

    model_config = ConfigDict(extra="forbid")
    reason: SafeText = Field(min_length=1, max_length=500)


class NoteIn(BaseModel):
    """A progress note; ``contacted_worker`` on the first note stops the first-contact clock."""

    model_config = ConfigDict(extra="forbid")
    text: SafeText = Field(min_length=1, max_length=2000)
    evidence_ids: list[DbId] = Field(default_factory=list, max_length=20)
    worker_visible: bool = False
    contacted_worker: bool = False


class PauseIn(BaseModel):
    """Why the clocks wait for the worker (shown to staff; the worker sees a standard message)."""

    model_config = ConfigDict(extra="forbid")
    reason: SafeText = Field(min_length=1, max_length=500)


def member() -> Actor:
    """The signed-in team member (other roles: 404)."""
    return current_actor(Role.TEAM_MEMBER)


@blueprint.get("/cases")
@documented(
    "本小组的案件（默认：待接收、已接收、处置中；?status= 可多次指定；cursor 分页）",
    tag="处置小组",
    response_model=TeamCaseListOut,
    parameters=[
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/CaseStatus"}},
        },
        *CURSOR_PARAMS,
    ],
    errors={
        404: ("非处置小组成员的令牌", ["not_found"]),
        422: ("状态或分页参数无效", ["status_invalid", "cursor_invalid"]),
    },
)
def cases() -> ResponseReturnValue:
    """My team's cases, a page at a time."""
    actor = member()
    try:
        statuses = [CaseStatus(s) for s in request.args.getlist("status")]
    except ValueError as exc:
        raise InvalidInput("状态参数无效", code="status_invalid") from exc
    cursor, limit = page_args()
    page = page_team_cases(actor, statuses or None, cursor, limit)
    return jsonify(cases=[case_out(c) for c in page.items], next_cursor=page.next_cursor)


@blueprint.get("/cases/<number>")
@documented(
    "案件详情（全部记录和证据）",
    tag="处置小组",
    response_model=StaffCaseDetailOut,
    parameters=[NUMBER_PARAM],
)
def show_case(number: str) -> ResponseReturnValue:
    """One of the team's cases."""
    return jsonify(detail_out(handling_case_detail(member(), number)))


@blueprint.get("/cases/<number>/evidence/<int:evidence_id>")
@documented(
    "下载本组案件的一份证据材料（含工人上传的证据；附件）",
    tag="处置小组",
    parameters=[NUMBER_PARAM, EVIDENCE_ID_PARAM],
    errors={404: ("材料不存在或不属于该案件", ["evidence_not_found"])},
    responses=FILE_RESPONSE,
)
def download_evidence(number: str, evidence_id: int) -> Response:
    """One evidence file of one of the team's cases, as a download."""
    return evidence_download(team_evidence(member(), number, evidence_id))


@blueprint.post("/cases/<number>/accept")
@documented(
    "接收案件",
    tag="处置小组",
    response_model=StaffCaseOut,
    errors=TRANSITION_ERRORS,
    parameters=[NUMBER_PARAM],
)
def accept(number: str) -> ResponseReturnValue:
    """Accept a dispatched case."""
    return jsonify(case_out(accept_case(member(), number)))


@blueprint.post("/cases/<number>/return")
@documented(
    "退回工长（须填写原因）",
    tag="处置小组",
    request_model=ReturnIn,
    response_model=StaffCaseOut,
    errors=TRANSITION_ERRORS,
    parameters=[NUMBER_PARAM],
)
def give_back(number: str) -> ResponseReturnValue:
    """Return a dispatched case to the foreman."""
    actor = member()
    body = parse_body(ReturnIn)
    return jsonify(case_out(return_case(actor, number, body.reason)))


class FollowupCallIn(BaseModel):
    """The team's 回访 call to a worker never told of the outcome."""

    model_config = ConfigDict(extra="forbid")
    reached: bool = Field(description="是否已电话联系上工人并告知处置结果")
    note: SafeText = Field(default="", max_length=500)


@blueprint.post("/cases/<number>/followup-call")
@documented(
    "记录电话回访（处置结果未能通知到工人时）：联系上后7日内工人未答复即结案，未联系上则继续待回访",
    tag="处置小组",
    request_model=FollowupCallIn,
    response_model=StaffCaseOut,
    errors={409: ("该案件没有待办的电话回访", ["no_followup_call", "stale_data"])},
    parameters=[NUMBER_PARAM],
)
def followup_call(number: str) -> ResponseReturnValue:
    """Record the team's follow-up call."""
    actor = member()
    body = parse_body(FollowupCallIn)
    case = record_followup_call(actor, number, reached=body.reached, note=body.note)
    return jsonify(case_out(case))


@blueprint.post("/cases/<number>/start")
@documented(
    "开始处置",
    tag="处置小组",
    response_model=StaffCaseOut,
    errors=TRANSITION_ERRORS,
    parameters=[NUMBER_PARAM],
)
def start(number: str) -> ResponseReturnValue:
    """Move an accepted case to in progress."""
    return jsonify(case_out(start_work(member(), number)))


@blueprint.post("/cases/<number>/notes")
@documented(
    "记录处置进展（可附本案证据；worker_visible 为真时工人可见；contacted_worker 表示已联系工人）",
    tag="处置小组",
    request_model=NoteIn,
    response_model=EventOut,
    status=201,
    errors={
        409: ("案件尚未接收或已结束", ["not_in_progress", "stale_data"]),
        422: ("进展为空，或证据不属于本案", ["note_required", "evidence_not_found"]),
    },
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
    "上传处置材料或支付凭证（图片或 PDF；multipart 字段 file，或以文件内容为请求体）",
    tag="处置小组",
    response_model=EvidenceBriefOut,
    status=201,
    parameters=[NUMBER_PARAM],
    requestBody=UPLOAD_REQUEST_BODY,
    errors={
        409: ("案件已结束", ["case_closed"]),
        413: ("文件过大：details.max_bytes", ["evidence_too_large"]),
        415: ("不是 JPG/PNG/WebP/PDF", ["evidence_type_unsupported"]),
        422: ("没有文件", ["evidence_empty"]),
    },
)
def upload_evidence(number: str) -> ResponseReturnValue:
    """Attach a file (e.g. proof of payment) to one of the team's cases."""
    actor = member()
    case = get_case_by_number(actor, number)
    evidence = store_evidence(case.id, actor, read_upload())
    return jsonify(evidence_out(evidence).model_dump(mode="json")), 201


@blueprint.post("/cases/<number>/resolve")
@documented(
    "办结：全额支付、部分支付、分期支付、移交劳动监察/劳动仲裁/法院、不属实；支付类须附本案支付凭证和每名工人实付金额",
    tag="处置小组",
    request_model=ResolutionIn,
    response_model=StaffCaseOut,
    description=RESOLUTION_RULES,
    errors={
        409: ("案件当前状态不能办结", ["invalid_transition", "stale_data"]),
        422: (
            "办结条件不满足",
            [
                "proof_required",
                "payments_required",
                "instalments_required",
                "summary_required",
                "evidence_not_found",
                "outcome_required",
            ],
        ),
    },
    parameters=[NUMBER_PARAM],
)
def resolve(number: str) -> ResponseReturnValue:
    """Resolve a case with its outcome."""
    actor = member()
    body = parse_body(ResolutionIn)
    return jsonify(case_out(resolve_case(actor, number, body)))
