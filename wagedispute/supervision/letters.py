"""The letter ladder (提醒函, 督办函, 启动问责建议函): suggest, draft, number, issue, print."""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qr import find_cjk_font
from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.clocks import is_working_day, relevant_clock
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    Letter,
    LetterKind,
    LetterNumberCounter,
    LetterStatus,
    Role,
    StaffRole,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from wagedispute.supervision.daily_check import local_today, require_staff_actor

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

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

CLOCK_LABELS = {
    "dispatch": "分派时限",
    "accept": "接收时限",
    "contact": "首次联系工人时限",
    "resolve": "办结时限",
}


# ---------------------------------------------------------------------------------------------
# Working days
# ---------------------------------------------------------------------------------------------


def add_working_days(start: date, days: int) -> date:
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
# Numbering
# ---------------------------------------------------------------------------------------------


def format_letter_number(kind: LetterKind, year: int, sequence: int) -> str:
    """盐信督〔2026〕12号."""
    return f"{kind.number_prefix}〔{year}〕{sequence}号"


def next_letter_number(session: Session, kind: LetterKind, year: int) -> tuple[int, str]:
    """Take the next number of the year for a kind inside the caller's transaction.

    The same increment-and-return upsert as case numbers: the row lock is held until the caller
    commits, so concurrent letters never share a number and a rollback gives its number back.
    """
    insert = _INSERTS[session.get_bind().dialect.name]
    stmt = (
        insert(LetterNumberCounter)
        .values(prefix=kind.number_prefix, year=year, value=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"],
            set_={"value": LetterNumberCounter.value + 1},
        )
        .returning(LetterNumberCounter.value)
    )
    sequence = session.execute(stmt).scalar_one()
    return sequence, format_letter_number(kind, year, sequence)


# ---------------------------------------------------------------------------------------------
# Case facts and suggestions
# ---------------------------------------------------------------------------------------------


def pending_clocks(case: Case) -> list[tuple[str, datetime]]:
    """The deadline the case currently runs against, as the clocks see it (none while paused)."""
    if case.clock_paused_at is not None or case.status not in OPEN_STATUSES:
        return []
    found = relevant_clock(case)
    return [found] if found is not None else []


def days_overdue(case: Case, now: datetime) -> int:
    """Whole days (rounded up) past the earliest running deadline; 0 if none is past."""
    clocks = pending_clocks(case)
    if not clocks or clocks[0][1] >= now:
        return 0
    return math.ceil((now - clocks[0][1]).total_seconds() / 86400)


def case_facts(case: Case, now: datetime | None = None) -> dict[str, Any]:
    """The facts a letter is drafted from (no personal data of the worker)."""
    now = now or utcnow()
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    clocks = pending_clocks(case)
    employers = [e.get("name", "") for e in (case.employers or []) if e.get("name")]
    due_name, due_at = clocks[0] if clocks else (None, None)
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
        "received_on": case.created_at.astimezone(tz).date().isoformat(),
        "clock": CLOCK_LABELS[due_name] if due_name else "",
        "due_at": due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if due_at else "",
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
    clocks = pending_clocks(case)
    if not clocks:
        return None
    name, due = clocks[0]
    if due < now:
        return LetterKind.SUPERVISION, f"{CLOCK_LABELS[name]}已超期{days_overdue(case, now)}天"
    if due <= now + REMINDER_HORIZON:
        return LetterKind.REMINDER, f"{CLOCK_LABELS[name]}将在24小时内到期"
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
    reply_due_on = add_working_days(local_today(now), REPLY_WORKING_DAYS[kind])
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
        year = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).year
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
                kind="letter",
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
    if actor.role == Role.STAFF and actor.staff_role == StaffRole.STREET_STAFF:
        return Letter.street_id == actor.street_id
    if actor.role in {Role.STAFF, Role.SYSTEM}:
        return sa.true()
    return sa.false()


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
        late = local_today(now) > letter.reply_due_on
        letter.status = LetterStatus.REPLIED
        letter.reply_text = text
        letter.replied_at = now
        letter.reply_recorded_by = actor.id
        db.session.add(
            CaseEvent(
                case_id=letter.case_id,
                kind="letter_reply",
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
    today = local_today(now)
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

_FONT_LOCK = threading.Lock()
_FONT_NAMES: dict[str, str] = {}


def cjk_font_name() -> str:
    """Register the configured (or found) CJK TrueType font with reportlab; return its name.

    A registered TrueType font is embedded as a subset, so the PDF reads everywhere.
    """
    path = str(find_cjk_font(current_app.config["CJK_FONT_PATH"] or None))
    with _FONT_LOCK:
        if path not in _FONT_NAMES:
            name = f"WageCJK{len(_FONT_NAMES)}"
            pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
            _FONT_NAMES[path] = name
        return _FONT_NAMES[path]


def pdf_styles() -> dict[str, ParagraphStyle]:
    """Paragraph styles in the CJK font, wrapping Chinese text anywhere."""
    font = cjk_font_name()
    base = {"fontName": font, "wordWrap": "CJK"}
    return {
        "title": ParagraphStyle("title", fontSize=20, leading=30, alignment=TA_CENTER, **base),
        "number": ParagraphStyle("number", fontSize=12, leading=20, alignment=TA_CENTER, **base),
        "body": ParagraphStyle("body", fontSize=12, leading=22, firstLineIndent=24, **base),
        "plain": ParagraphStyle("plain", fontSize=12, leading=22, **base),
        "small": ParagraphStyle("small", fontSize=9, leading=13, **base),
        "right": ParagraphStyle("right", fontSize=12, leading=22, alignment=TA_RIGHT, **base),
        "heading": ParagraphStyle("heading", fontSize=14, leading=24, **base),
    }


def build_pdf(title: str, flowables: list[Any]) -> bytes:
    """An A4 PDF of the given flowables."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=25 * mm,
        topMargin=25 * mm,
        bottomMargin=20 * mm,
        title=title,
        author=f"{current_app.config['DISTRICT_NAME']}信访局",
    )
    doc.build(flowables)
    return buffer.getvalue()


def pdf_table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    """A bordered table of text cells in the CJK font."""
    style = pdf_styles()["small"]
    cells = [[Paragraph(escape(str(cell)), style) for cell in row] for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, "#666666"),
                ("BACKGROUND", (0, 0), (-1, 0), "#eeeeee"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def letter_pdf(letter: Letter) -> bytes:
    """The printable letter: title, number, addressee, body, reply deadline, the case facts."""
    styles = pdf_styles()
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    issued = letter.issued_at.astimezone(tz).date()
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
