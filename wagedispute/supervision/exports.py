"""Exports of cases and indicators as CSV or XLSX, for staff to take away."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import openpyxl
import sqlalchemy as sa
from flask import current_app
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import selectinload

from wagedispute.access.actors import Actor, case_scope
from wagedispute.cases.clocks import is_overdue
from wagedispute.cases.figures import PeriodFigures, period_figures, recovered_fen
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Complainant,
    DisposalTeam,
    StaffRole,
    Street,
    Urgency,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import InvalidInput
from wagedispute.platform.timekeeping import district_midnight, district_today, in_district
from wagedispute.supervision.casebook import urgency_expr
from wagedispute.supervision.daily_check import require_staff_actor

ProgressCallback = Callable[[int, str], None]


@dataclass(frozen=True)
class ExportFile:
    """A file for download."""

    filename: str
    content_type: str
    data: bytes


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CASE_COLUMNS = [
    "案件编号",
    "状态",
    "紧急程度",
    "渠道",
    "街道",
    "处置小组",
    "工地名称",
    "用工单位",
    "涉及工人",
    "欠薪金额（元）",
    "投诉人手机（脱敏）",
    "受理时间",
    "办结时间",
    "处置结果",
    "追回金额（元）",
    "是否超期",
]


def _safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is prefixed with a quote."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


# Spreadsheet formats of the typed cells.
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
MONEY_FORMAT = "#,##0.00"
MAX_COLUMN_WIDTH = 48


def _text_width(value: Any) -> int:
    """Display width in spreadsheet characters (a Chinese character takes two)."""
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value if value is not None else "")
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return _safe_cell(value)


def _xlsx(sheet_title: str, header: list[str], rows: list[list[Any]], money: set[int]) -> bytes:
    """A sheet with real dates and numbers, columns sized to their content, the header frozen."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = sheet_title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [_text_width(h) for h in header]
    for row in rows:
        sheet.append([_safe_cell(v) for v in row])
        for index, value in enumerate(row):
            widths[index] = max(widths[index], _text_width(value))
            cell = sheet.cell(row=sheet.max_row, column=index + 1)
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = DATE_FORMAT
            elif index in money and isinstance(value, int | float):
                cell.number_format = MONEY_FORMAT
    for index, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(
            width + 2, MAX_COLUMN_WIDTH
        )
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _tabular(
    sheet_title: str,
    header: list[str],
    rows: list[list[Any]],
    fmt: str,
    stem: str,
    money: set[int] | None = None,
) -> ExportFile:
    """Rows as CSV (UTF-8 with BOM, so Excel reads the Chinese) or XLSX, named in Chinese.

    Times are district-local ``datetime`` values (a spreadsheet has no time zones); ``money``
    names the columns shown with two decimals.
    """
    stamp = district_today().strftime("%Y%m%d")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows([[_csv_cell(v) for v in row] for row in rows])
        data = buffer.getvalue().encode("utf-8-sig")
    elif fmt == "xlsx":
        data = _xlsx(sheet_title, header, rows, money or set())
    else:
        raise InvalidInput("导出格式只能是 CSV 或 XLSX", code="bad_format")
    return ExportFile(f"{stem}-{stamp}.{fmt}", CONTENT_TYPES[fmt], data)


def _local(moment: datetime | None) -> datetime | None:
    """A UTC timestamp as the district's wall-clock time, without a zone, for a spreadsheet."""
    return in_district(moment).replace(tzinfo=None, second=0, microsecond=0) if moment else None


@dataclass(frozen=True)
class CaseExportFilter:
    """Which cases to export."""

    status: CaseStatus | None = None
    street_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CaseExportFilter:
        """From the task's JSON parameters."""
        try:
            return cls(
                status=CaseStatus(params["status"]) if params.get("status") else None,
                street_id=int(params["street_id"]) if params.get("street_id") else None,
                date_from=date.fromisoformat(params["date_from"])
                if params.get("date_from")
                else None,
                date_to=date.fromisoformat(params["date_to"]) if params.get("date_to") else None,
            )
        except ValueError as exc:
            raise InvalidInput("导出条件有误", code="bad_filter") from exc


def export_cases(
    actor: Actor,
    fmt: str,
    filters: CaseExportFilter | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> ExportFile:
    """The cases in scope as a table; personal data appears only masked."""
    require_staff_actor(actor)
    filters = filters or CaseExportFilter()
    report = progress or (lambda pct, message: None)
    now = utcnow()
    stmt = (
        sa.select(Case, Complainant.mobile_masked)
        .outerjoin(Complainant, Complainant.id == Case.complainant_id)
        .where(case_scope(actor))
        .options(selectinload(Case.street), selectinload(Case.team))
        .order_by(Case.id)
    )
    if filters.status is not None:
        stmt = stmt.where(Case.status == filters.status)
    if filters.street_id is not None:
        stmt = stmt.where(Case.street_id == filters.street_id)
    if filters.date_from is not None:
        stmt = stmt.where(Case.created_at >= district_midnight(filters.date_from))
    if filters.date_to is not None:
        stmt = stmt.where(Case.created_at < district_midnight(filters.date_to + timedelta(days=1)))
    report(10, "正在读取案件")
    results = db.session.execute(stmt).all()
    rows = []
    step = max(1, len(results) // 10)
    for index, (case, mobile_masked) in enumerate(results):
        rows.append(
            [
                case.number,
                case.status.label,
                case.urgency.label,
                case.channel.label,
                case.street.name,
                case.team.name if case.team else "",
                case.site_name,
                "、".join(e.get("name", "") for e in (case.employers or []) if e.get("name")),
                case.workers_affected,
                round(case.amount_owed_fen / 100, 2),
                mobile_masked or "",
                _local(case.created_at),
                _local(case.resolved_at) or "",
                case.outcome.label if case.outcome else "",
                round(recovered_fen(case) / 100, 2),
                "是" if is_overdue(case, now) else "否",
            ]
        )
        if index % step == 0:
            report(10 + 70 * index // max(1, len(results)), f"已处理{index}件")
    report(85, "正在生成文件")
    return _tabular(
        "案件",
        CASE_COLUMNS,
        rows,
        fmt,
        f"{current_app.config['DISTRICT_NAME']}欠薪投诉案件",
        money={9, 14},
    )


INDICATOR_COLUMNS = [
    "范围",
    "受理案件",
    "在办案件",
    "已办结",
    "已结案",
    "按时办结率（%）",
    "结案率（%）",
    "特急案件",
    "帮助工人",
    "追回欠薪（元）",
]


def export_indicators(
    actor: Actor, fmt: str, year: int | None = None, *, progress: ProgressCallback | None = None
) -> ExportFile:
    """The year's indicators per street and team (and the district, for district roles).

    Received, resolved, on-time, closure, workers helped and money recovered are the period
    figures the dashboard shows (``cases.figures``) over the year; open and 特急 count
    the year's received cases by their status and urgency now.
    """
    require_staff_actor(actor)
    report = progress or (lambda pct, message: None)
    year = year or district_today().year
    start = district_midnight(date(year, 1, 1))
    end = district_midnight(date(year + 1, 1, 1))
    report(10, "正在统计指标")
    scope = case_scope(actor)
    by = (Case.street_id, Case.team_id)
    figures = period_figures(scope, start, end, by=by)
    now_counts = {
        (street_id, team_id): (int(open_ or 0), int(critical or 0))
        for street_id, team_id, open_, critical in db.session.execute(
            sa.select(
                *by,
                sa.func.sum(sa.case((Case.status.in_(OPEN_STATUSES), 1), else_=0)),
                sa.func.sum(sa.case((urgency_expr() == Urgency.CRITICAL.value, 1), else_=0)),
            )
            .where(scope, Case.created_at >= start, Case.created_at < end)
            .group_by(*by)
        )
    }
    names = dict(db.session.execute(sa.select(Street.id, Street.name)).all())
    team_names = dict(db.session.execute(sa.select(DisposalTeam.id, DisposalTeam.name)).all())
    rows_by_scope: dict[str, tuple[PeriodFigures, list[int]]] = {}

    def add(label: str, key: tuple[int, int | None]) -> None:
        totals, counts = rows_by_scope.setdefault(label, (PeriodFigures(), [0, 0]))
        totals.add(figures.get(key, PeriodFigures()))
        open_, critical = now_counts.get(key, (0, 0))
        counts[0] += open_
        counts[1] += critical

    district_scope = actor.staff_role != StaffRole.STREET_STAFF
    for key in sorted(set(figures) | set(now_counts), key=lambda k: (k[0], k[1] or 0)):
        street_id, team_id = key
        street = names.get(street_id, str(street_id))
        if district_scope:
            add(f"{current_app.config['DISTRICT_NAME']}（全区）", key)
        add(street, key)
        if team_id is not None:
            add(f"{street} / {team_names.get(team_id, team_id)}", key)
    rows = []
    for label, (row, (open_, critical)) in rows_by_scope.items():
        rows.append(
            [
                label,
                row.received,
                open_,
                row.resolved,
                row.received_closed,
                "" if row.on_time_rate is None else round(row.on_time_rate, 1),
                "" if row.closure_rate is None else round(row.closure_rate, 1),
                critical,
                row.workers_helped,
                round(row.recovered_fen / 100, 2),
            ]
        )
    report(80, "正在生成文件")
    return _tabular(
        f"{year}年指标",
        INDICATOR_COLUMNS,
        rows,
        fmt,
        f"{current_app.config['DISTRICT_NAME']}{year}年欠薪治理指标",
        money={9},
    )
