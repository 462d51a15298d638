"""周反馈 weekly packs per street and team, and exports of cases and indicators (CSV, XLSX)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import openpyxl
import sqlalchemy as sa
from flask import current_app
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from wagedispute.access.actors import Actor, case_scope
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    Complainant,
    DisposalTeam,
    Outcome,
    Role,
    StaffRole,
    Street,
    Urgency,
    WeeklyPack,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.supervision.daily_check import local_midnight, local_today, require_staff_actor
from wagedispute.supervision.letters import build_pdf, pdf_styles, pdf_table, pending_clocks

ProgressCallback = Callable[[int, str], None]

FIGURE_LABELS = {
    "new": "新收案件",
    "dispatched": "已分派",
    "resolved": "已办结",
    "overdue": "超期未办结",
    "outstanding": "在办案件",
    "recovered_yuan": "追回欠薪（元）",
}
OUTCOME_LABELS = {
    Outcome.PAID_IN_FULL: "全额支付",
    Outcome.PAID_IN_PART: "部分支付",
    Outcome.INSTALMENT_PLAN: "分期支付",
    Outcome.TRANSFERRED_INSPECTION: "移送劳动监察",
    Outcome.TRANSFERRED_ARBITRATION: "转劳动仲裁",
    Outcome.TRANSFERRED_COURT: "转法院",
    Outcome.UNSUBSTANTIATED: "查无实据",
}
CHANNEL_LABELS = {
    Channel.MINIPROGRAM: "小程序",
    Channel.WEB: "网页",
    Channel.PHONE: "电话",
    Channel.IMPORT: "其他渠道导入",
}


def recovered_fen(case: Case) -> int:
    """Money recovered for the workers, from the resolution's outcome data (fen).

    The team's resolution records the amount paid; we accept its total or a per-worker list.
    """
    data = case.outcome_data or {}
    for key in ("amount_paid_fen", "amount_recovered_fen", "paid_total_fen"):
        if isinstance(data.get(key), int):
            return data[key]
    per_worker = data.get("paid_per_worker") or data.get("payments")
    if isinstance(per_worker, list):
        total = 0
        for item in per_worker:
            if isinstance(item, int):
                total += item
            elif isinstance(item, dict):
                value = item.get("amount_fen") or item.get("paid_fen") or 0
                total += value if isinstance(value, int) else 0
        return total
    return 0


# ---------------------------------------------------------------------------------------------
# Weekly packs
# ---------------------------------------------------------------------------------------------


def week_start_of(day: date) -> date:
    """The Monday of the week containing ``day``."""
    return day - timedelta(days=day.weekday())


def _blank() -> dict[str, Any]:
    return {
        "new": 0,
        "dispatched": 0,
        "resolved": 0,
        "overdue": 0,
        "outstanding": 0,
        "recovered_fen": 0,
    }


def _figures_for_week(week_start: date) -> dict[int, dict[str, Any]]:
    """Street id -> that street's figures for the week, with per-team rows and overdue cases."""
    start = local_midnight(week_start)
    end = start + timedelta(days=7)
    # A deadline counts as missed once it has passed, not merely because it falls in the week.
    overdue_cutoff = min(end, utcnow())
    streets = {s.id: s for s in db.session.scalars(sa.select(Street).order_by(Street.id))}
    teams = {t.id: t for t in db.session.scalars(sa.select(DisposalTeam).order_by(DisposalTeam.id))}
    packs: dict[int, dict[str, Any]] = {
        sid: {"street": _blank(), "teams": {}, "overdue_cases": []} for sid in streets
    }

    def team_row(street_id: int, team_id: int | None) -> dict[str, Any] | None:
        if team_id is None or team_id not in teams:
            return None
        rows = packs[street_id]["teams"]
        if team_id not in rows:
            rows[team_id] = {"team_id": team_id, "name": teams[team_id].name, **_blank()}
        return rows[team_id]

    def bump(case: Case, name: str, amount: int = 1) -> None:
        packs[case.street_id]["street"][name] += amount
        row = team_row(case.street_id, case.team_id)
        if row is not None:
            row[name] += amount

    # Cases alive at some point in the week.
    cases = db.session.scalars(
        sa.select(Case).where(
            Case.created_at < end,
            sa.or_(Case.closed_at.is_(None), Case.closed_at >= start),
        )
    ).all()
    for case in cases:
        if case.street_id not in packs:
            continue
        if case.created_at >= start:
            bump(case, "new")
        if case.closed_at is None or case.closed_at >= end:
            bump(case, "outstanding")
            clocks = pending_clocks(case)
            if clocks and clocks[0][1] < overdue_cutoff:
                bump(case, "overdue")
                packs[case.street_id]["overdue_cases"].append(case.number)
    steps = db.session.execute(
        sa.select(CaseEvent.case_id, CaseEvent.to_status)
        .where(
            CaseEvent.kind == "status",
            CaseEvent.to_status.in_([CaseStatus.DISPATCHED, CaseStatus.RESOLVED]),
            CaseEvent.created_at >= start,
            CaseEvent.created_at < end,
        )
        .distinct()
    ).all()
    ids = {case_id for case_id, _ in steps}
    by_id = {c.id: c for c in db.session.scalars(sa.select(Case).where(Case.id.in_(ids or {0})))}
    for case_id, to_status in steps:
        case = by_id[case_id]
        if case.street_id not in packs:
            continue
        if to_status == CaseStatus.DISPATCHED:
            bump(case, "dispatched")
        else:
            bump(case, "resolved")
            bump(case, "recovered_fen", recovered_fen(case))
    result = {}
    for street_id, pack in packs.items():
        pack["teams"] = [pack["teams"][k] for k in sorted(pack["teams"])]
        for team in teams.values():
            if team.street_id == street_id and team.id not in {t["team_id"] for t in pack["teams"]}:
                pack["teams"].append({"team_id": team.id, "name": team.name, **_blank()})
        pack["teams"].sort(key=lambda row: row["team_id"])
        pack["overdue_cases"] = sorted(pack["overdue_cases"])[:50]
        pack["week_end"] = (week_start + timedelta(days=6)).isoformat()
        result[street_id] = pack
    return result


def build_weekly_packs(
    week_start: date, *, progress: ProgressCallback | None = None
) -> list[WeeklyPack]:
    """Build (or rebuild) every street's pack for the week starting on ``week_start`` (a Monday)."""
    if week_start.weekday() != 0:
        raise InvalidInput("周报的起始日期须为星期一", code="not_monday")
    report = progress or (lambda pct, message: None)
    report(10, "正在统计本周数据")
    now = utcnow()
    with unit_of_work():
        figures = _figures_for_week(week_start)
        report(70, "正在生成各街道周报")
        packs = []
        for street_id, pack_figures in figures.items():
            pack = db.session.scalars(
                sa.select(WeeklyPack).where(
                    WeeklyPack.week_start == week_start, WeeklyPack.street_id == street_id
                )
            ).one_or_none()
            if pack is None:
                pack = WeeklyPack(week_start=week_start, street_id=street_id)
                try:
                    with db.session.begin_nested():
                        db.session.add(pack)
                except IntegrityError:
                    # Built by a concurrent run: update that row instead.
                    pack = db.session.scalars(
                        sa.select(WeeklyPack).where(
                            WeeklyPack.week_start == week_start, WeeklyPack.street_id == street_id
                        )
                    ).one()
            pack.figures = pack_figures
            pack.built_at = now
            packs.append(pack)
    return packs


def pack_scope(actor: Actor) -> sa.ColumnElement[bool]:
    """Street staff see their street's packs; district roles see all."""
    if actor.role == Role.STAFF and actor.staff_role == StaffRole.STREET_STAFF:
        return WeeklyPack.street_id == actor.street_id
    if actor.role in {Role.STAFF, Role.SYSTEM}:
        return sa.true()
    return sa.false()


def list_weekly_packs(actor: Actor, week_start: date) -> list[WeeklyPack]:
    """The packs of one week in the actor's scope, by street."""
    require_staff_actor(actor)
    return list(
        db.session.scalars(
            sa.select(WeeklyPack)
            .where(WeeklyPack.week_start == week_start, pack_scope(actor))
            .order_by(WeeklyPack.street_id)
        )
    )


def list_pack_weeks(actor: Actor, limit: int = 12) -> list[date]:
    """The weeks that have packs, newest first."""
    require_staff_actor(actor)
    return list(
        db.session.scalars(
            sa.select(WeeklyPack.week_start)
            .where(pack_scope(actor))
            .distinct()
            .order_by(WeeklyPack.week_start.desc())
            .limit(limit)
        )
    )


def get_weekly_pack_for(actor: Actor, pack_id: int) -> WeeklyPack:
    """One pack in the actor's scope; anything else is "not found"."""
    require_staff_actor(actor)
    pack = db.session.scalars(
        sa.select(WeeklyPack).where(WeeklyPack.id == pack_id, pack_scope(actor))
    ).one_or_none()
    if pack is None:
        raise NotFound()
    return pack


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def pack_pdf(pack: WeeklyPack) -> bytes:
    """The printable weekly pack of one street: street totals, team rows, overdue cases."""
    styles = pdf_styles()
    district = current_app.config["DISTRICT_NAME"]
    figures = pack.figures
    week_end = pack.week_start + timedelta(days=6)
    story: list[Any] = [
        Paragraph(escape(f"{district}欠薪投诉办理周反馈"), styles["title"]),
        Paragraph(
            escape(f"{pack.street.name}　{pack.week_start.isoformat()} 至 {week_end.isoformat()}"),
            styles["number"],
        ),
        Spacer(1, 6 * mm),
        Paragraph("一、街道汇总", styles["heading"]),
    ]
    street = figures.get("street", _blank())
    header = ["范围", *FIGURE_LABELS.values()]

    def row(name: str, values: dict[str, Any]) -> list[str]:
        return [
            name,
            str(values["new"]),
            str(values["dispatched"]),
            str(values["resolved"]),
            str(values["overdue"]),
            str(values["outstanding"]),
            _yuan(values["recovered_fen"]),
        ]

    widths = [40 * mm] + [20 * mm] * 6
    story.append(pdf_table([header, row(pack.street.name, street)], widths))
    story += [Spacer(1, 6 * mm), Paragraph("二、各处置小组", styles["heading"])]
    team_rows = [row(t["name"], t) for t in figures.get("teams", [])]
    story.append(pdf_table([header, *team_rows], widths))
    story += [Spacer(1, 6 * mm), Paragraph("三、超期未办结案件", styles["heading"])]
    overdue = figures.get("overdue_cases", [])
    story.append(
        Paragraph(escape("、".join(overdue) if overdue else "本周无超期案件。"), styles["plain"])
    )
    built = pack.built_at.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    story += [
        Spacer(1, 8 * mm),
        Paragraph(escape(f"{district}信访局　{built:%Y-%m-%d %H:%M} 生成"), styles["right"]),
    ]
    return build_pdf(f"周反馈 {pack.street.name} {pack.week_start.isoformat()}", story)


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------


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


def _tabular(
    sheet_title: str, header: list[str], rows: list[list[Any]], fmt: str, stem: str
) -> ExportFile:
    """Rows as CSV (UTF-8 with BOM, so Excel reads the Chinese) or XLSX."""
    stamp = local_today().strftime("%Y%m%d")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows([[_safe_cell(v) for v in row] for row in rows])
        data = buffer.getvalue().encode("utf-8-sig")
    elif fmt == "xlsx":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(sheet_title)
        sheet.append(header)
        for row in rows:
            sheet.append([_safe_cell(v) for v in row])
        out = io.BytesIO()
        book.save(out)
        data = out.getvalue()
    else:
        raise InvalidInput("导出格式只能是 CSV 或 XLSX", code="bad_format")
    return ExportFile(f"{stem}-{stamp}.{fmt}", CONTENT_TYPES[fmt], data)


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
    tz = ZoneInfo(current_app.config["TIMEZONE"])
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
        stmt = stmt.where(Case.created_at >= local_midnight(filters.date_from))
    if filters.date_to is not None:
        stmt = stmt.where(Case.created_at < local_midnight(filters.date_to + timedelta(days=1)))
    report(10, "正在读取案件")
    results = db.session.execute(stmt).all()
    rows = []
    step = max(1, len(results) // 10)
    for index, (case, mobile_masked) in enumerate(results):
        clocks = pending_clocks(case)
        rows.append(
            [
                case.number,
                case.status.label,
                case.urgency.label,
                CHANNEL_LABELS.get(case.channel, case.channel.value),
                case.street.name,
                case.team.name if case.team else "",
                case.site_name,
                "、".join(e.get("name", "") for e in (case.employers or []) if e.get("name")),
                case.workers_affected,
                round(case.amount_owed_fen / 100, 2),
                mobile_masked or "",
                case.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                case.resolved_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                if case.resolved_at
                else "",
                OUTCOME_LABELS.get(case.outcome, "") if case.outcome else "",
                round(recovered_fen(case) / 100, 2),
                "是" if clocks and clocks[0][1] < now else "否",
            ]
        )
        if index % step == 0:
            report(10 + 70 * index // max(1, len(results)), f"已处理{index}件")
    report(85, "正在生成文件")
    return _tabular("案件", CASE_COLUMNS, rows, fmt, "cases")


INDICATOR_COLUMNS = [
    "范围",
    "受理案件",
    "在办案件",
    "已办结",
    "已结案",
    "按时办结率（%）",
    "结案率（%）",
    "特急案件",
    "涉及工人",
    "追回欠薪（元）",
]


def export_indicators(
    actor: Actor, fmt: str, year: int | None = None, *, progress: ProgressCallback | None = None
) -> ExportFile:
    """The year's indicators per street and team (and the district, for district roles)."""
    require_staff_actor(actor)
    report = progress or (lambda pct, message: None)
    year = year or local_today().year
    start = local_midnight(date(year, 1, 1))
    end = local_midnight(date(year + 1, 1, 1))
    report(10, "正在统计指标")
    cases = db.session.scalars(
        sa.select(Case)
        .where(case_scope(actor), Case.created_at >= start, Case.created_at < end)
        .options(selectinload(Case.street), selectinload(Case.team))
    ).all()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    order: list[str] = []

    def add(scope: str, case: Case) -> None:
        if scope not in totals:
            order.append(scope)
        row = totals[scope]
        row["received"] += 1
        row["open"] += case.status in OPEN_STATUSES
        resolved = case.resolved_at is not None
        row["resolved"] += resolved
        row["closed"] += case.status == CaseStatus.CLOSED
        on_time = resolved and (
            case.resolve_due_at is None or case.resolved_at <= case.resolve_due_at
        )
        row["on_time"] += bool(on_time)
        row["critical"] += case.urgency == Urgency.CRITICAL
        row["workers"] += case.workers_affected
        row["recovered_fen"] += recovered_fen(case)

    district_scope = actor.staff_role != StaffRole.STREET_STAFF
    for case in sorted(cases, key=lambda c: (c.street_id, c.team_id or 0)):
        if district_scope:
            add(f"{current_app.config['DISTRICT_NAME']}（全区）", case)
        add(case.street.name, case)
        if case.team is not None:
            add(f"{case.street.name} / {case.team.name}", case)
    rows = []
    for scope in order:
        row = totals[scope]
        rows.append(
            [
                scope,
                row["received"],
                row["open"],
                row["resolved"],
                row["closed"],
                round(100 * row["on_time"] / row["resolved"], 1) if row["resolved"] else "",
                round(100 * row["closed"] / row["received"], 1) if row["received"] else "",
                row["critical"],
                row["workers"],
                round(row["recovered_fen"] / 100, 2),
            ]
        )
    report(80, "正在生成文件")
    return _tabular(f"{year}年指标", INDICATOR_COLUMNS, rows, fmt, f"indicators-{year}")
