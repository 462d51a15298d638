"""The console at a phone's width (390 px): the main pages never scroll sideways."""

from __future__ import annotations

from datetime import timedelta

from wagedispute.models import LetterKind
from wagedispute.platform.database import db, utcnow

PHONE_WIDTH = 390


def test_main_console_pages_fit_a_390px_phone_without_horizontal_overflow(
    staff_page, make_case, tmp_path
):
    case = make_case(
        site_name="海景花园二期工地（东区三标段）",
        employers=[{"role": "总包", "name": "深圳市海景建设工程有限公司"}],
    )
    case.dispatch_due_at = utcnow() - timedelta(days=2)
    db.session.commit()
    page = staff_page("admin", width=PHONE_WIDTH)
    paths = [
        "/console/",
        "/console/cases",
        f"/console/cases/{case.id}",
        "/console/daily",
        "/console/weekly",
        "/console/letters",
        f"/console/letters/new?case_id={case.id}&kind={LetterKind.REMINDER.value}",
        "/console/warnings",
    ]
    widths = {}
    for path in paths:
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(tmp_path / f"{len(widths)}.png"), full_page=True)
    assert widths == {path: width for path, width in widths.items() if width <= PHONE_WIDTH}
