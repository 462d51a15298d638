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
from reportlab.platypus import HRFlowable, KeepTogether, PageBreak, Paragraph, Spacer

from wagedispute.access.actors import Actor, case_scope, get_case_for, street_scope
from wagedispute.cases.clocks import CLOCK_LABELS, is_working_day, load_rules, relevant_clock
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
from wagedispute.supervision.documents import (
    OFFICIAL_RED,
    cjk_serif_font_name,
    official_pdf,
    official_styles,
    pdf_table,
)

# Working days the addressee has to reply, per letter kind (shortened to fit a running clock).
REPLY_WORKING_DAYS = {
    LetterKind.REMINDER: 3,
    LetterKind.SUPERVISION: 5,
    LetterKind.ACCOUNTABILITY: 5,
}
# A clock due within this window earns a reminder.
REMINDER_HORIZON = timedelta(hours=24)
# A letter of the same rank, answered, silences the same suggestion for this long.
SUGGESTION_QUIET_DAYS = 30
# Triage signals (labels in intake/triage_rules.json) that put a group event on the table.
GROUP_RISK_SIGNALS = ("聚集、围堵、拉横幅", "扬言堵路、拦车")
# Triage signals worth naming in a letter, as the triage reasons begin.
RISK_SIGNALS = (
    "扬言自伤自杀",
    "扬言暴力、报复",
    "扬言堵路、拦车",
    "聚集、围堵、拉横幅",
    "扬言越级上访、找上级",
    "扬言找媒体、网上曝光",
)
# Office hours in one working day (sla_rules.json: 09:00–12:00, 14:00–18:00).
WORKING_DAY_HOURS = 7

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


def clock_shorter_than_a_working_day(case: Case, name: str) -> bool:
    """Whether the case's clock ``name`` (by its urgency, in the SLA rules) runs under a working
    day: such a clock is supervised by telephone, a letter could not arrive in time."""
    rules = load_rules()
    spec = rules.clocks.get(case.urgency, {}).get(name)
    if spec is None:
        return False
    unit, amount = spec
    day_hours = (
        sum(
            (datetime.combine(date.min, end) - datetime.combine(date.min, start)).total_seconds()
            for start, end in rules.office_hours
        )
        / 3600
    )
    return {
        "minutes": amount < 24 * 60,
        "hours": amount < 24,
        "days": amount < 1,
        "office_hours": amount < day_hours,
        "working_days": amount < 1,
    }[unit]


def risk_signals(case: Case) -> list[str]:
    """The threat and risk signals triage found in the worker's words (labels only)."""
    return [
        label
        for label in RISK_SIGNALS
        if any(reason.startswith(label) for reason in case.urgency_reasons or [])
    ]


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
        "clock_name": due_name or "",
        "due_at": district_text(due_at) if due_at else "",
        "due_on": in_district(due_at).date().isoformat() if due_at else "",
        "days_overdue": days_overdue(case, now),
        "escalation_level": case.escalation_level,
        "disputed": case.status == CaseStatus.REOPENED or case.flagged_to_bureau,
        "risk_signals": risk_signals(case),
    }


@dataclass(frozen=True)
class LetterSuggestion:
    """A letter (or, for a short clock, a telephone supervision) the ladder says is due."""

    case: Case
    kind: LetterKind | None
    reason: str

    @property
    def by_phone(self) -> bool:
        """The clock is shorter than a working day: supervise by telephone, not by letter."""
        return self.kind is None


@dataclass(frozen=True)
class EarlierLetter:
    """What the ladder needs to know of a letter already issued about the case."""

    number: str
    kind: LetterKind
    status: LetterStatus
    issued_at: datetime
    reply_due_on: date
    replied_at: datetime | None

    def unanswered(self, today: date) -> bool:
        """No reply and the reply period is over."""
        return self.status != LetterStatus.REPLIED and today > self.reply_due_on

    def awaiting(self, today: date) -> bool:
        """No reply yet and the reply period still runs."""
        return self.status != LetterStatus.REPLIED and today <= self.reply_due_on


def earlier_letters(case_ids: list[int]) -> dict[int, list[EarlierLetter]]:
    """The letters already issued about each case, oldest first."""
    found: dict[int, list[EarlierLetter]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return found
    rows = db.session.execute(
        sa.select(
            Letter.case_id,
            Letter.number,
            Letter.kind,
            Letter.status,
            Letter.issued_at,
            Letter.reply_due_on,
            Letter.replied_at,
        )
        .where(Letter.case_id.in_(case_ids))
        .order_by(Letter.issued_at, Letter.id)
    ).all()
    for case_id, *rest in rows:
        number, kind, status, issued_at, reply_due_on, replied_at = rest
        found[case_id].append(
            EarlierLetter(
                number,
                LetterKind(kind),
                LetterStatus(status),
                issued_at,
                reply_due_on,
                replied_at,
            )
        )
    return found


def _facts_rung(case: Case, now: datetime) -> tuple[int, str]:
    """How far up the ladder the facts alone reach (0: nothing due), and why."""
    if case.status == CaseStatus.REOPENED or case.flagged_to_bureau:
        return 3, "工人对处置结果有异议，已转信访局"
    if case.escalation_level >= 2:
        return 3, "案件已二次超时"
    found = cited_clock(case, now)
    if found is None:
        return 0, ""
    name, due = found
    if due < now:
        return 2, f"{clock_title(name)}已超期{days_overdue(case, now)}天"
    if due <= now + REMINDER_HORIZON:
        return 1, f"{clock_title(name)}将在24小时内到期"
    return 0, ""


_BY_RANK = {kind.rank: kind for kind in LetterKind}


def suggested_kind(
    case: Case, now: datetime, earlier: list[EarlierLetter] | None = None
) -> tuple[LetterKind | None, str] | None:
    """The next rung of the ladder for a case, with the reason in Chinese; ``None`` if none.

    The ladder climbs one rung at a time: the first letter is a 提醒函 whatever the facts, and a
    higher rung follows only once the letter below it went unanswered or the facts still call for
    more after its reply. While a letter's reply period runs nothing more is proposed. A kind of
    ``None`` means a telephone supervision: the clock is shorter than a working day.
    """
    if case.status not in OPEN_STATUSES:
        return None
    want, reason = _facts_rung(case, now)
    earlier = earlier or []
    today = district_today(now)
    top = max(earlier, key=lambda e: (e.kind.rank, e.issued_at), default=None)
    if top is not None:
        if top.awaiting(today):
            return None
        if top.unanswered(today):
            want = max(want, top.kind.rank + 1)
            reason = f"{top.kind.label}{top.number}逾期未回复" + (f"，{reason}" if reason else "")
        rank = min(want, top.kind.rank + 1, 3)
        if rank <= 0:
            return None
        if rank <= top.kind.rank:
            quiet = top.issued_at >= now - timedelta(days=SUGGESTION_QUIET_DAYS)
            if quiet or top.status != LetterStatus.REPLIED:
                return None
    else:
        rank = min(want, 1)
        if rank <= 0:
            return None
    clock = cited_clock(case, now)
    if rank == 1 and clock is not None and clock_shorter_than_a_working_day(case, clock[0]):
        return None, f"{reason}（时限不足一个工作日，请电话督办）"
    return _BY_RANK[rank], reason


def suggest_letters(actor: Actor, *, now: datetime | None = None) -> list[LetterSuggestion]:
    """Cases in scope that have reached the next rung of the ladder."""
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
                Case.id.in_(sa.select(Letter.case_id)),
            ),
        )
        .order_by(Case.id)
        .limit(500)
    ).all()
    history = earlier_letters([c.id for c in candidates])
    suggestions = []
    for case in candidates:
        found = suggested_kind(case, now, history[case.id])
        if found is not None:
            suggestions.append(LetterSuggestion(case, *found))
    suggestions.sort(key=lambda s: (-(s.kind.rank if s.kind else 0), s.case.id))
    return suggestions


def record_phone_supervision(
    actor: Actor, case_id: int, text: str, *, now: datetime | None = None
) -> CaseEvent:
    """Record a telephone supervision (电话督办) of the street about a case on a short clock."""
    require_staff_actor(actor)
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise InvalidInput("请填写电话督办情况（联系了谁、对方答复）", code="note_required")
    if len(text) > 2000:
        raise InvalidInput("电话督办记录不能超过2000字", code="note_too_long")
    with unit_of_work():
        case = get_case_for(actor, case_id)
        if actor.staff_role not in ISSUING_ROLES:
            raise Forbidden("只有区信访局工作人员可以督办")
        event = CaseEvent(
            case_id=case.id,
            kind=EventKind.NOTE,
            actor_role=Role.STAFF,
            actor_id=actor.id,
            data={"text": f"电话督办：{text}", "phone_supervision": True},
            worker_visible=False,
            created_at=now,
        )
        db.session.add(event)
    return event


# ---------------------------------------------------------------------------------------------
# Drafting and issuing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterDraft:
    """A letter ready to issue: addressee, title, body and reply deadline drafted from the case."""

    case: Case
    kind: LetterKind
    addressee: str
    team_id: int | None
    title: str
    body: str
    reply_due_on: date
    facts: dict[str, Any]
    # Set when the chosen kind skips a rung of the ladder or the clock is too short for a letter.
    warning: str = ""


def street_office(case: Case) -> str:
    """The 主送机关 of every letter: the street office (街道办事处) of the case's street."""
    name = case.street.name
    return name if name.endswith("办事处") else f"{name}办事处"


def letter_title(kind: LetterKind, facts: dict[str, Any]) -> str:
    """关于督促办理某工地欠薪投诉案件的督办函."""
    verb = {
        LetterKind.REMINDER: "加快办理",
        LetterKind.SUPERVISION: "督促办理",
        LetterKind.ACCOUNTABILITY: "对",
    }[kind]
    if kind == LetterKind.ACCOUNTABILITY:
        return f"关于{verb}{facts['site_name']}欠薪投诉案件处置不力启动问责的建议函"
    return f"关于{verb}{facts['site_name']}欠薪投诉案件的{kind.label}"


def _cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def reply_due(kind: LetterKind, facts: dict[str, Any], today: date) -> date:
    """The reply date: the kind's working days, but not after a clock still running."""
    due = working_date_after(today, REPLY_WORKING_DAYS[kind])
    if facts["due_on"] and not facts["days_overdue"]:
        # Asking for a reply after the deadline has passed would let the clock run out unasked.
        clock_day = date.fromisoformat(facts["due_on"])
        due = min(due, max(clock_day, working_date_after(today, 1)))
    return due


def _body(
    kind: LetterKind, facts: dict[str, Any], earlier: list[EarlierLetter], reply_due_on: date
) -> str:
    """The letter's body paragraphs (one a line), worded from the facts of the case."""
    received = date.fromisoformat(facts["received_on"])
    paragraphs = [
        f"{_cn_date(received)}，我局受理{facts['workers']}名务工人员反映"
        f"{facts['site_name']}（用工单位：{facts['employers']}）拖欠工资"
        f"{facts['amount_yuan']}元的投诉（案件编号：{facts['case_number']}），"
        f"已交你街道办理，目前案件状态为“{facts['status']}”。"
    ]
    if facts["days_overdue"]:
        paragraphs.append(
            f"经日核查，该案{facts['clock']}已于{facts['due_at']}届满，"
            f"至今超期{facts['days_overdue']}天。"
        )
    elif facts["due_at"]:
        paragraphs.append(f"该案{facts['clock']}将于{facts['due_at']}届满。")
    for letter in (e for e in earlier if e.kind.rank <= kind.rank):
        issued = in_district(letter.issued_at).date()
        said = f"我局已于{_cn_date(issued)}发出{letter.kind.label}（{letter.number}）"
        if letter.status == LetterStatus.REPLIED and letter.replied_at is not None:
            replied = in_district(letter.replied_at).date()
            paragraphs.append(f"{said}，你单位于{_cn_date(replied)}回复，但问题至今未解决。")
        else:
            paragraphs.append(
                f"{said}，要求于{_cn_date(letter.reply_due_on)}前书面回复，你单位至今未回复。"
            )
    if facts["disputed"]:
        paragraphs.append("工人对处置结果提出异议，案件已转我局。")
    signals = facts.get("risk_signals") or []
    if signals:
        risk = f"投诉人在反映中有{'、'.join(signals)}等表述"
        if any(signal in GROUP_RISK_SIGNALS for signal in signals):
            risk += "，存在引发群体性事件的风险"
        paragraphs.append(risk + "，请高度重视，做好稳控工作。")
    if kind == LetterKind.REMINDER:
        paragraphs.append("现予提醒，请加快处置，按时化解，依法保障农民工工资支付。")
    elif kind == LetterKind.SUPERVISION:
        paragraphs.append(
            "现予督办，请你单位主要负责同志亲自督促，立即组织处置，按期化解欠薪问题。"
        )
    else:
        paragraphs.append(
            "根据信访工作责任制有关规定，我局建议对相关责任单位和责任人启动问责程序。"
        )
    paragraphs.append(f"请于{_cn_date(reply_due_on)}前将办理情况书面回复我局。")
    return "\n".join(paragraphs)


def _skip_warning(kind: LetterKind, case: Case, earlier: list[EarlierLetter], now: datetime) -> str:
    """Why the chosen kind is not the ladder's next rung (empty if it is)."""
    top_rank = max((e.kind.rank for e in earlier), default=0)
    if kind.rank > top_rank + 1:
        below = _BY_RANK[kind.rank - 1].label
        return f"该案件尚未发出{below}，{kind.label}越过了一级，请确认。"
    clock = cited_clock(case, now)
    if clock is not None and clock_shorter_than_a_working_day(case, clock[0]):
        return "该案件时限不足一个工作日，函件回复期限赶不上时限，建议电话督办。"
    return ""


def draft_letter(
    actor: Actor,
    case_id: int,
    kind: LetterKind | None = None,
    *,
    now: datetime | None = None,
) -> LetterDraft:
    """Draft a letter about a case in scope from its facts (default kind: the ladder's next)."""
    require_staff_actor(actor)
    now = now or utcnow()
    case = get_case_for(actor, case_id)
    earlier = earlier_letters([case.id])[case.id]
    if kind is None:
        suggested = suggested_kind(case, now, earlier)
        kind = suggested[0] if suggested and suggested[0] else LetterKind.REMINDER
    facts = case_facts(case, now)
    reply_due_on = reply_due(kind, facts, district_today(now))
    return LetterDraft(
        case=case,
        kind=kind,
        addressee=street_office(case),
        team_id=case.team_id,
        title=letter_title(kind, facts),
        body=_body(kind, facts, earlier, reply_due_on),
        reply_due_on=reply_due_on,
        facts=facts,
        warning=_skip_warning(kind, case, earlier, now),
    )


def issue_letter(
    actor: Actor,
    case_id: int,
    kind: LetterKind,
    *,
    body: str | None = None,
    title: str | None = None,
    now: datetime | None = None,
) -> Letter:
    """Number and issue a letter about a case (district staff only) and record it on the case.

    ``body`` and ``title`` are the staff's edits of the draft; empty keeps the drafted text.
    """
    require_staff_actor(actor)
    now = now or utcnow()
    with unit_of_work():
        draft = draft_letter(actor, case_id, kind, now=now)
        if actor.staff_role not in ISSUING_ROLES:
            raise Forbidden("只有区信访局工作人员可以发函")
        if draft.case.status not in OPEN_STATUSES:
            raise Conflict("案件已办结，不能再发函", code="case_not_open")
        text = (body or "").strip() or draft.body
        if len(text) > 5000:
            raise InvalidInput("函件正文不能超过5000字", code="body_too_long")
        heading = (title or "").strip() or draft.title
        if len(heading) > 120:
            raise InvalidInput("函件标题不能超过120字", code="title_too_long")
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
            facts={**draft.facts, "title": heading},
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
    """The letter as a 公文 (GB/T 9704): red 发文机关标志, 发文字号, red rule, title, 主送机关,
    body, 附件说明, 署名 and date together; the case facts on the attachment page."""
    styles = official_styles()
    issued = in_district(letter.issued_at).date()
    bureau = f"{current_app.config['DISTRICT_NAME']}信访局"
    facts = letter.facts
    title = facts.get("title") or letter_title(letter.kind, facts)
    story: list[Any] = [
        Paragraph(escape(bureau), styles["masthead"]),
        Spacer(1, 6 * mm),
        Paragraph(escape(letter.number), styles["number"]),
        Spacer(1, 1 * mm),
        HRFlowable(
            width="100%", thickness=1.2, color=OFFICIAL_RED, spaceBefore=0, spaceAfter=10 * mm
        ),
        Paragraph(escape(title), styles["title"]),
        Spacer(1, 6 * mm),
        Paragraph(escape(f"{letter.addressee}："), styles["addressee"]),
    ]
    story += [Paragraph(escape(line), styles["body"]) for line in letter.body.split("\n") if line]
    story += [
        Spacer(1, 6 * mm),
        Paragraph("附件：案件基本情况表", styles["attachment"]),
        Spacer(1, 12 * mm),
        KeepTogether(
            [
                Paragraph(escape(bureau), styles["signature"]),
                Paragraph(escape(_cn_date(issued)), styles["date"]),
            ]
        ),
        PageBreak(),
        Paragraph("附件", styles["heading"]),
        Spacer(1, 4 * mm),
        Paragraph("案件基本情况表", styles["title"]),
        Spacer(1, 6 * mm),
    ]
    rows = [
        ["项目", "内容"],
        ["案件编号", facts.get("case_number", "")],
        ["所属街道", facts.get("street", "")],
        ["处置小组", facts.get("team", "") or "（未分派）"],
        ["工地名称", facts.get("site_name", "")],
        ["工地地址", facts.get("site_address", "")],
        ["用工单位", facts.get("employers", "")],
        ["涉及工人", f"{facts.get('workers', '')}人"],
        ["欠薪金额", f"{facts.get('amount_yuan', '')}元"],
        ["受理日期", facts.get("received_on", "")],
        ["当前状态", facts.get("status", "")],
        ["紧急程度", facts.get("urgency", "")],
        ["时限", f"{facts.get('clock', '')} {facts.get('due_at', '')}".strip() or "—"],
        ["超期天数", f"{facts.get('days_overdue', 0)}天"],
        ["回复期限", f"{_cn_date(letter.reply_due_on)}（按工作日计算）"],
    ]
    story.append(pdf_table(rows, [40 * mm, 116 * mm], font=cjk_serif_font_name(), size=12))
    return official_pdf(f"{letter.kind.label} {letter.number}", story)
