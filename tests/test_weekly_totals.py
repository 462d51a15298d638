"""周反馈 totals: team rows and the 未分派 row add up to the street, streets to the district."""

from __future__ import annotations

import subprocess
from datetime import timedelta

from tests.test_console import sign_in  # noqa: F401  (fixture)
from tests.test_supervision import dispatch, foreman_of, staff  # noqa: F401  (fixture)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision import weekly_packs

SUMMED = ("new", "dispatched", "resolved", "overdue", "outstanding", "recovered_fen")


def test_weekly_team_rows_and_unassigned_row_add_up_to_the_street_and_streets_to_district(
    make_case,
    district,
    staff,  # noqa: F811
):
    waiting = make_case(foreman=foreman_of(district, "shatoujiao"))
    late = make_case(foreman=foreman_of(district, "shatoujiao"))
    dispatch(late, district)
    late.accept_due_at = utcnow() - timedelta(hours=3)
    db.session.commit()
    make_case(foreman=foreman_of(district, "haishan"))

    week = weekly_packs.week_start_of(district_today())
    packs = weekly_packs.build_weekly_packs(week)

    for pack in packs:
        rows = weekly_packs.team_rows(pack.figures)
        assert rows[-1]["name"] == "未分派"
        for name in SUMMED:
            assert sum(row[name] for row in rows) == pack.figures["street"][name], name
    shatoujiao = next(p for p in packs if p.street_id == district["streets"]["shatoujiao"].id)
    unassigned = weekly_packs.team_rows(shatoujiao.figures)[-1]
    assert (unassigned["new"], unassigned["outstanding"]) == (1, 1)  # the waiting case
    assert waiting.team_id is None
    total = weekly_packs.district_total(packs)
    assert total["new"] == 3 and total["overdue"] == 1
    assert total == {n: sum(p.figures["street"][n] for p in packs) for n in SUMMED}


def test_weekly_page_shows_the_district_total_and_serves_the_district_pdf(
    sign_in,  # noqa: F811
    make_case,
    district,
    tmp_path,  # noqa: F811
):
    make_case(foreman=foreman_of(district, "shatoujiao"))
    make_case(foreman=foreman_of(district, "haishan"))
    week = weekly_packs.week_start_of(district_today())
    weekly_packs.build_weekly_packs(week)
    client = sign_in("admin")

    page = client.get(f"/console/weekly?week={week.isoformat()}").get_data(as_text=True)
    assert "全区合计" in page and 'data-row="district-total"' in page

    answer = client.get(f"/console/weekly/district-{week.isoformat()}.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    path = tmp_path / "district.pdf"
    path.write_bytes(answer.data)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "全区合计" in text
    for street in ("沙头角街道", "海山街道"):
        assert street in text
