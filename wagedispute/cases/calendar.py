"""The working-day calendar: the State Council's holiday notices entered by staff, in the database.

Every clock asks ``working_day_from_notices(day)`` first (``clocks.is_working_day``): a year
whose notice staff entered is known completely (the listed holidays are off, the listed make-up
days are worked, every other day is Monday to Friday); other years fall back to the
``chinese_calendar`` package, which knows only the years published before its release.

Each process keeps the entered calendar in memory and checks, once per transaction, a
two-number version of it (count of years, sum of their revisions): an edit made in the console
reaches every web and worker process on their next unit of work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from chinese_calendar import constants as calendar_data
from flask import has_app_context

from wagedispute.access.actors import Actor
from wagedispute.models import CalendarDay, CalendarDayKind, CalendarYear, Role, StaffRole
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound

# Days ahead the dashboard looks for a year without any calendar.
WARNING_HORIZON_DAYS = 60
SESSION_KEY = "wagedispute.calendar"
MAX_LINES = 60

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}

# "春节 2027-02-06 至 2027-02-13", "2027-02-14 春节", "2027/2/6~2027/2/13"
_DATE = r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
_LINE = re.compile(rf"{_DATE}(?:\s*(?:至|到|~|～|—|－)\s*{_DATE})?")


@dataclass(frozen=True)
class Snapshot:
    """The entered calendar as one process sees it."""

    token: tuple[int, int]
    years: frozenset[int]
    workdays: dict[date, bool] = field(default_factory=dict)


_snapshots: dict[str, Snapshot] = {}


@cache
def package_years() -> frozenset[int]:
    """The years the installed chinese_calendar package knows."""
    return frozenset(d.year for d in calendar_data.holidays)


def _snapshot() -> Snapshot | None:
    """The entered calendar, re-read only when its version changed; None outside an app."""
    if not has_app_context():
        return None
    session = db.session()  # the request's Session behind the scoped proxy
    cached = session.info.get(SESSION_KEY)
    transaction = session.get_transaction()
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    with session.no_autoflush:
        count, revisions = session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(CalendarYear.revision), 0))
        ).one()
        token = (int(count), int(revisions))
        key = session.get_bind().url.render_as_string(hide_password=True)
        snapshot = _snapshots.get(key)
        if snapshot is None or snapshot.token != token:
            years = frozenset(session.scalars(sa.select(CalendarYear.year)))
            days = {
                day: kind == CalendarDayKind.WORKDAY
                for day, kind in session.execute(sa.select(CalendarDay.day, CalendarDay.kind))
            }
            snapshot = Snapshot(token, years, days)
            _snapshots[key] = snapshot
    session.info[SESSION_KEY] = (session.get_transaction(), snapshot)
    return snapshot


def working_day_from_notices(day: date) -> bool | None:
    """Whether ``day`` is worked, by an entered notice; None when no notice covers its year."""
    snapshot = _snapshot()
    if snapshot is None or day.year not in snapshot.years:
        return None
    known = snapshot.workdays.get(day)
    return known if known is not None else day.weekday() < 5


def has_calendar(year: int) -> bool:
    """Whether the clocks know ``year``'s holidays (an entered notice or the package)."""
    snapshot = _snapshot()
    entered = snapshot is not None and year in snapshot.years
    return entered or year in package_years()


def years_without_calendar(today: date, horizon_days: int = WARNING_HORIZON_DAYS) -> list[int]:
    """Years the next ``horizon_days`` reach that no calendar covers."""
    last = today + timedelta(days=horizon_days)
    return [year for year in range(today.year, last.year + 1) if not has_calendar(year)]


def calendar_warning(today: date) -> str | None:
    """The dashboard's warning when deadlines soon fall in a year without holidays."""
    missing = years_without_calendar(today)
    if not missing:
        return None
    years = "、".join(f"{year}年" for year in missing)
    return (
        f"未来{WARNING_HORIZON_DAYS}天将进入{years}，尚未录入国务院节假日安排："
        "办理时限暂按周一至周五计算，春节等假期和调休上班日都不会被考虑。"
        "请在“工作日历”中录入当年通知。"
    )


# --- Reading and editing a year ---------------------------------------------------------------


@dataclass(frozen=True)
class YearCalendar:
    """One year as the console shows it."""

    year: int
    source: str  # "entered", "package" or "missing"
    notice: str
    holidays: list[tuple[date, str]]
    workdays: list[tuple[date, str]]
    updated_at: datetime | None = None

    @property
    def source_label(self) -> str:
        """Where the year's dates come from, in Chinese."""
        return {
            "entered": "已录入国务院通知",
            "package": "软件内置（chinese-calendar）",
            "missing": "未录入：按周一至周五计算",
        }[self.source]


def _require_staff(actor: Actor) -> None:
    if actor.role != Role.STAFF or actor.id is None:
        raise NotFound()


def _package_year(year: int) -> tuple[list[tuple[date, str]], list[tuple[date, str]]]:
    """The package's holidays and make-up days of a year, with Chinese names."""
    holidays = [
        (day, HOLIDAY_NAMES.get(name, name))
        for day, name in sorted(calendar_data.holidays.items())
        if day.year == year
    ]
    workdays = [
        (day, HOLIDAY_NAMES.get(name, name))
        for day, name in sorted(calendar_data.workdays.items())
        if day.year == year
    ]
    return holidays, workdays


def get_year(actor: Actor, year: int) -> YearCalendar:
    """A year's calendar: the entered notice, else the package's dates, else nothing."""
    _require_staff(actor)
    if not 2000 <= year <= 2100:
        raise NotFound()
    row = db.session.get(CalendarYear, year)
    if row is not None:
        holidays = [(d.day, d.name) for d in row.days if d.kind == CalendarDayKind.HOLIDAY]
        workdays = [(d.day, d.name) for d in row.days if d.kind == CalendarDayKind.WORKDAY]
        return YearCalendar(year, "entered", row.notice, holidays, workdays, row.updated_at)
    if year in package_years():
        holidays, workdays = _package_year(year)
        return YearCalendar(year, "package", "", holidays, workdays)
    return YearCalendar(year, "missing", "", [], [])


def list_years(actor: Actor, today: date) -> list[YearCalendar]:
    """Last year to two years ahead, plus every year staff entered."""
    _require_staff(actor)
    entered = set(db.session.scalars(sa.select(CalendarYear.year)))
    years = sorted(entered | set(range(today.year - 1, today.year + 3)))
    return [get_year(actor, year) for year in years]


def parse_dates(text: str, year: int, what: str) -> list[tuple[date, str]]:
    """Lines such as "春节 2027-02-06 至 2027-02-13" or "2027-02-14 春节" as (date, name)."""
    found: dict[date, str] = {}
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"{what}最多{MAX_LINES}行", code="calendar_too_long")
    for number, line in enumerate(lines, start=1):
        match = _LINE.search(line)
        if match is None:
            raise InvalidInput(
                f"{what}第{number}行无法识别：“{line[:40]}”，请写成“春节 2027-02-06 至 2027-02-13”",
                code="calendar_line_invalid",
            )
        parts = [int(p) if p else None for p in match.groups()]
        try:
            first = date(parts[0], parts[1], parts[2])
            last = date(parts[3], parts[4], parts[5]) if parts[3] else first
        except ValueError as exc:
            raise InvalidInput(
                f"{what}第{number}行的日期不存在", code="calendar_date_invalid"
            ) from exc
        if last < first or (last - first).days > 31:
            raise InvalidInput(f"{what}第{number}行的日期区间有误", code="calendar_range_invalid")
        if first.year != year or last.year != year:
            raise InvalidInput(
                f"{what}第{number}行的日期不在{year}年内", code="calendar_wrong_year"
            )
        name = (line[: match.start()] + line[match.end() :]).strip(" ：:，,（）()")[:32]
        day = first
        while day <= last:
            found[day] = name
            day += timedelta(days=1)
    return sorted(found.items())


def format_dates(entries: Iterable[tuple[date, str]]) -> str:
    """Dates as staff type them, consecutive days of one holiday as a range (the form's text)."""
    lines: list[str] = []
    runs: list[list[object]] = []
    for day, name in sorted(entries):
        if runs and runs[-1][2] == name and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day, name])
    for first, last, name in runs:
        span = first.isoformat() if first == last else f"{first.isoformat()} 至 {last.isoformat()}"
        lines.append(f"{name} {span}".strip())
    return "\n".join(lines)


def save_year(
    actor: Actor, year: int, notice: str, holidays_text: str, workdays_text: str
) -> CalendarYear:
    """Enter or correct a year's notice (district admin); every clock uses it from then on."""
    _require_staff(actor)
    if actor.staff_role != StaffRole.DISTRICT_ADMIN:
        raise NotFound()
    if not 2000 <= year <= 2100:
        raise InvalidInput("年份无效", code="calendar_year_invalid")
    notice = (notice or "").strip()
    if not notice:
        raise InvalidInput("请填写通知名称和文号", code="calendar_notice_required")
    holidays = parse_dates(holidays_text, year, "放假日期")
    workdays = parse_dates(workdays_text, year, "调休上班日期")
    if not holidays:
        raise InvalidInput("请至少填写一个放假日期", code="calendar_holidays_required")
    both = sorted({d for d, _ in holidays} & {d for d, _ in workdays})
    if both:
        raise InvalidInput(f"{both[0].isoformat()} 不能既放假又上班", code="calendar_day_conflict")
    weekdays = [d for d, _ in workdays if d.weekday() < 5]
    if weekdays:
        raise InvalidInput(
            f"调休上班日应为周六或周日：{weekdays[0].isoformat()} 是工作日",
            code="calendar_workday_not_weekend",
        )
    with unit_of_work():
        row = db.session.get(CalendarYear, year)
        if row is None:
            row = CalendarYear(year=year, notice=notice[:200], revision=1)
            db.session.add(row)
        else:
            row.notice = notice[:200]
            row.revision += 1
            row.days.clear()
            db.session.flush()
        row.updated_by = actor.id
        row.updated_at = utcnow()
        row.days.extend(_days(year, holidays, CalendarDayKind.HOLIDAY))
        row.days.extend(_days(year, workdays, CalendarDayKind.WORKDAY))
        db.session.flush()
        db.session.info.pop(SESSION_KEY, None)
    return row


def _days(
    year: int, entries: Iterable[tuple[date, str]], kind: CalendarDayKind
) -> list[CalendarDay]:
    return [CalendarDay(day=day, year=year, kind=kind, name=name) for day, name in entries]
