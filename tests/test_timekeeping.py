"""Time-keeping: the district's zone, "today" and midnights come from one module and follow the
TIMEZONE setting; nothing else reads the zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask

from wagedispute.cases.clocks import add_working_days
from wagedispute.platform.timekeeping import (
    district_iso,
    district_midnight,
    district_text,
    district_today,
    district_year,
    district_zone,
)

REPO = Path(__file__).resolve().parent.parent
HOMES = {"wagedispute/platform/timekeeping.py", "wagedispute/platform/config.py"}


def test_the_district_day_turns_at_local_midnight_not_utc(app):
    # 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is already the next day there.
    assert district_today(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert district_today(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == date(2027, 1, 1)
    assert district_year(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == 2027
    assert district_midnight(date(2027, 1, 1)) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert district_midnight(date(2027, 1, 1)).tzinfo is UTC


def test_moments_are_printed_in_the_district(app):
    moment = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert district_iso(moment) == "2026-03-01T09:30:00+08:00"
    assert district_text(moment) == "2026-03-01 09:30"
    assert district_text(None) == "—" and district_iso(None) is None


def test_the_timezone_setting_moves_days_midnights_and_office_hours(make_app):
    other: Flask = make_app(TIMEZONE="Asia/Urumqi")  # UTC+6
    with other.app_context():
        assert str(district_zone()) == "Asia/Urumqi"
        assert district_today(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == date(2026, 12, 31)
        assert district_midnight(date(2027, 1, 1)) == datetime(2026, 12, 31, 18, tzinfo=UTC)
        # Office hours close at 18:00 on the district's wall clock.
        due = add_working_days(datetime(2026, 3, 2, 3, tzinfo=UTC), 1)
        assert due == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def test_nothing_but_the_time_keeping_module_reads_the_zone():
    # Constructing a zone, reading the setting, or converting to a zone other than UTC.
    pattern = re.compile(
        r"""ZoneInfo\(|["']TIMEZONE["']|\.astimezone\((?!UTC\)|district_zone\(\)\))"""
    )
    offenders = []
    for package in ("wagedispute", "handlers"):
        for path in sorted((REPO / package).rglob("*.py")):
            where = str(path.relative_to(REPO))
            if where in HOMES:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if pattern.search(code) and not code.lstrip().startswith(('"', "'")):
                    offenders.append(f"{where}:{number}")
    assert offenders == []
