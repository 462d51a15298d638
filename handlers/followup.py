"""回访 for the worker: confirm or dispute a resolution and rate the handling."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from handlers.api import current_actor, documented, parse_body
from wagedispute.handling.followup import confirm_resolution, dispute_resolution, rate_case
from wagedispute.intake.complaints import case_summary
from wagedispute.models import Role
from wagedispute.platform.validation import SafeText, WholeNumber

blueprint = Blueprint("followup", __name__, url_prefix="/api/v1/complaints")

NUMBER_PARAM = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}


class ConfirmIn(BaseModel):
    """The worker accepts the outcome, optionally rating it 1–5."""

    model_config = ConfigDict(extra="forbid")
    score: WholeNumber | None = Field(default=None, ge=1, le=5)
    comment: SafeText | None = Field(default=None, max_length=500)


class DisputeIn(BaseModel):
    """What the worker disputes; the case goes back and the bureau is told."""

    model_config = ConfigDict(extra="forbid")
    reason: SafeText = Field(min_length=1, max_length=1000)
    score: WholeNumber | None = Field(default=None, ge=1, le=5)
    comment: SafeText | None = Field(default=None, max_length=500)


class RatingIn(BaseModel):
    """A 1–5 rating of the handling, once per case."""

    model_config = ConfigDict(extra="forbid")
    score: WholeNumber = Field(ge=1, le=5)
    comment: SafeText | None = Field(default=None, max_length=500)


class FollowupCaseOut(BaseModel):
    """The case after the worker's answer."""

    number: str
    status: str
    status_label: str
    site_name: str
    workers_affected: int
    amount_owed_fen: int
    created_at: str


class RatingOut(BaseModel):
    """The recorded rating."""

    number: str
    score: int
    comment: str | None


def complainant():
    """The signed-in worker (other roles: 404)."""
    return current_actor(Role.COMPLAINANT)


@blueprint.post("/<number>/confirm")
@documented(
    "确认处置结果（结案），可同时评分",
    tag="工人",
    request_model=ConfirmIn,
    response_model=FollowupCaseOut,
    errors={
        409: (
            "案件当前不是“已办结待确认”，或已评价过",
            ["invalid_transition", "already_rated", "not_resolved"],
        ),
    },
    parameters=[NUMBER_PARAM],
)
def confirm(number: str) -> ResponseReturnValue:
    """The worker confirms the resolution."""
    actor = complainant()
    body = parse_body(ConfirmIn)
    case = confirm_resolution(actor, number, score=body.score, comment=body.comment)
    return jsonify(case_summary(case))


@blueprint.post("/<number>/dispute")
@documented(
    "对处置结果有异议（须填写原因）：案件重新打开并转区信访局督办",
    tag="工人",
    request_model=DisputeIn,
    response_model=FollowupCaseOut,
    errors={
        409: (
            "案件当前不是“已办结待确认”，或已评价过",
            ["invalid_transition", "already_rated", "not_resolved"],
        ),
    },
    parameters=[NUMBER_PARAM],
)
def dispute(number: str) -> ResponseReturnValue:
    """The worker disputes the resolution."""
    actor = complainant()
    body = parse_body(DisputeIn)
    case = dispute_resolution(actor, number, body.reason, score=body.score, comment=body.comment)
    return jsonify(case_summary(case))


@blueprint.post("/<number>/rating")
@documented(
    "评价处置工作（1–5分，每件案件一次）",
    tag="工人",
    request_model=RatingIn,
    response_model=RatingOut,
    status=201,
    errors={
        409: (
            "案件当前不是“已办结待确认”，或已评价过",
            ["invalid_transition", "already_rated", "not_resolved"],
        ),
    },
    parameters=[NUMBER_PARAM],
)
def rating(number: str) -> ResponseReturnValue:
    """The worker rates the handling."""
    actor = complainant()
    body = parse_body(RatingIn)
    event = rate_case(actor, number, body.score, body.comment)
    out = RatingOut(number=number, score=event.data["score"], comment=event.data.get("comment"))
    return jsonify(out.model_dump()), 201
