"""The working-day calendar entered in the console: every clock uses it at once."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.test_console import PASSWORDS, csrf_of, post
from wagedispute.access.actors import Actor
from wagedispute.cases import calendar
from wagedispute.cases.clocks import add_working_days, is_working_day
from wagedispute.models import CalendarYear, Role, StaffRole
from wagedispute.platform.database import db
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_zone

NOTICE_2027 = {
    "notice": "国务院办公厅关于2027年部分节假日安排的通知（测试用）",
    "holidays": "元旦 2027-01-01\n春节 2027-02-06 至 2027-02-14",
    "workdays": "春节 2027-02-20",
}


@pytest.fixture
def sign_in(app, district):
    """A new client signed in as a demo staff account."""

    def sign(username: str):
        client = app.test_client()
        data = {
            "username": username,
            "password": PASSWORDS[username],
            "csrf_token": csrf_of(client),
        }
        assert client.post("/console/sign-in", data=data).status_code == 302
        return client

    return sign


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=district_zone())


def test_calendar_2027_makeup_working_day_entered_in_the_console_moves_a_deadline(sign_in):
    # Friday 19 Feb 2027, 20:00: one working day later is Monday while 2027 is unknown.
    received = local(2027, 2, 19, 20, 0)
    assert add_working_days(received, 1) == local(2027, 2, 22, 18, 0)
    # The week of 春节 counts as working days too.
    assert add_working_days(local(2027, 2, 4, 10, 0), 3) == local(2027, 2, 9, 18, 0)
    db.session.rollback()

    admin = sign_in("admin")
    answer = post(admin, "/console/calendar/2027", NOTICE_2027, page="/console/calendar/2027")
    assert answer.status_code == 302
    page = admin.get("/console/calendar/2027").get_data(as_text=True)
    assert "已录入国务院通知" in page and 'data-workday="2027-02-20"' in page
    # The form shows the notice as it was typed: one line per holiday, ranges kept.
    assert "春节 2027-02-06 至 2027-02-14" in page

    # The make-up Saturday is a working day now, and the festival week is not.
    assert add_working_days(received, 1) == local(2027, 2, 20, 18, 0)
    assert add_working_days(local(2027, 2, 4, 10, 0), 3) == local(2027, 2, 16, 18, 0)
    assert is_working_day(date(2027, 2, 20)) and not is_working_day(date(2027, 2, 8))


def test_a_correction_reaches_a_process_that_had_the_calendar_cached(sign_in):
    admin = sign_in("admin")
    post(admin, "/console/calendar/2027", NOTICE_2027, page="/console/calendar/2027")
    assert is_working_day(date(2027, 2, 20))
    db.session.rollback()
    corrected = {**NOTICE_2027, "workdays": "春节 2027-02-21"}
    post(admin, "/console/calendar/2027", corrected, page="/console/calendar/2027")
    assert not is_working_day(date(2027, 2, 20)) and is_working_day(date(2027, 2, 21))
    assert db.session.get(CalendarYear, 2027).revision == 2


def test_a_year_the_package_knows_is_shown_and_the_notice_overrides_it(sign_in):
    admin = sign_in("admin")
    page = admin.get("/console/calendar/2026").get_data(as_text=True)
    assert "软件内置" in page and "春节 2026-02-15 至 2026-02-23" in page
    assert not is_working_day(date(2026, 10, 7)) and is_working_day(date(2026, 10, 10))
    db.session.rollback()
    notice = {
        "notice": "更正后的2026年国庆节安排（测试用）",
        "holidays": "国庆节 2026-10-01 至 2026-10-07",
        "workdays": "国庆节 2026-10-11",
    }
    answer = post(admin, "/console/calendar/2026", notice, page="/console/calendar/2026")
    assert answer.status_code == 302
    assert not is_working_day(date(2026, 10, 10)) and is_working_day(date(2026, 10, 11))
    # Everything else in the year is Monday to Friday: the package's 春节 is no longer used.
    assert is_working_day(date(2026, 2, 17))


def test_the_dashboard_warns_when_the_next_60_days_reach_a_year_without_calendar(
    sign_in, monkeypatch
):
    monkeypatch.setattr("handlers.console_calendar.district_today", lambda: date(2026, 12, 1))
    admin = sign_in("admin")
    dashboard = admin.get("/console/").get_data(as_text=True)
    assert "data-calendar-warning" in dashboard and "2027年" in dashboard
    assert calendar.years_without_calendar(date(2026, 10, 1)) == []

    post(admin, "/console/calendar/2027", NOTICE_2027, page="/console/calendar/2027")
    assert "data-calendar-warning" not in admin.get("/console/").get_data(as_text=True)


def test_only_a_district_admin_edits_the_calendar(sign_in):
    supervisor = sign_in("supervisor")
    assert supervisor.get("/console/calendar/2027").status_code == 200
    answer = post(supervisor, "/console/calendar/2027", NOTICE_2027, page="/console/calendar/2027")
    assert answer.status_code == 404
    assert db.session.get(CalendarYear, 2027) is None


@pytest.mark.parametrize(
    ("field", "text", "code"),
    [
        ("workdays", "春节 2027-02-17", "calendar_workday_not_weekend"),
        ("holidays", "春节 2028-02-06", "calendar_wrong_year"),
        ("holidays", "春节 二月初六", "calendar_line_invalid"),
        ("workdays", "春节 2027-02-07", "calendar_day_conflict"),
    ],
)
def test_a_notice_that_cannot_be_right_is_refused(app, district, field, text, code):
    from sqlalchemy import select

    from wagedispute.models import StaffAccount

    admin = db.session.scalars(select(StaffAccount).filter_by(username="admin")).one()
    actor = Actor(Role.STAFF, admin.id, staff_role=StaffRole.DISTRICT_ADMIN)
    values = {**NOTICE_2027, field: text}
    with pytest.raises(InvalidInput) as refused:
        calendar.save_year(actor, 2027, values["notice"], values["holidays"], values["workdays"])
    assert refused.value.code == code
    street_actor = Actor(Role.STAFF, admin.id, street_id=1, staff_role=StaffRole.STREET_STAFF)
    with pytest.raises(NotFound):
        calendar.save_year(street_actor, 2027, "x", "", "")
