"""周反馈 weekly packs: per street and team, built on schedule, read on the console, printed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import current_app
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy.exc import IntegrityError

from wagedispute.access.actors import Actor, street_scope
from wagedispute.cases.clocks import overdue_clause
from wagedispute.cases.figures import period_figures
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    DisposalTeam,
    EventKind,
    Street,
    WeeklyPack,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_midnight, in_district
from wagedispute.supervision.daily_check import require_staff_actor
from wagedispute.supervision.documents import build_pdf, pdf_styles, pdf_table

ProgressCallback = Callable[[int, str], None]

FIGURE_LABELS = {
    "new": "新收案件",
    "dispatched": "已分派",
    "resolved": "已办结",
    "overdue": "超期未办结",
    "outstanding": "在办案件",
    "recovered_yuan": "追回欠薪（元）",
}


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
    """Street id -> that street's figures for the week, with per-team rows and overdue cases.

    new, resolved and money recovered are the period figures the dashboard uses
    (``cases.figures``); overdue is the clocks' one definition, at the week's end (or
    now, for the current week).
    """
    start = district_midnight(week_start)
    end = start + timedelta(days=7)
    # A deadline counts as missed once it has passed, not merely because it falls in the week.
    overdue_cutoff = min(end, utcnow())
    streets = {s.id: s for s in db.session.scalars(sa.select(Street).order_by(Street.id))}
    teams = {t.id: t for t in db.session.scalars(sa.select(DisposalTeam).order_by(DisposalTeam.id))}
    packs: dict[int, dict[str, Any]] = {
        sid: {"street": _blank(), "teams": {}, "unassigned": _blank(), "overdue_cases": []}
        for sid in streets
    }

    def bump(street_id: int, team_id: int | None, name: str, amount: int) -> None:
        if street_id not in packs:
            return
        packs[street_id]["street"][name] += amount
        if team_id is None or team_id not in teams:
            # Not (yet) with a team: the 未分派 row, so that the team rows add up to the street.
            packs[street_id]["unassigned"][name] += amount
            return
        rows = packs[street_id]["teams"]
        if team_id not in rows:
            rows[team_id] = {"team_id": team_id, "name": teams[team_id].name, **_blank()}
        rows[team_id][name] += amount

    by = (Case.street_id, Case.team_id)
    for (street_id, team_id), week in period_figures(sa.true(), start, end, by=by).items():
        bump(street_id, team_id, "new", week.received)
        bump(street_id, team_id, "resolved", week.resolved)
        bump(street_id, team_id, "recovered_fen", week.recovered_fen)

    alive = sa.and_(Case.created_at < end, sa.or_(Case.closed_at.is_(None), Case.closed_at >= end))
    late = overdue_clause(overdue_cutoff)
    counts = db.session.execute(
        sa.select(
            *by,
            sa.func.count(),
            sa.func.sum(sa.case((late, 1), else_=0)),
        )
        .where(alive)
        .group_by(*by)
    ).all()
    for street_id, team_id, outstanding, overdue in counts:
        bump(street_id, team_id, "outstanding", int(outstanding or 0))
        bump(street_id, team_id, "overdue", int(overdue or 0))
    for street_id, number in db.session.execute(
        sa.select(Case.street_id, Case.number).where(alive, late).order_by(Case.number)
    ):
        if street_id in packs:
            packs[street_id]["overdue_cases"].append(number)

    dispatched = db.session.execute(
        sa.select(*by, sa.func.count(sa.distinct(CaseEvent.case_id)))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind == EventKind.STATUS,
            CaseEvent.to_status == CaseStatus.DISPATCHED,
            CaseEvent.created_at >= start,
            CaseEvent.created_at < end,
        )
        .group_by(*by)
    ).all()
    for street_id, team_id, count in dispatched:
        bump(street_id, team_id, "dispatched", int(count or 0))

    result = {}
    for street_id, pack in packs.items():
        pack["teams"] = [pack["teams"][k] for k in sorted(pack["teams"])]
        for team in teams.values():
            if team.street_id == street_id and team.id not in {t["team_id"] for t in pack["teams"]}:
                pack["teams"].append({"team_id": team.id, "name": team.name, **_blank()})
        pack["teams"].sort(key=lambda row: row["team_id"])
        pack["overdue_cases"] = pack["overdue_cases"][:50]
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
    return street_scope(actor, WeeklyPack.street_id)


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


UNASSIGNED_LABEL = "未分派"
DISTRICT_TOTAL_LABEL = "全区合计"


def team_rows(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """A street pack's team rows followed by its 未分派 row: together they make the street row."""
    unassigned = figures.get("unassigned") or _blank()
    return [*figures.get("teams", []), {"name": UNASSIGNED_LABEL, **unassigned}]


def district_total(packs: list[WeeklyPack]) -> dict[str, Any]:
    """The district's total row of a week: the sum of its street rows."""
    total = _blank()
    for pack in packs:
        for name, value in (pack.figures.get("street") or {}).items():
            if name in total:
                total[name] += value
    return total


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _figure_row(name: str, values: dict[str, Any]) -> list[str]:
    return [
        name,
        str(values["new"]),
        str(values["dispatched"]),
        str(values["resolved"]),
        str(values["overdue"]),
        str(values["outstanding"]),
        _yuan(values["recovered_fen"]),
    ]


def district_pack_pdf(actor: Actor, week_start: date) -> bytes:
    """The district-wide pack of a week: one row per street, the district total, and each
    street's overdue cases (district roles)."""
    require_staff_actor(actor)
    packs = list_weekly_packs(actor, week_start)
    if not packs:
        raise NotFound("该周的周反馈尚未生成", code="no_packs")
    styles = pdf_styles()
    district = current_app.config["DISTRICT_NAME"]
    week_end = week_start + timedelta(days=6)
    header = ["街道", *FIGURE_LABELS.values()]
    widths = [40 * mm] + [20 * mm] * 6
    rows = [_figure_row(p.street.name, p.figures.get("street") or _blank()) for p in packs]
    rows.append(_figure_row(DISTRICT_TOTAL_LABEL, district_total(packs)))
    story: list[Any] = [
        Paragraph(escape(f"{district}欠薪投诉办理周反馈（全区）"), styles["title"]),
        Paragraph(escape(f"{week_start.isoformat()} 至 {week_end.isoformat()}"), styles["number"]),
        Spacer(1, 6 * mm),
        Paragraph("一、各街道及全区合计", styles["heading"]),
        pdf_table([header, *rows], widths),
        Spacer(1, 6 * mm),
        Paragraph("二、各街道超期未办结案件", styles["heading"]),
    ]
    for pack in packs:
        overdue = pack.figures.get("overdue_cases", [])
        text = "、".join(overdue) if overdue else "无"
        story.append(Paragraph(escape(f"{pack.street.name}：{text}"), styles["plain"]))
    built = in_district(max(p.built_at for p in packs))
    story += [
        Spacer(1, 8 * mm),
        Paragraph(escape(f"{district}信访局　{built:%Y-%m-%d %H:%M} 生成"), styles["right"]),
    ]
    return build_pdf(f"周反馈 全区 {week_start.isoformat()}", story)


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

    widths = [40 * mm] + [20 * mm] * 6
    story.append(pdf_table([header, _figure_row(pack.street.name, street)], widths))
    story += [Spacer(1, 6 * mm), Paragraph("二、各处置小组", styles["heading"])]
    rows = [_figure_row(t["name"], t) for t in team_rows(figures)]
    story.append(pdf_table([header, *rows], widths))
    story += [Spacer(1, 6 * mm), Paragraph("三、超期未办结案件", styles["heading"])]
    overdue = figures.get("overdue_cases", [])
    story.append(
        Paragraph(escape("、".join(overdue) if overdue else "本周无超期案件。"), styles["plain"])
    )
    built = in_district(pack.built_at)
    story += [
        Spacer(1, 8 * mm),
        Paragraph(escape(f"{district}信访局　{built:%Y-%m-%d %H:%M} 生成"), styles["right"]),
    ]
    return build_pdf(f"周反馈 {pack.street.name} {pack.week_start.isoformat()}", story)
