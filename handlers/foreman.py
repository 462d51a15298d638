"""The foreman's mini-program API under ``/api/v1/foreman/``, and staff sign-in with binding.

A token of any other role on these routes answers 404, as an out-of-scope case would.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from handlers.api import current_actor, documented, parse_body
from handlers.miniprogram import CURSOR_ERRORS, CURSOR_PARAMS, page_args
from wagedispute.access.binding import sign_in_foreman_or_team_member
from wagedispute.access.tokens import issue_token
from wagedispute.handling.followup import undelivered_for
from wagedispute.handling.foreman import (
    CaseDetail,
    QueueItem,
    dispatch_case,
    dispatch_warning,
    dispatched_cases,
    handling_case_detail,
    merge_case,
    page_foreman_queue,
    reject_case,
    set_urgency,
    split_case,
    suggested_team_for,
    team_choices,
)
from wagedispute.models import Case, CaseEvent, DisposalTeam, DisputeGroup, Evidence, Role, Urgency
from wagedispute.platform.ratelimit import check_rate
from wagedispute.platform.timekeeping import district_iso
from wagedispute.platform.validation import DbId, SafeText

blueprint = Blueprint("foreman", __name__, url_prefix="/api/v1/foreman")
session_blueprint = Blueprint("staff_session", __name__, url_prefix="/api/v1")

NUMBER_PARAM = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
# Binding codes are short: a per-address limit makes guessing one hopeless.
STAFF_SESSION_PER_MINUTE = 10


# -- models ---------------------------------------------------------------------------------


class StaffSessionIn(BaseModel):
    """``wx.login`` code, plus the binding code from the bureau on the first sign-in."""

    model_config = ConfigDict(extra="forbid")
    code: SafeText = Field(min_length=1, max_length=128)
    binding_code: SafeText | None = Field(default=None, max_length=32)


class StaffSessionOut(BaseModel):
    """Our bearer token and who it belongs to."""

    token: str
    expires_in: int
    role: str
    name: str
    street: str
    team: str | None
    newly_bound: bool


class TeamOut(BaseModel):
    """A disposal team."""

    id: int
    name: str
    street_id: int
    street_name: str


class TeamChoiceOut(TeamOut):
    """A team to dispatch to, with its load and whether WeChat can reach anyone in it."""

    open_cases: int = Field(description="在办案件数")
    notifiable_members: int = Field(
        description="已绑定微信、能收到分派提醒的成员数；为 0 时分派后须电话通知"
    )


class TeamListOut(BaseModel):
    """Teams a case can be dispatched to, by street."""

    teams: list[TeamChoiceOut]
    next_cursor: str | None = Field(description="下一页的 cursor；为空表示没有更多")


class GroupOut(BaseModel):
    """A dispute group with its live totals."""

    id: int
    title: str
    case_count: int
    workers_total: int
    amount_total_fen: int


class StaffCaseOut(BaseModel):
    """A case as the foreman and the team see it in a list."""

    number: str = Field(description="案件编号", examples=["YT-2026-000123"])
    status: str
    status_label: str = Field(examples=["已受理"])
    channel: str = Field(description="miniprogram 小程序，web 网页，phone 电话，import 转办")
    site_name: str = Field(examples=["海景花园二期工地"])
    site_address: str | None
    workers_affected: int = Field(examples=[12])
    amount_owed_fen: int = Field(description="欠薪金额（分）", examples=[36000000])
    urgency: str = Field(description="现行紧急程度：已确认的，否则为系统建议")
    urgency_label: str = Field(examples=["特急"])
    urgency_suggested: str = Field(description="系统建议的紧急程度")
    urgency_reasons: list[str] = Field(
        description="建议的理由（中文）", examples=[["涉及工人 12 人（≥10 人）"]]
    )
    urgency_confirmed: str | None = Field(description="工长确认的紧急程度；为空即尚未确认")
    team: TeamOut | None
    group: GroupOut | None
    outcome: str | None
    flagged_to_bureau: bool = Field(description="已转区信访局督办（工人有异议，或超时三级）")
    created_at: str = Field(
        description="北京时间，ISO 8601", examples=["2026-12-05T09:00:00+08:00"]
    )
    dispatched_at: str | None
    accepted_at: str | None
    first_contact_at: str | None
    resolved_at: str | None
    dispatch_due_at: str | None = Field(description="须分派的时限（北京时间）")
    accept_due_at: str | None = Field(description="须接收的时限")
    contact_due_at: str | None = Field(description="须首次联系工人的时限")
    resolve_due_at: str | None = Field(description="须办结的时限")
    clock_paused_at: str | None = Field(description="时限暂停（等待工人）的起始时间；为空即未暂停")


class QueueItemOut(StaffCaseOut):
    """A lead waiting for the foreman, with the team the system suggests."""

    suggested_team: TeamOut | None
    dispatch_warning: str | None = Field(
        default=None, description="建议的小组无人能收到微信提醒时的提示（分派后须电话通知）"
    )


class UndeliveredOut(BaseModel):
    """A message that reached nobody: the foreman can phone the person instead."""

    case_number: str
    recipient_role: str
    recipient_label: str
    channel: str
    channel_label: str
    template: str
    reason: str = Field(description="not_bound, no_consent, subscription_refused, sms_off, …")
    reason_label: str
    at: str


class UndeliveredListOut(BaseModel):
    """Messages about the foreman's cases that reached nobody, newest first."""

    messages: list[UndeliveredOut]


class QueueOut(BaseModel):
    """The foreman's queue: most urgent first, then oldest first."""

    cases: list[QueueItemOut]
    next_cursor: str | None = Field(description="下一页的 cursor；为空表示没有更多")


class DispatchedOut(BaseModel):
    """The foreman's dispatched cases still being handled, with their clocks."""

    cases: list[StaffCaseOut]
    next_cursor: str | None = Field(description="下一页的 cursor；为空表示没有更多")


class EventOut(BaseModel):
    """One audit row."""

    id: int
    kind: str
    kind_label: str = Field(description="记录类型的中文名称")
    from_status: str | None
    to_status: str | None
    actor_role: str
    data: dict[str, Any]
    worker_visible: bool
    at: str


class EvidenceBriefOut(BaseModel):
    """An evidence file attached to the case (fetch it by id)."""

    id: int
    content_type: str
    size_bytes: int
    uploaded_by_role: str
    at: str


class StaffCaseDetailOut(StaffCaseOut):
    """One case with its whole audit trail and evidence list."""

    description: str
    employers: list[dict[str, Any]]
    period_start: str | None
    period_end: str | None
    complainant_mobile_masked: str | None
    outcome_data: dict[str, Any]
    events: list[EventOut]
    evidence: list[EvidenceBriefOut]
    duplicate_of: str | None = Field(
        default=None, description="同一工人对同一工地的较早投诉（疑似重复，可合并）"
    )
    intake_flags: list[dict[str, Any]] = Field(
        default_factory=list, description="投诉时未通过校验、照原样保存待核实的补充信息"
    )
    followup_call_due_at: str | None = Field(
        default=None, description="处置结果未通知到工人时，电话回访的截止时间"
    )


class ForemanCaseDetailOut(StaffCaseDetailOut):
    """The foreman's view of one case, with the team the system suggests."""

    suggested_team: TeamOut | None
    dispatch_warning: str | None = Field(
        default=None, description="建议的小组无人能收到微信提醒时的提示（分派后须电话通知）"
    )
    undelivered: list[UndeliveredOut] = Field(
        default_factory=list, description="本案未能送达的消息"
    )


class UrgencyIn(BaseModel):
    """Confirm the suggested level, or override it (a reason is then required)."""

    model_config = ConfigDict(extra="forbid")
    urgency: Urgency
    reason: SafeText | None = Field(default=None, max_length=500)


class DispatchIn(BaseModel):
    """Dispatch to a team; ``urgency`` confirms or overrides the level on the way."""

    model_config = ConfigDict(extra="forbid")
    team_id: DbId
    urgency: Urgency | None = None
    urgency_reason: SafeText | None = Field(default=None, max_length=500)
    note: SafeText | None = Field(default=None, max_length=500)


class RejectIn(BaseModel):
    """Why the lead is not taken, and where the worker should turn instead."""

    model_config = ConfigDict(extra="forbid")
    reason: SafeText = Field(min_length=1, max_length=500)
    referral: SafeText | None = Field(default=None, max_length=200)


class MergeIn(BaseModel):
    """The case whose dispute group this case joins."""

    model_config = ConfigDict(extra="forbid")
    into: SafeText = Field(min_length=1, max_length=32)


# -- serializers ----------------------------------------------------------------------------


def team_out(team: DisposalTeam | None) -> TeamOut | None:
    """A team for the API."""
    if team is None:
        return None
    return TeamOut(
        id=team.id, name=team.name, street_id=team.street_id, street_name=team.street.name
    )


def group_out(group: DisputeGroup | None) -> GroupOut | None:
    """A group with its totals."""
    if group is None:
        return None
    return GroupOut(
        id=group.id,
        title=group.title,
        case_count=group.case_count,
        workers_total=group.workers_total,
        amount_total_fen=group.amount_total_fen,
    )


def case_fields(case: Case) -> dict[str, Any]:
    """The list fields of a case."""
    return {
        "number": case.number,
        "status": case.status.value,
        "status_label": case.status.label,
        "channel": case.channel.value,
        "site_name": case.site_name,
        "site_address": case.site_address,
        "workers_affected": case.workers_affected,
        "amount_owed_fen": case.amount_owed_fen,
        "urgency": case.urgency.value,
        "urgency_label": case.urgency.label,
        "urgency_suggested": case.urgency_suggested.value,
        "urgency_reasons": list(case.urgency_reasons or []),
        "urgency_confirmed": case.urgency_confirmed.value if case.urgency_confirmed else None,
        "team": team_out(case.team),
        "group": group_out(case.group),
        "outcome": case.outcome.value if case.outcome else None,
        "flagged_to_bureau": case.flagged_to_bureau,
        "created_at": district_iso(case.created_at),
        "dispatched_at": district_iso(case.dispatched_at),
        "accepted_at": district_iso(case.accepted_at),
        "first_contact_at": district_iso(case.first_contact_at),
        "resolved_at": district_iso(case.resolved_at),
        "dispatch_due_at": district_iso(case.dispatch_due_at),
        "accept_due_at": district_iso(case.accept_due_at),
        "contact_due_at": district_iso(case.contact_due_at),
        "resolve_due_at": district_iso(case.resolve_due_at),
        "clock_paused_at": district_iso(case.clock_paused_at),
    }


def case_out(case: Case) -> dict[str, Any]:
    """A case in a list, as JSON."""
    return StaffCaseOut(**case_fields(case)).model_dump(mode="json")


def event_out(event: CaseEvent) -> EventOut:
    """An audit row for the API."""
    return EventOut(
        id=event.id,
        kind=event.kind.value,
        kind_label=event.kind.label,
        from_status=event.from_status.value if event.from_status else None,
        to_status=event.to_status.value if event.to_status else None,
        actor_role=event.actor_role.value,
        data=dict(event.data or {}),
        worker_visible=event.worker_visible,
        at=district_iso(event.created_at),
    )


def evidence_out(evidence: Evidence) -> EvidenceBriefOut:
    """An evidence entry for the API."""
    return EvidenceBriefOut(
        id=evidence.id,
        content_type=evidence.content_type,
        size_bytes=evidence.size_bytes,
        uploaded_by_role=evidence.uploaded_by_role.value,
        at=district_iso(evidence.created_at),
    )


def detail_out(detail: CaseDetail) -> dict[str, Any]:
    """One case with events and evidence, as JSON."""
    case = detail.case
    out = StaffCaseDetailOut(
        **case_fields(case),
        description=case.description,
        employers=list(case.employers or []),
        period_start=case.period_start.isoformat() if case.period_start else None,
        period_end=case.period_end.isoformat() if case.period_end else None,
        complainant_mobile_masked=case.complainant.mobile_masked if case.complainant else None,
        outcome_data=dict(case.outcome_data or {}),
        events=[event_out(e) for e in detail.events],
        evidence=[evidence_out(e) for e in detail.evidence],
        duplicate_of=case.duplicate_of.number if case.duplicate_of else None,
        # An ID number kept for checking stays encrypted: only the field and the problem show.
        intake_flags=[
            {k: v for k, v in flag.items() if k != "value_encrypted"}
            for flag in case.intake_flags or []
        ],
        followup_call_due_at=district_iso(case.followup_call_due_at),
    )
    return out.model_dump(mode="json")


def queue_item_out(item: QueueItem) -> dict[str, Any]:
    """A queue entry, as JSON."""
    return QueueItemOut(
        **case_fields(item.case),
        suggested_team=team_out(item.suggested_team),
        dispatch_warning=item.dispatch_warning,
    ).model_dump(mode="json")


def foreman() -> Any:
    """The signed-in foreman (other roles: 404)."""
    return current_actor(Role.FOREMAN)


# -- staff sign-in --------------------------------------------------------------------------


@session_blueprint.post("/staff-session")
@documented(
    "工长、处置小组成员登录：wx.login 的 code；首次登录另附区信访局发放的一次性绑定码",
    tag="登录",
    request_model=StaffSessionIn,
    response_model=StaffSessionOut,
    auth=False,
    errors={
        401: ("微信登录 code 无效，或该微信尚未绑定", ["wechat_code_invalid", "binding_required"]),
        403: ("账号已停用", ["account_disabled"]),
        409: ("该微信已绑定其他人员", ["openid_already_bound"]),
        422: (
            "绑定码无效、已使用或已过期",
            ["binding_code_invalid", "binding_code_used", "binding_code_expired"],
        ),
        429: ("请求过于频繁", ["rate_limited", "wechat_rate_limited"]),
    },
)
def staff_session() -> ResponseReturnValue:
    """Exchange a wx.login code (and, once, a binding code) for a bearer token."""
    check_rate(f"staff-session:{request.remote_addr}", STAFF_SESSION_PER_MINUTE)
    body = parse_body(StaffSessionIn)
    member = sign_in_foreman_or_team_member(body.code, body.binding_code)
    out = StaffSessionOut(
        token=issue_token(member.actor),
        expires_in=int(current_app.config["TOKEN_TTL_SECONDS"]),
        role=member.actor.role.value,
        name=member.name,
        street=member.street_name,
        team=member.team_name,
        newly_bound=member.newly_bound,
    )
    return jsonify(out.model_dump())


# -- foreman --------------------------------------------------------------------------------


@blueprint.get("/queue")
@documented(
    "待处理线索（新受理、被退回、被重新打开）：特急、紧急、一般，同级按时间先后；含建议紧急程度、理由和建议处置小组",
    tag="工长",
    response_model=QueueOut,
    parameters=CURSOR_PARAMS,
    errors={404: ("非工长身份的令牌", ["not_found"]), **CURSOR_ERRORS},
)
def queue() -> ResponseReturnValue:
    """The foreman's leads, most urgent first, a page at a time."""
    actor = foreman()
    cursor, limit = page_args()
    page = page_foreman_queue(actor, cursor, limit)
    return jsonify(
        cases=[queue_item_out(item) for item in page.items], next_cursor=page.next_cursor
    )


@blueprint.get("/dispatched")
@documented(
    "我分派出去、仍在处置或待工人确认的案件：最急的、等得最久的在前，含各时限",
    tag="工长",
    response_model=DispatchedOut,
    parameters=CURSOR_PARAMS,
    errors={404: ("非工长身份的令牌", ["not_found"]), **CURSOR_ERRORS},
)
def dispatched() -> ResponseReturnValue:
    """Follow what the foreman dispatched."""
    actor = foreman()
    cursor, limit = page_args()
    page = dispatched_cases(actor, cursor, limit)
    return jsonify(cases=[case_out(c) for c in page.items], next_cursor=page.next_cursor)


@blueprint.get("/undelivered")
@documented(
    "我的案件中未能送达的消息（未绑定微信、未订阅、微信或短信拒收）：请改为电话告知",
    tag="工长",
    response_model=UndeliveredListOut,
    errors={404: ("非工长身份的令牌", ["not_found"])},
)
def undelivered() -> ResponseReturnValue:
    """Messages about the foreman's cases that reached nobody."""
    return jsonify(messages=undelivered_for(foreman()))


@blueprint.get("/teams")
@documented(
    "可分派的处置小组（按街道），含在办案件数和能收到微信提醒的成员数",
    tag="工长",
    response_model=TeamListOut,
    parameters=CURSOR_PARAMS,
    errors={404: ("非工长身份的令牌", ["not_found"]), **CURSOR_ERRORS},
)
def teams() -> ResponseReturnValue:
    """Active disposal teams, by street, with load and reachable members, a page at a time."""
    foreman()
    cursor, limit = page_args()
    page = team_choices(cursor, limit)
    out = [
        TeamChoiceOut(
            **team_out(choice.team).model_dump(),
            open_cases=choice.open_cases,
            notifiable_members=choice.notifiable_members,
        ).model_dump()
        for choice in page.items
    ]
    return jsonify(teams=out, next_cursor=page.next_cursor)


@blueprint.get("/cases/<number>")
@documented(
    "案件详情（全部记录和证据，含建议的处置小组）",
    tag="工长",
    response_model=ForemanCaseDetailOut,
    parameters=[NUMBER_PARAM],
)
def show_case(number: str) -> ResponseReturnValue:
    """One of the foreman's cases, with the suggested team."""
    actor = foreman()
    detail = handling_case_detail(actor, number)
    out = detail_out(detail)
    team = suggested_team_for(actor, number)
    suggested = team_out(team)
    out["suggested_team"] = suggested.model_dump() if suggested else None
    out["dispatch_warning"] = dispatch_warning(team)
    out["undelivered"] = undelivered_for(actor, detail.case.id)
    return jsonify(out)


@blueprint.post("/cases/<number>/urgency")
@documented(
    "确认或调整紧急程度（与系统建议不同须填写原因，记入案件记录）",
    tag="工长",
    request_model=UrgencyIn,
    response_model=StaffCaseOut,
    errors={
        409: ("案件已分派，不能再改紧急程度", ["not_in_triage", "stale_data"]),
        422: ("与系统建议不同须填写原因", ["reason_required"]),
    },
    parameters=[NUMBER_PARAM],
)
def urgency(number: str) -> ResponseReturnValue:
    """Confirm or override the urgency."""
    actor = foreman()
    body = parse_body(UrgencyIn)
    return jsonify(case_out(set_urgency(actor, number, body.urgency, body.reason)))


@blueprint.post("/cases/<number>/dispatch")
@documented(
    "分派给处置小组（新线索、被退回或重新打开的案件；可同时确认或调整紧急程度）",
    tag="工长",
    request_model=DispatchIn,
    response_model=StaffCaseOut,
    errors={
        409: ("案件当前状态不能分派", ["invalid_transition", "stale_data"]),
        422: (
            "处置小组不存在或已停用；改动紧急程度须填写原因",
            ["team_not_found", "team_required", "reason_required", "urgency_required"],
        ),
    },
    parameters=[NUMBER_PARAM],
)
def dispatch(number: str) -> ResponseReturnValue:
    """Dispatch a case to a team."""
    actor = foreman()
    body = parse_body(DispatchIn)
    case = dispatch_case(
        actor,
        number,
        body.team_id,
        urgency=body.urgency,
        urgency_reason=body.urgency_reason,
        note=body.note,
    )
    return jsonify(case_out(case))


@blueprint.post("/cases/<number>/reject")
@documented(
    "不予受理（须填写原因，可注明建议工人求助的部门）",
    tag="工长",
    request_model=RejectIn,
    response_model=StaffCaseOut,
    errors={409: ("案件当前状态不能这样处理", ["invalid_transition", "stale_data"])},
    parameters=[NUMBER_PARAM],
)
def reject(number: str) -> ResponseReturnValue:
    """Reject a lead with a reason and a referral."""
    actor = foreman()
    body = parse_body(RejectIn)
    return jsonify(case_out(reject_case(actor, number, body.reason, body.referral)))


@blueprint.post("/cases/<number>/merge")
@documented(
    "并入另一案件所在的纠纷组（合计人数、金额随之更新）",
    tag="工长",
    request_model=MergeIn,
    response_model=GroupOut,
    errors={
        404: ("要并入的案件不存在", ["not_found"]),
        409: ("已在同一纠纷组，或案件已结束", ["already_grouped", "invalid_transition"]),
        422: ("不能与自身合并", ["same_case"]),
    },
    parameters=[NUMBER_PARAM],
)
def merge(number: str) -> ResponseReturnValue:
    """Merge a case into another case's dispute group."""
    actor = foreman()
    body = parse_body(MergeIn)
    return jsonify(group_out(merge_case(actor, number, body.into)).model_dump())


@blueprint.post("/cases/<number>/split")
@documented(
    "从纠纷组中拆出，单独成组",
    tag="工长",
    response_model=GroupOut,
    errors={409: ("案件本来就单独成组", ["not_grouped", "stale_data"])},
    parameters=[NUMBER_PARAM],
)
def split(number: str) -> ResponseReturnValue:
    """Split a case out of its dispute group."""
    return jsonify(group_out(split_case(foreman(), number)).model_dump())
