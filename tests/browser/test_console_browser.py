"""The console in a real browser: sign in, charts, filter, open a case, reveal a phone number."""

from __future__ import annotations

import sqlalchemy as sa

from tests.test_console import street_case, with_complainant
from wagedispute.models import PiiAccessLog
from wagedispute.platform.database import db

SCREENSHOT = "/tmp/console-dashboard.png"


def test_staff_sign_in_see_charts_filter_open_and_reveal_a_phone(
    app, district, make_case, staff_page, live_server
):
    target = street_case(make_case, district, "haishan", site_name="海山观景台工地")
    with_complainant(app, target, "13912345678")
    for code in ("shatoujiao", "yantian", "yantian", "meisha"):
        street_case(make_case, district, code)

    page = staff_page("supervisor")
    # The dashboard draws its charts as inline SVG with the figures in it.
    assert page.locator("svg.chart").count() >= 4
    bars = page.locator("svg.chart rect[data-value]")
    assert any(int(bars.nth(i).get_attribute("data-value")) > 0 for i in range(bars.count()))
    assert page.locator('[data-figure="open_total"]').inner_text() == "5"
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.click("nav.mainnav >> text=案件")
    page.select_option("select[name=street]", str(district["streets"]["haishan"].id))
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/console/cases?*")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 1
    page.click(f"text={target.number}")
    page.wait_for_url(f"**/console/cases/{target.id}")
    assert page.locator('[data-pii="mobile"]').inner_text() == "139****5678"

    page.on("dialog", lambda dialog: dialog.accept())
    page.select_option("form.reveal select[name=field]", "mobile")
    page.fill("form.reveal input[name=reason]", "电话联系工人核实欠薪人数")
    page.click("form.reveal button[type=submit]")
    page.wait_for_selector("[data-revealed]")
    assert "13912345678" in page.locator("[data-revealed]").inner_text()

    db.session.rollback()
    logs = list(db.session.scalars(sa.select(PiiAccessLog)))
    assert [(row.case_id, row.field, row.reason) for row in logs] == [
        (target.id, "mobile", "电话联系工人核实欠薪人数")
    ]


def test_street_staff_browser_sees_no_other_street(
    app, district, make_case, staff_page, live_server
):
    other = street_case(make_case, district, "haishan")
    page = staff_page("meisha")
    page.goto("/console/cases")
    assert other.number not in page.content()
    answer = page.goto(f"/console/cases/{other.id}")
    assert answer.status == 404
