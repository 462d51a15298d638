"""Supervision in a browser: issue the ladder's first letter and download it as a 公文; import
records, see the alert."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import sqlalchemy as sa

from wagedispute.models import Alert, Letter
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.timekeeping import district_today


def test_issue_the_suggested_reminder_letter_and_download_its_pdf(
    district, make_case, staff_page, live_server, tmp_path
):
    case = make_case(employers=[{"role": "总包", "name": "深圳市海景建设有限公司"}])
    case.dispatch_due_at = utcnow() - timedelta(days=2, hours=2)
    db.session.commit()

    page = staff_page("supervisor")
    page.click("nav.mainnav >> text=督办函件")
    row = page.locator(f'table.suggestions tr[data-case="{case.number}"]')
    # The ladder starts at its first rung, however late the case.
    assert "提醒函" in row.inner_text()
    row.locator("text=起草").click()
    page.wait_for_url("**/console/letters/new?*")
    assert "深圳市海景建设有限公司" in page.locator("textarea[name=body]").input_value()
    page.click("form.letter button[type=submit]")
    page.wait_for_selector("[data-letter-number]")
    number = page.locator("[data-letter-number]").inner_text()
    assert number == f"盐信提〔{district_today().year}〕1号"

    with page.expect_download() as download_info:
        page.click("a.download")
    path = tmp_path / "letter.pdf"
    download_info.value.save_as(path)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout.replace("\n", "")
    for fact in (
        "提醒函",
        number,
        "沙头角街道办事处：",
        case.number,
        "海景花园二期工地",
        "深圳市海景建设有限公司",
        "超期3天",
    ):
        assert fact in text, fact
    db.session.rollback()
    assert db.session.scalars(sa.select(Letter.number)).all() == [number]


def test_upload_an_import_file_and_see_the_alert(
    district, make_case, staff_page, live_server, drain, tmp_path
):
    make_case(employers=[{"role": "总包", "name": "深圳市东港建设有限公司"}])
    sample = tmp_path / "records.csv"
    sample.write_text(
        "渠道,收到日期,工地名称,用工单位名称,统一社会信用代码,所属街道,涉及人数,欠薪金额（元）,反映内容摘要\n"
        f"信访,{district_today().isoformat()},东港工地,深圳市东港建设有限公司,,沙头角,6,90000,"
        "反映春节前工资未结清\n",
        encoding="utf-8",
    )

    page = staff_page("admin")
    page.click("nav.mainnav >> text=预警")
    page.set_input_files("form.import input[type=file]", str(sample))
    page.click("form.import button[type=submit]")
    page.wait_for_url("**/console/tasks/*")
    assert page.locator("progress").count() == 1

    drain()  # the worker runs; the page reloads itself every 2 s (no script needed)

    page.wait_for_selector('[data-status="done"]', timeout=30_000)
    page.click("text=查看预警")
    alert_row = page.locator('table.alerts tr[data-alert-kind="cross_channel"]')
    assert "深圳市东港建设有限公司" in alert_row.inner_text()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
