"""The 全国根治欠薪线索反映平台 (national platform): import its leads, export 核处结论 replies.

Leads come as the platform's CSV or XLSX export (field layout in docs/national-platform.md).
Each row is one unit of work: a lead number already imported adds nothing; a lead from the same
worker (keyed hash of the mobile) about the same site as a recent open case joins it; any other
lead becomes a case with channel 国家平台, triaged and grouped like every intake, in the queue
of its street's least-loaded foreman. Imports run as background tasks from the outbox
(``supervision.tasks``). Replies go back in the platform's ten 核处结论 classes.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import openpyxl
import sqlalchemy as sa
from flask import current_app
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from wagedispute.access.actors import Actor
from wagedispute.cases.grouping import assign_group, find_duplicate, normalise_name
from wagedispute.cases.lifecycle import open_case
from wagedispute.cases.numbering import next_case_number
from wagedispute.intake.submission import ComplaintIn
from wagedispute.intake.triage import TriageFacts, suggest_urgency
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    Complainant,
    EventKind,
    Foreman,
    NationalConclusion,
    NationalLead,
    Outcome,
    Role,
    StaffRole,
    Street,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.pii import PiiVault, mask_id_number, mask_mobile
from wagedispute.platform.timekeeping import district_text, district_today, district_zone
from wagedispute.supervision.daily_check import require_staff_actor

log = logging.getLogger(__name__)

MAX_ROWS = 5000
DISTRICT_ROLES = frozenset({StaffRole.DISTRICT_ADMIN, StaffRole.DISTRICT_SUPERVISOR})
IMPORT_ACTOR = Actor(Role.IMPORT)

# Field -> the platform's column header, then the other spellings seen in its exports.
LEAD_COLUMNS: dict[str, tuple[str, ...]] = {
    "lead_number": ("线索编号", "线索号"),
    "reported_at": ("反映时间", "登记时间"),
    "name": ("反映人姓名", "反映人", "姓名"),
    "mobile": ("反映人联系电话", "联系电话", "手机号码"),
    "id_number": ("反映人身份证号码", "身份证号码", "证件号码"),
    "employer_name": ("被反映单位名称", "被反映单位", "欠薪单位名称"),
    "employer_uscc": ("被反映单位统一社会信用代码", "统一社会信用代码"),
    "employer_role": ("被反映单位类型", "单位类型"),
    "site_name": ("项目名称", "工程项目名称"),
    "site_address": ("项目地址", "工程项目地址"),
    "street": ("所属街道", "属地街道", "街道"),
    "workers": ("涉及人数", "欠薪人数"),
    "amount_yuan": ("涉及金额（元）", "欠薪金额（元）"),
    "period_start": ("欠薪开始日期", "欠薪起始日期"),
    "period_end": ("欠薪截止日期", "欠薪结束日期"),
    "description": ("反映内容", "问题描述"),
    "reply_due_on": ("办理时限", "要求办结日期"),
}
REQUIRED = ("lead_number", "name", "mobile", "site_name", "street", "description")
FIELD_LABELS = {name: headers[0] for name, headers in LEAD_COLUMNS.items()}
EMPLOYER_ROLES = ("建设单位", "总包", "分包", "班组")
# Form fields (ComplaintIn) back to the platform's columns, for row errors.
FORM_COLUMNS = {
    "name": "name",
    "mobile": "mobile",
    "id_number": "id_number",
    "site_name": "site_name",
    "site_address": "site_address",
    "employers": "employer_name",
    "workers_affected": "workers",
    "amount_owed_fen": "amount_yuan",
    "period_start": "period_start",
    "period_end": "period_end",
    "description": "description",
}

REPLY_HEADERS = (
    "线索编号",
    "核处结论代码",
    "核处结论",
    "核处情况说明",
    "是否属实",
    "核实涉及人数",
    "已支付金额（元）",
    "办结日期",
    "承办单位",
    "本地案件编号",
)
OUTCOME_CONCLUSIONS = {
    Outcome.PAID_IN_FULL: NationalConclusion.PAID_IN_FULL,
    Outcome.PAID_IN_PART: NationalConclusion.PAID_IN_PART,
    Outcome.INSTALMENT_PLAN: NationalConclusion.INSTALMENT,
    Outcome.TRANSFERRED_INSPECTION: NationalConclusion.INSPECTION,
    Outcome.TRANSFERRED_ARBITRATION: NationalConclusion.ARBITRATION,
    Outcome.TRANSFERRED_COURT: NationalConclusion.COURT,
    Outcome.UNSUBSTANTIATED: NationalConclusion.UNSUBSTANTIATED,
}
SUBSTANTIATED = {
    NationalConclusion.NOT_WAGE_ARREARS: "否",
    NationalConclusion.UNSUBSTANTIATED: "否",
    NationalConclusion.UNREACHABLE: "无法核实",
}
FINISHED = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REJECTED})


# --- Reading the platform's file --------------------------------------------------------------


def _header_key(text: Any) -> str:
    """A header as written, NFKC (half-width brackets become full-width below), no spaces."""
    value = unicodedata.normalize("NFKC", str(text or "")).replace(" ", "")
    return value.replace("(", "（").replace(")", "）")


_HEADER_FIELDS = {_header_key(h): name for name, hs in LEAD_COLUMNS.items() for h in hs}


def _rows(filename: str, data: bytes) -> list[list[Any]]:
    """The non-empty rows of a CSV (UTF-8 or GB18030, as Excel saves it) or XLSX file."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise InvalidInput("无法读取该 XLSX 文件", code="bad_xlsx") from exc
        try:
            rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    elif name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
    else:
        raise InvalidInput("请上传国家平台导出的 CSV 或 XLSX 文件", code="bad_file_type")
    return [row for row in rows if any(c is not None and str(c).strip() for c in row)]


def read_leads(filename: str, data: bytes) -> list[dict[str, Any]]:
    """The file's rows keyed by field; a file without the platform's required columns is refused."""
    rows = _rows(filename, data)
    if not rows:
        raise InvalidInput("文件是空的", code="empty_file")
    fields = [_HEADER_FIELDS.get(_header_key(h)) for h in rows[0]]
    missing = [FIELD_LABELS[f] for f in REQUIRED if f not in fields]
    if missing:
        raise InvalidInput(
            f"不是国家平台的线索导出文件：缺少列 {'、'.join(missing)}",
            code="missing_columns",
            details={"missing": missing},
        )
    if len(rows) - 1 > MAX_ROWS:
        raise InvalidInput(f"一次最多导入{MAX_ROWS}条线索", code="too_many_rows")
    return [
        {f: v for f, v in zip(fields, values, strict=False) if f is not None} for values in rows[1:]
    ]


# --- Validating one lead ----------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """A problem with one cell (row 2 is the first lead, as a spreadsheet numbers it)."""

    row: int
    column: str
    message: str


@dataclass
class LeadImportResult:
    """What an import did."""

    imported: int = 0
    merged: int = 0
    already: int = 0
    errors: list[RowError] = field(default_factory=list)
    case_numbers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For the task's result column."""
        return {
            "imported": self.imported,
            "merged": self.merged,
            "already": self.already,
            "errors": [e.__dict__ for e in self.errors[:200]],
            "case_numbers": self.case_numbers[:200],
        }

    @property
    def summary(self) -> str:
        """One sentence for the task page."""
        rows = len({e.row for e in self.errors})
        return (
            f"新建案件{self.imported}件，并入已有案件{self.merged}条，"
            f"此前已导入{self.already}条，有误{rows}行"
        )


@dataclass(frozen=True)
class Lead:
    """A validated lead."""

    number: str
    complaint: ComplaintIn
    street: Street
    reported_at: datetime | None
    reply_due_on: date | None
    fields: dict[str, Any]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    match = re.match(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", text)
    if match is None:
        raise ValueError(text)
    return date(*(int(p) for p in match.groups()))


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        naive = value
    else:
        text = _text(value)
        if not text:
            return None
        match = re.match(
            r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", text
        )
        if match is None:
            raise ValueError(text)
        parts = [int(p) if p else 0 for p in match.groups()]
        naive = datetime(*parts)
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=district_zone())


def _fen(value: Any) -> int:
    text = _text(value).replace(",", "").replace("元", "")
    if not text:
        return 0
    amount = Decimal(text)
    if amount < 0:
        raise InvalidOperation(text)
    return int((amount * 100).to_integral_value())


def _street(value: str, address: str, streets: list[Street]) -> Street | None:
    """The district's street named in the lead (名称 with or without 街道, or in the address)."""
    for text in (value, address):
        key = text.replace("街道办事处", "").replace("街道", "")
        for street in streets:
            short = street.name.replace("街道", "")
            if key and (key == short or short in text):
                return street
    return None


def _validate(number: int, raw: dict[str, Any], streets: list[Street]) -> Lead | list[RowError]:
    """A lead, or the problems with its cells (in Chinese, with the platform's column names)."""
    errors: list[RowError] = []

    def problem(name: str, message: str) -> None:
        errors.append(RowError(number, FIELD_LABELS[name], message))

    for name in REQUIRED:
        if not _text(raw.get(name)):
            problem(name, "必填")
    lead_number = _text(raw.get("lead_number"))
    if len(lead_number) > 64:
        problem("lead_number", "线索编号过长")
    street = _street(_text(raw.get("street")), _text(raw.get("site_address")), streets)
    if street is None and _text(raw.get("street")):
        problem("street", "不是本区的街道")
    parsed: dict[str, Any] = {}
    for name, parse in (
        ("reported_at", _moment),
        ("reply_due_on", _date),
        ("period_start", _date),
        ("period_end", _date),
    ):
        try:
            parsed[name] = parse(raw.get(name))
        except ValueError:
            problem(name, "日期格式应为 年-月-日")
    try:
        amount_fen = _fen(raw.get("amount_yuan"))
    except (InvalidOperation, ValueError):
        problem("amount_yuan", "金额应为不小于0的数字")
        amount_fen = 0
    workers_text = _text(raw.get("workers")) or "1"
    workers = int(workers_text) if workers_text.isdigit() and int(workers_text) >= 1 else None
    if workers is None:
        problem("workers", "人数应为正整数")
    role = _text(raw.get("employer_role")) or "总包"
    if role not in EMPLOYER_ROLES:
        problem("employer_role", f"应为{'、'.join(EMPLOYER_ROLES)}之一")
    if errors:
        return errors
    employer = _text(raw.get("employer_name"))
    body = {
        "name": _text(raw.get("name")),
        "mobile": _text(raw.get("mobile")),
        "id_number": _text(raw.get("id_number")) or None,
        "site_name": _text(raw.get("site_name"))[:128],
        "site_address": _text(raw.get("site_address"))[:255] or None,
        "employers": (
            [{"role": role, "name": employer[:128], "uscc": _text(raw.get("employer_uscc"))}]
            if employer
            else []
        ),
        "workers_affected": workers,
        "amount_owed_fen": amount_fen,
        "period_start": parsed["period_start"],
        "period_end": parsed["period_end"],
        "description": _text(raw.get("description"))[:2000],
    }
    try:
        complaint = ComplaintIn.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            column = FORM_COLUMNS.get(str(err["loc"][0]), "description")
            message = str(err["msg"])
            if not any("\u4e00" <= ch <= "\u9fff" for ch in message):
                message = "内容有误"
            problem(column, message)
        return errors
    # Personal data never goes into the lead's own fields: it is kept encrypted on the case.
    kept = {
        name: _text(raw.get(name))
        for name in ("employer_name", "employer_uscc", "site_name", "site_address", "street")
    }
    assert street is not None
    return Lead(lead_number, complaint, street, parsed["reported_at"], parsed["reply_due_on"], kept)


# --- Importing --------------------------------------------------------------------------------


def _vault() -> PiiVault:
    return current_app.extensions["wagedispute.pii"]


def _foreman_for(street_id: int) -> Foreman | None:
    """The street's active foreman with the fewest leads waiting for triage."""
    waiting = (
        sa.select(sa.func.count(Case.id))
        .where(
            Case.foreman_id == Foreman.id,
            Case.status.in_([CaseStatus.RECEIVED, CaseStatus.RETURNED, CaseStatus.REOPENED]),
        )
        .scalar_subquery()
    )
    return db.session.scalars(
        sa.select(Foreman)
        .where(Foreman.street_id == street_id, Foreman.active.is_(True))
        .order_by(waiting, Foreman.id)
        .limit(1)
    ).first()


def _has_open_case(mobile_hash: str) -> bool:
    return (
        db.session.scalar(
            sa.select(Case.id)
            .join(Complainant, Case.complainant_id == Complainant.id)
            .where(Complainant.mobile_hash == mobile_hash, Case.status.in_(OPEN_STATUSES))
            .limit(1)
        )
        is not None
    )


def _stage_lead(lead: Lead, task_id: int | None, now: datetime) -> tuple[NationalLead, Case, bool]:
    """Stage the lead's rows: a new case, or the lead joined to the case it repeats."""
    settings = current_app.config
    vault = _vault()
    data = lead.complaint
    mobile_hash = vault.keyed_hash(data.mobile)
    since = now - timedelta(days=int(settings["GROUP_WINDOW_DAYS"]))
    existing = find_duplicate(db.session, data.site_name, mobile_hash, since)
    if existing is not None and existing.status not in OPEN_STATUSES:
        # The earlier case is over: a new lead about it is a new matter someone must handle
        # (intake's grouping still links the new case to the earlier one as a duplicate).
        existing = None
    record = NationalLead(
        lead_number=lead.number,
        reported_at=lead.reported_at,
        reply_due_on=lead.reply_due_on,
        fields=lead.fields,
        task_id=task_id,
        imported_at=now,
    )
    if existing is not None:
        record.case_id = existing.id
        record.merged_into_existing = True
        db.session.add(record)
        db.session.add(
            CaseEvent(
                case_id=existing.id,
                kind=EventKind.NATIONAL_LEAD,
                actor_role=Role.IMPORT,
                data={"lead_number": lead.number, "merged": True},
                worker_visible=False,
                created_at=now,
            )
        )
        return record, existing, False

    earlier_unresolved = _has_open_case(mobile_hash)
    complainant = Complainant()
    name_encrypted, mobile_encrypted = vault.encrypt(data.name), vault.encrypt(data.mobile)
    complainant.name_encrypted = name_encrypted
    complainant.mobile_encrypted = mobile_encrypted
    complainant.mobile_hash = mobile_hash
    complainant.mobile_masked = mask_mobile(data.mobile)
    if data.id_number:
        complainant.id_number_encrypted = vault.encrypt(data.id_number)
        complainant.id_number_hash = vault.keyed_hash(data.id_number)
        complainant.id_number_masked = mask_id_number(data.id_number)
    db.session.add(complainant)
    db.session.flush()
    foreman = _foreman_for(lead.street.id)
    case = Case(
        channel=Channel.NATIONAL_PLATFORM,
        foreman_id=foreman.id if foreman else None,
        street_id=lead.street.id,
        complainant_id=complainant.id,
        site_name=data.site_name or "",
        site_address=data.site_address,
        employers=[
            {"role": e.role, "name": e.name, "uscc": e.uscc, "name_key": normalise_name(e.name)}
            for e in data.employers
        ],
        workers_affected=data.workers_affected,
        amount_owed_fen=data.amount_owed_fen,
        period_start=data.period_start,
        period_end=data.period_end,
        description=data.description,
        complainant_name_encrypted=name_encrypted,
        complainant_mobile_encrypted=mobile_encrypted,
        complainant_mobile_hash=mobile_hash,
        created_at=now,
        updated_at=now,
    )
    group = assign_group(
        db.session, case, now, settings["GROUP_WINDOW_DAYS"], mobile_hash=mobile_hash
    )
    case.urgency_suggested, case.urgency_reasons = suggest_urgency(
        TriageFacts(
            workers_affected=data.workers_affected,
            amount_owed_fen=data.amount_owed_fen,
            description=data.description,
            today=district_today(now),
            period_start=data.period_start,
            period_end=data.period_end,
            repeat_count=group.case_count - 1,
            earlier_unresolved_by_worker=earlier_unresolved,
        )
    )
    case.number = "~" + uuid.uuid4().hex[:31]
    open_case(
        case,
        IMPORT_ACTOR,
        event_data={"channel": Channel.NATIONAL_PLATFORM.value, "lead_number": lead.number},
    )
    case.number = next_case_number(db.session, settings["DISTRICT_CODE"], now)
    record.case_id = case.id
    db.session.add(record)
    return record, case, True


def _require_district(actor: Actor) -> None:
    require_staff_actor(actor)
    if actor.staff_role not in DISTRICT_ROLES:
        raise NotFound()


def import_leads(
    actor: Actor,
    filename: str,
    data: bytes,
    *,
    task_id: int | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> LeadImportResult:
    """Import a platform export: each lead a case (or joined to the case it repeats), once."""
    _require_district(actor)
    rows = read_leads(filename, data)
    streets = list(db.session.scalars(sa.select(Street).order_by(Street.id)))
    db.session.rollback()
    result = LeadImportResult()
    for index, raw in enumerate(rows):
        row_number = index + 2
        checked = _validate(row_number, raw, streets)
        if isinstance(checked, list):
            result.errors.extend(checked)
            continue
        lead = checked
        try:
            with unit_of_work():
                seen = db.session.scalar(
                    sa.select(NationalLead.id).where(NationalLead.lead_number == lead.number)
                )
                if seen:
                    result.already += 1
                    continue
                _, case, created = _stage_lead(lead, task_id, utcnow())
                number = case.number
        except IntegrityError:
            # Another import took the same lead number at the same moment.
            result.already += 1
            continue
        if created:
            result.imported += 1
            result.case_numbers.append(number)
        else:
            result.merged += 1
        if progress is not None and index % 20 == 19:
            progress(5 + 90 * (index + 1) // len(rows), f"已处理{index + 1}/{len(rows)}条线索")
    log.info(
        "national import: %d new, %d merged, %d already, %d errors",
        result.imported,
        result.merged,
        result.already,
        len(result.errors),
    )
    return result


# --- 核处结论 -----------------------------------------------------------------------------------


def derived_conclusion(lead: NationalLead) -> NationalConclusion | None:
    """The reply class: chosen by staff, else read from the finished case; None while open."""
    if lead.conclusion is not None:
        return lead.conclusion
    case = lead.case
    if case.status in {CaseStatus.RESOLVED, CaseStatus.CLOSED} and case.outcome is not None:
        return OUTCOME_CONCLUSIONS[case.outcome]
    if case.status == CaseStatus.REJECTED:
        return NationalConclusion.NOT_WAGE_ARREARS
    return None


def _explanation(lead: NationalLead) -> str:
    """核处情况说明: staff's words, else the case's resolution summary, with the merge noted."""
    case = lead.case
    text = lead.conclusion_note or str((case.outcome_data or {}).get("summary") or "")
    if lead.merged_into_existing:
        text = f"本线索与本地案件{case.number}为同一反映人同一项目，已并案办理。{text}"
    return text.strip()


@dataclass(frozen=True)
class LeadView:
    """A lead as the console lists it."""

    lead: NationalLead
    conclusion: NationalConclusion | None
    explanation: str

    @property
    def ready(self) -> bool:
        """Whether a reply can go back to the platform."""
        return self.conclusion is not None and bool(self.explanation)


def list_leads(actor: Actor, *, limit: int = 200) -> list[LeadView]:
    """Imported leads, newest first, with their reply class (district roles)."""
    _require_district(actor)
    leads = db.session.scalars(
        sa.select(NationalLead)
        .options(selectinload(NationalLead.case))
        .order_by(NationalLead.id.desc())
        .limit(limit)
    )
    return [LeadView(lead, derived_conclusion(lead), _explanation(lead)) for lead in leads]


def set_conclusion(
    actor: Actor, lead_id: int, conclusion: NationalConclusion, note: str
) -> NationalLead:
    """Staff choose the reply class and write the explanation the platform asks for."""
    _require_district(actor)
    note = (note or "").strip()
    if not 10 <= len(note) <= 2000:
        raise InvalidInput("核处情况说明应为10至2000字", code="conclusion_note_length")
    with unit_of_work():
        lead = db.session.get(NationalLead, lead_id)
        if lead is None:
            raise NotFound()
        lead.conclusion = conclusion
        lead.conclusion_note = note
        lead.concluded_by = actor.id
        lead.concluded_at = utcnow()
    return lead


def reply_row(view: LeadView) -> list[Any]:
    """One 核处结论 row in the platform's column order (REPLY_HEADERS)."""
    lead, case = view.lead, view.lead.case
    assert view.conclusion is not None
    paid_fen = int((case.outcome_data or {}).get("amount_paid_fen") or 0)
    finished = case.resolved_at or case.closed_at or lead.concluded_at
    office = case.team.name if case.team is not None else f"{case.street.name}办事处"
    return [
        lead.lead_number,
        view.conclusion.value,
        view.conclusion.label,
        view.explanation,
        SUBSTANTIATED.get(view.conclusion, "是"),
        case.workers_affected,
        f"{Decimal(paid_fen) / 100:.2f}",
        district_text(finished, "%Y-%m-%d") if finished else "",
        office,
        case.number,
    ]


@dataclass(frozen=True)
class ReplyExport:
    """The file to upload to the platform."""

    filename: str
    content_type: str
    data: bytes
    count: int


def export_replies(actor: Actor, fmt: str, *, only_new: bool = True) -> ReplyExport:
    """The ready replies (by default those not exported before) as CSV or XLSX; marks them."""
    _require_district(actor)
    if fmt not in {"csv", "xlsx"}:
        raise InvalidInput("导出格式只能是 CSV 或 XLSX", code="bad_format")
    with unit_of_work():
        stmt = sa.select(NationalLead).options(
            selectinload(NationalLead.case).selectinload(Case.team),
            selectinload(NationalLead.case).selectinload(Case.street),
        )
        if only_new:
            stmt = stmt.where(NationalLead.exported_at.is_(None))
        views = [
            LeadView(lead, derived_conclusion(lead), _explanation(lead))
            for lead in db.session.scalars(stmt.order_by(NationalLead.id))
        ]
        ready = [view for view in views if view.ready]
        if not ready:
            raise InvalidInput("没有可上报的核处结论", code="nothing_to_export")
        rows = [reply_row(view) for view in ready]
        now = utcnow()
        for view in ready:
            view.lead.exported_at = now
    stamp = district_text(now, "%Y%m%d%H%M")
    name = f"核处结论_{stamp}.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(REPLY_HEADERS)
        writer.writerows([[_safe_cell(v) for v in row] for row in rows])
        return ReplyExport(
            name, "text/csv; charset=utf-8", buffer.getvalue().encode("utf-8-sig"), len(rows)
        )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "核处结论"
    sheet.append(list(REPLY_HEADERS))
    for row in rows:
        sheet.append([_safe_cell(v) for v in row])
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJ", (22, 12, 22, 60, 10, 12, 16, 12, 24, 18), strict=True):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return ReplyExport(
        name,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        out.getvalue(),
        len(rows),
    )


def _safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula is quoted."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"}:
        return "'" + value
    return value
