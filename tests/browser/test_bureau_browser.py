"""The bureau's working pages in a real browser: calendar entry, reception day, national leads."""

from __future__ import annotations

from datetime import time, timedelta

import sqlalchemy as sa

from tests.test_national_platform import csv_file, lead
from wagedispute.access.actors import Actor
from wagedispute.cases import calendar
from wagedispute.cases.clocks import is_working_day
from wagedispute.models import Role, StaffAccount
from wagedispute.platform.database import db
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision import national_platform, reception

PAGES = ("/console/reception", "/console/national", "/console/calendar", "/console/calendar/2027")


def admin_actor() -> Actor:
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username="admin")).one()
    return Actor(Role.STAFF, account.id, staff_role=account.role)


def arrange(make_case) -> int:
    """A reception day with one booked slot, and two imported national leads."""
    admin = admin_actor()
    day = district_today() + timedelta(days=1)
    while day.weekday() != 3 or not is_working_day(day):
        day += timedelta(days=1)
    reception_day = reception.create_reception_day(
        admin,
        day,
        leader_name="王明",
        leader_title="区信访局局长",
        place="盐田区信访局一楼接访大厅",
        first_slot=time(9),
        last_slot_end=time(11),
        slot_minutes=30,
        note="本周四上午区信访局局长公开接访，欢迎预约。",
    )
    case = make_case()
    reception.book_slot(admin, reception_day.slots[1].id, case.id, "反映总包不露面")
    rows = [lead("GJ2026112000001"), lead("GJ2026112000009", **{"反映人联系电话": "13712345678"})]
    national_platform.import_leads(admin, "线索.csv", csv_file(rows))
    return reception_day.id


def test_bureau_pages_work_in_a_browser_and_fit_a_phone(staff_page, make_case):
    day_id = arrange(make_case)
    page = staff_page("admin")

    # The dashboard warns exactly when the next 60 days reach a year without a calendar.
    missing = calendar.years_without_calendar(district_today())
    db.session.rollback()
    page.goto("/console/")
    assert page.locator("[data-calendar-warning]").count() == (1 if missing else 0)
    page.screenshot(path="/tmp/bureau-dashboard.png")

    # Enter the 2027 notice through the form, as a clerk would.
    page.goto("/console/calendar/2027")
    page.fill("input[name=notice]", "国务院办公厅关于2027年部分节假日安排的通知")
    page.fill("textarea[name=holidays]", "元旦 2027-01-01\n春节 2027-02-06 至 2027-02-13")
    page.fill("textarea[name=workdays]", "春节 2027-02-20")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("text=2027年工作日历已保存")
    assert page.locator("[data-workday='2027-02-20']").count() == 1
    page.screenshot(path="/tmp/bureau-calendar.png", full_page=True)

    page.goto(f"/console/reception/days/{day_id}")
    assert page.locator("table.slots tr[data-slot]").count() == 4
    assert "反映总包不露面" in page.content()
    page.screenshot(path="/tmp/bureau-reception-day.png", full_page=True)

    page.goto("/console/national")
    assert page.locator("table.leads tr[data-lead]").count() == 2
    page.screenshot(path="/tmp/bureau-national.png", full_page=True)

    # At 390 px (a phone) no page is wider than the screen: wide tables scroll inside their card.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (*PAGES, f"/console/reception/days/{day_id}"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto("/console/reception")
    page.screenshot(path="/tmp/bureau-reception-390.png", full_page=True)
