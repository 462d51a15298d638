"""The letter ladder (提醒函, 督办函, 启动问责建议函): suggest, draft, number, issue, print."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import current_app
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from wagedispute.access.actors import Actor, case_scope, get_case_for, street_scope
from wagedispute.cases.clocks import CLOCK_LABELS, is_working_day, relevant_clock
from wagedispute.cases.numbering import next_letter_number
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    Letter,
    LetterKind,
    LetterStatus,
    Role,
    StaffRole,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from wagedispute.platform.timekeeping import (
    district_text,
    district_today,
    district_year,
    in_district,
)
from wagedispute.supervision.daily_check import require_staff_actor
from wagedispute.supervision.documents import build_pdf, pdf_styles, pdf_table

# Working days the addressee has to reply, per letter kind.
REPLY_WORKING_DAYS = {
    LetterKind.REMINDER: 3,
    LetterKind.SUPERVISION: 5,
    LetterKind.ACCOUNTABILITY: 5,
}
# A clock due within this window earns a reminder.
REMINDER_HORIZON = timedelta(hours=24)
# A letter of the same or a higher rank issued this recently silences the suggestion.
SUGGESTION_QUIET_DAYS = 30

ISSUING_ROLES = frozenset({StaffRole.DISTRICT_ADMIN, StaffRole.DISTRICT_SUPERVISOR})

# ---------------------------------------------------------------------------------------------
# Working days
# ---------------------------------------------------------------------------------------------


def working_date_after(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted), on the
    Chinese working-day calendar of the clocks."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


# ---------------------------------------------------------------------------------------------
# Case facts and suggestions
# ---------------------------------------------------------------------------------------------


def cited_clock(case: Case, now: datetime) -> tuple[str, datetime] | None:
    """The clock a letter cites: the breached one, else the one running (none while paused).

    The same clock the escalation ladder looks at (``clocks.relevant_clock``).
    """
    if case.clock_paused_at is not None:
        return None
    return relevant_clock(case, now)


def clock_title(name: str) -> str:
    """分派时限, 接收时限, 首次联系时限, 办结时限."""
    return f"{CLOCK_LABELS[name]}时限"


def days_overdue(case: Case, now: datetime) -> int:
    """Whole days (rounded up) past the deadline of the breached clock; 0 if none is breached."""
    found = cited_clock(case, now)
    if found is None or found[1] >= now:
        return 0
    return math.ceil((now - found[1]).total_seconds() / 86400)


def case_facts(case: Case, now: datetime | None = None) -> dict[str, Any]:
    """The facts a letter is drafted from (no personal data of the worker)."""
    now = now or utcnow()
    employers = [e.get("name", "") for e in (case.employers or []) if e.get("name")]
    due_name, due_at = cited_clock(case, now) or (None, None)
    return {
        "case_number": case.number,
        "site_name": case.site_name,
        "site_address": case.site_address or "",
        "employers": "、".join(employers) or "（未填写）",
        "workers": case.workers_affected,
        "amount_yuan": f"{case.amount_owed_fen / 100:,.2f}",
        "status": case.status.label,
        "urgency": case.urgency.label,
        "street": case.street.name,
        "team": case.team.name if case.team else "",
        "received_on": in_district(case.created_at).date().isoformat(),
        "clock": clock_title(due_name) if due_name else "",
        "due_at": district_text(due_at) if due_at else "",
        "days_overdue": days_overdue(case, now),
        "escalation_level": case.escalation_level,
        "disputed": case.status == CaseStatus.REOPENED or case.flagged_to_bureau,
    }


@dataclass(frozen=True)
class LetterSuggestion:
    """A letter the ladder says is due for a case, and why."""

    case: Case
    kind: LetterKind
    reason: str


def suggested_kind(case: Case, now: datetime) -> tuple[LetterKind, str] | None:
    """Which rung of the ladder a case has reached, with the reason in Chinese."""
    if case.status not in OPEN_STATUSES:
        return None
    if case.status == CaseStatus.REOPENED or case.flagged_to_bureau:
        return LetterKind.ACCOUNTABILITY, "工人对处置结果有异议，已转信访局"
    if case.escalation_level >= 2:
        return LetterKind.ACCOUNTABILITY, "案件已二次超时"
    found = cited_clock(case, now)
    if found is None:
        return None
    name, due = found
    if due < now:
        return LetterKind.SUPERVISION, f"{clock_title(name)}已超期{days_overdue(case, now)}天"
    if due <= now + REMINDER_HORIZON:
        return LetterKind.REMINDER, f"{clock_title(name)}将在24小时内到期"
    return None


def suggest_letters(actor: Actor, *, now: datetime | None = None) -> list[LetterSuggestion]:
    """Cases in scope that have reached a rung of the ladder and have no recent letter for it."""
    require_staff_actor(actor)
    now = now or utcnow()
    horizon = now + REMINDER_HORIZON
    candidates = db.session.scalars(
        sa.select(Case)
        .where(
            case_scope(actor),
            Case.status.in_(OPEN_STATUSES),
            sa.or_(
                Case.escalation_level >= 2,
                Case.status == CaseStatus.REOPENED,
                Case.flagged_to_bureau.is_(True),
                Case.dispatch_due_at <= horizon,
                Case.accept_due_at <= horizon,
                Case.contact_due_at <= horizon,
                Case.resolve_due_at <= horizon,
            ),
        )
        .order_by(Case.id)
        .limit(500)
    ).all()
    if not candidates:
        return []
    recent = db.session.execute(
        sa.select(Letter.case_id, Letter.kind, Letter.status, Letter.issued_at).where(
            Letter.case_id.in_([c.id for c in candidates])
        )
    ).all()
    suggestions = []
    for case in candidates:
        found = suggested_kind(case, now)
        if found is None:
            continue
        kind, reason = found
        silenced = any(
            case_id == case.id
            and LetterKind(k).rank >= kind.rank
            and (
                status != LetterStatus.REPLIED
                or issued_at >= now - timedelta(days=SUGGESTION_QUIET_DAYS)
            )
            for case_id, k, status, issued_at in recent
        )
        if not silenced:
            suggestions.append(LetterSuggestion(case, kind, reason))
    suggestions.sort(key=lambda s: (-s.kind.rank, s.case.id))
    return suggestions


# ---------------------------------------------------------------------------------------------
# Drafting and issuing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterDraft:
    """A letter ready to issue: addressee, body and reply deadline drafted from the case."""

    case: Case
    kind: LetterKind
    addressee: str
    team_id: int | None
    body: str
    reply_due_on: date
    facts: dict[str, Any]


def _addressee(case: Case, to: str) -> tuple[str, int | None]:
    """A team letter goes to the team that holds the case; otherwise to the street's office."""
    if to not in {"auto", "team", "street"}:
        raise InvalidInput("收函单位只能是处置小组或街道", code="bad_addressee")
    if to == "team" and case.team is None:
        raise InvalidInput("该案件尚未分派处置小组，请改为发往街道", code="no_team")
    if to in {"auto", "team"} and case.team is not None:
        return case.team.name, case.team.id
    return f"{case.street.name}办事处", None


def _body(kind: LetterKind, facts: dict[str, Any], addressee: str, reply_due_on: date) -> str:
    """The letter text, in the bureau's usual wording."""
    district = current_app.config["DISTRICT_NAME"]
    summary = (
        f"案件编号：{facts['case_number']}；工地：{facts['site_name']}；"
        f"用工单位：{facts['employers']}；涉及工人：{facts['workers']}人；"
        f"欠薪金额：{facts['amount_yuan']}元；当前状态：{facts['status']}"
    )
    if facts["days_overdue"]:
        summary += f"；{facts['clock']}已超期{facts['days_overdue']}天"
    elif facts["due_at"]:
        summary += f"；{facts['clock']}至{facts['due_at']}"
    summary += "。"
    due = f"{reply_due_on.year}年{reply_due_on.month}月{reply_due_on.day}日"
    reply = f"请于{due}前将办理情况书面回复我局。"
    if kind == LetterKind.REMINDER:
        opening = "我局在日核查中发现，你单位承办的欠薪投诉案件即将超过办理时限，现予提醒。"
        ask = "请加快处置，确保按时化解，依法保障农民工工资支付。"
    elif kind == LetterKind.SUPERVISION:
        opening = "我局在日核查中发现，你单位承办的欠薪投诉案件已超过办理时限，现予督办。"
        ask = "请主要负责同志亲自督促，立即组织处置，按期化解欠薪问题。"
    else:
        why = "工人对处置结果提出异议" if facts["disputed"] else "经提醒、督办后仍多次超时"
        opening = f"你单位承办的欠薪投诉案件{why}，处置不力，存在引发群体性事件的风险。"
        ask = "根据信访工作责任制有关规定，我局建议对相关责任单位和责任人启动问责程序。"
    return f"{addressee}：\n{opening}\n案件基本情况：{summary}\n{ask}{reply}\n{district}信访局"


def draft_letter(
    actor: Actor,
    case_id: int,
    kind: LetterKind,
    *,
    to: str = "auto",
    now: datetime | None = None,
) -> LetterDraft:
    """Draft a letter about a case in scope from its facts; nothing is saved."""
    require_staff_actor(actor)
    now = now or utcnow()
    case = get_case_for(actor, case_id)
    addressee, team_id = _addressee(case, to)
    facts = case_facts(case, now)
    reply_due_on = working_date_after(district_today(now), REPLY_WORKING_DAYS[kind])
    body = _body(kind, facts, addressee, reply_due_on)
    return LetterDraft(case, kind, addressee, team_id, body, reply_due_on, facts)


def issue_letter(
    actor: Actor,
    case_id: int,
    kind: LetterKind,
    *,
    to: str = "auto",
    body: str | None = None,
    now: datetime | None = None,
) -> Letter:
    """Number and issue a letter about a case (district staff only) and record it on the case."""
    require_staff_actor(actor)
    now = now or utcnow()
    with unit_of_work():
        draft = draft_letter(actor, case_id, kind, to=to, now=now)
        if actor.staff_role not in ISSUING_ROLES:
            raise Forbidden("只有区信访局工作人员可以发函")
        if draft.case.status not in OPEN_STATUSES:
            raise Conflict("案件已办结，不能再发函", code="case_not_open")
        text = (body or "").strip() or draft.body
        if len(text) > 5000:
            raise InvalidInput("函件正文不能超过5000字", code="body_too_long")
        year = district_year(now)
        sequence, number = next_letter_number(db.session, kind, year)
        letter = Letter(
            number=number,
            kind=kind,
            year=year,
            sequence=sequence,
            case_id=draft.case.id,
            street_id=draft.case.street_id,
            team_id=draft.team_id,
            addressee=draft.addressee,
            facts=draft.facts,
            body=text,
            issued_by=actor.id,
            issued_at=now,
            reply_due_on=draft.reply_due_on,
        )
        db.session.add(letter)
        db.session.flush()
        db.session.add(
            CaseEvent(
                case_id=draft.case.id,
                kind=EventKind.LETTER,
                actor_role=Role.STAFF,
                actor_id=actor.id,
                data={
                    "letter_id": letter.id,
                    "number": number,
                    "letter_kind": kind.value,
                    "addressee": draft.addressee,
                    "reply_due_on": draft.reply_due_on.isoformat(),
                },
                worker_visible=False,
                created_at=now,
            )
        )
    return letter


def letter_scope(actor: Actor) -> sa.ColumnElement[bool]:
    """The WHERE clause limiting letters to the actor's street (district roles see all)."""
    return street_scope(actor, Letter.street_id)


def get_letter_for(actor: Actor, letter_id: int) -> Letter:
    """One letter in the actor's scope; anything else is "not found"."""
    require_staff_actor(actor)
    letter = db.session.scalars(
        sa.select(Letter).where(Letter.id == letter_id, letter_scope(actor))
    ).one_or_none()
    if letter is None:
        raise NotFound()
    return letter


def list_letters(
    actor: Actor, *, status: LetterStatus | None = None, case_id: int | None = None
) -> list[Letter]:
    """Letters in scope, newest first, optionally by reply status or case."""
    require_staff_actor(actor)
    stmt = sa.select(Letter).where(letter_scope(actor))
    if status is not None:
        stmt = stmt.where(Letter.status == status)
    if case_id is not None:
        stmt = stmt.where(Letter.case_id == case_id)
    return list(db.session.scalars(stmt.order_by(Letter.issued_at.desc(), Letter.id.desc())))


def record_reply(actor: Actor, letter_id: int, text: str, *, now: datetime | None = None) -> Letter:
    """Record the addressee's written reply to a letter (once)."""
    require_staff_actor(actor)
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise InvalidInput("请填写回复内容", code="reply_required")
    if len(text) > 5000:
        raise InvalidInput("回复内容不能超过5000字", code="reply_too_long")
    with unit_of_work():
        letter = get_letter_for(actor, letter_id)
        if letter.status == LetterStatus.REPLIED:
            raise Conflict("该函件已登记回复", code="already_replied")
        late = district_today(now) > letter.reply_due_on
        letter.status = LetterStatus.REPLIED
        letter.reply_text = text
        letter.replied_at = now
        letter.reply_recorded_by = actor.id
        db.session.add(
            CaseEvent(
                case_id=letter.case_id,
                kind=EventKind.LETTER_REPLY,
                actor_role=Role.STAFF,
                actor_id=actor.id,
                data={"letter_id": letter.id, "number": letter.number, "late": late},
                worker_visible=False,
                created_at=now,
            )
        )
    return letter


def mark_overdue_replies(*, now: datetime | None = None) -> int:
    """Mark letters still unanswered after their reply date as overdue; return how many."""
    today = district_today(now)
    with unit_of_work():
        result = db.session.execute(
            sa.update(Letter)
            .where(Letter.status == LetterStatus.AWAITING_REPLY, Letter.reply_due_on < today)
            .values(status=LetterStatus.REPLY_OVERDUE)
        )
    return result.rowcount or 0


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def letter_pdf(letter: Letter) -> bytes:
    """The printable letter: title, number, addressee, body, reply deadline, the case facts."""
    styles = pdf_styles()
    issued = in_district(letter.issued_at).date()
    district = current_app.config["DISTRICT_NAME"]
    lines = letter.body.split("\n")
    story: list[Any] = [
        Paragraph(escape(f"{district}信访局"), styles["title"]),
        Paragraph(escape(letter.kind.label), styles["title"]),
        Paragraph(escape(letter.number), styles["number"]),
        Spacer(1, 8 * mm),
    ]
    if lines:
        story.append(Paragraph(escape(lines[0]), styles["plain"]))
    for line in lines[1:]:
        story.append(Paragraph(escape(line), styles["body"]))
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            escape(f"回复期限：{letter.reply_due_on.isoformat()}（工作日计算）"), styles["plain"]
        ),
        Paragraph(escape(f"{issued.year}年{issued.month}月{issued.day}日"), styles["right"]),
        Spacer(1, 8 * mm),
        Paragraph("附：案件基本情况", styles["heading"]),
    ]
    facts = letter.facts
    rows = [
        ["项目", "内容"],
        ["案件编号", facts.get("case_number", "")],
        ["所属街道", facts.get("street", "")],
        ["工地名称", facts.get("site_name", "")],
        ["用工单位", facts.get("employers", "")],
        ["涉及工人", f"{facts.get('workers', '')}人"],
        ["欠薪金额", f"{facts.get('amount_yuan', '')}元"],
        ["当前状态", facts.get("status", "")],
        ["紧急程度", facts.get("urgency", "")],
        ["超期天数", f"{facts.get('days_overdue', 0)}天"],
    ]
    story.append(pdf_table(rows, [40 * mm, 120 * mm]))
    return build_pdf(f"{letter.kind.label} {letter.number}", story)
