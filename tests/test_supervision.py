"""日核查 and 周反馈: the daily queue and checks, weekly packs, exports, background tasks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.models import (
    BackgroundTask,
    CaseEvent,
    CaseStatus,
    Complainant,
    DailyCheck,
    Role,
    StaffAccount,
    TaskStatus,
    Urgency,
    WeeklyPack,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision import daily_check as supervision
from wagedispute.supervision import exports, tasks, weekly_packs


@pytest.fixture
def staff(district):
    """Staff actors by demo username (admin, supervisor, shatoujiao, haishan, ...)."""

    def actor(username: str) -> Actor:
        account = db.session.scalars(sa.select(StaffAccount).filter_by(username=username)).one()
        return Actor(Role.STAFF, account.id, street_id=account.street_id, staff_role=account.role)

    return actor


def foreman_of(district, street_code: str):
    return next(
        f for f in district["foremen"] if f.street_id == district["streets"][street_code].id
    )


def team_of(district, street_code: str):
    return next(t for t in district["teams"] if t.street_id == district["streets"][street_code].id)


def dispatch(case, district, street_code="shatoujiao"):
    return transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team_of(district, street_code).id, urgency=Urgency.NORMAL),
    )


# --- 日核查 ------------------------------------------------------------------------------------


def test_new_case_is_in_the_daily_queue_until_checked(make_case, staff):
    case = make_case()
    admin = staff("admin")
    assert [(i.case.id, i.reason) for i in supervision.daily_queue(admin)] == [(case.id, "new")]

    check = supervision.check_case(admin, case.id, "已电话核实")

    assert supervision.daily_queue(admin) == []
    assert check.staff_id == admin.id
    assert check.note == "已电话核实"
    assert [c.id for c in supervision.list_daily_checks(admin)] == [check.id]


def test_a_checked_case_that_changes_comes_back_as_changed(make_case, staff, district):
    case = make_case()
    admin = staff("admin")
    supervision.check_case(admin, case.id)

    dispatch(case, district)

    items = supervision.daily_queue(admin)
    assert [(i.case.id, i.reason) for i in items] == [(case.id, "changed")]


def test_open_case_without_events_for_a_week_is_stale_every_day(make_case, staff):
    case = make_case()
    admin = staff("admin")
    supervision.check_case(admin, case.id, now=utcnow())
    later = utcnow() + timedelta(days=8)

    assert [(i.case.id, i.reason) for i in supervision.daily_queue(admin, now=later)] == [
        (case.id, "stale")
    ]
    supervision.check_case(admin, case.id, now=later)
    assert supervision.daily_queue(admin, now=later) == []
    # The next day it is due again.
    assert len(supervision.daily_queue(admin, now=later + timedelta(days=1))) == 1


def test_street_staff_see_and_check_only_their_street(make_case, staff, district):
    own = make_case(foreman=foreman_of(district, "shatoujiao"))
    other = make_case(foreman=foreman_of(district, "haishan"))
    street = staff("shatoujiao")

    assert [i.case.id for i in supervision.daily_queue(street)] == [own.id]
    with pytest.raises(NotFound):
        supervision.check_case(street, other.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DailyCheck)) == 0

    theirs = supervision.check_case(staff("haishan"), other.id)
    with pytest.raises(NotFound):
        supervision.get_daily_check_for(street, theirs.id)
    assert supervision.list_daily_checks(street) == []
    assert supervision.get_daily_check_for(staff("admin"), theirs.id).id == theirs.id


def test_non_staff_find_no_daily_queue(make_case, district):
    make_case()
    with pytest.raises(NotFound):
        supervision.daily_queue(Actor(Role.FOREMAN, district["foremen"][0].id))


# --- 周反馈 ------------------------------------------------------------------------------------


def test_weekly_pack_counts_new_dispatched_resolved_outstanding_and_overdue(
    make_case, district, staff
):
    street = district["streets"]["shatoujiao"]
    fresh = make_case(foreman=foreman_of(district, "shatoujiao"))
    late = make_case(foreman=foreman_of(district, "shatoujiao"), workers_affected=8)
    dispatch(late, district)
    late.accept_due_at = utcnow() - timedelta(hours=3)
    db.session.commit()
    make_case(foreman=foreman_of(district, "haishan"))

    week = weekly_packs.week_start_of(district_today())
    packs = weekly_packs.build_weekly_packs(week)

    by_street = {p.street_id: p for p in packs}
    assert len(packs) == len(district["streets"])
    figures = by_street[street.id].figures
    assert figures["street"] == {
        "new": 2,
        "dispatched": 1,
        "resolved": 0,
        "overdue": 1,
        "outstanding": 2,
        "recovered_fen": 0,
    }
    assert figures["overdue_cases"] == [late.number]
    team = team_of(district, "shatoujiao")
    team_row = next(t for t in figures["teams"] if t["team_id"] == team.id)
    assert (team_row["dispatched"], team_row["overdue"]) == (1, 1)
    assert fresh.team_id is None
    assert by_street[district["streets"]["haishan"].id].figures["street"]["new"] == 1


def test_rebuilding_a_week_updates_its_packs_in_place(make_case, district):
    week = weekly_packs.week_start_of(district_today())
    first = {p.street_id: p.id for p in weekly_packs.build_weekly_packs(week)}
    make_case()
    second = weekly_packs.build_weekly_packs(week)
    assert {p.street_id: p.id for p in second} == first
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WeeklyPack)) == len(first)
    assert sum(p.figures["street"]["new"] for p in second) == 1


def test_weekly_pack_must_start_on_monday(app):
    monday = weekly_packs.week_start_of(district_today())
    with pytest.raises(InvalidInput):
        weekly_packs.build_weekly_packs(monday + timedelta(days=1))


def test_street_staff_see_only_their_street_pack(district, staff):
    week = weekly_packs.week_start_of(district_today())
    packs = weekly_packs.build_weekly_packs(week)
    street = staff("haishan")
    visible = weekly_packs.list_weekly_packs(street, week)
    assert [p.street_id for p in visible] == [street.street_id]
    other = next(p for p in packs if p.street_id != street.street_id)
    with pytest.raises(NotFound):
        weekly_packs.get_weekly_pack_for(street, other.id)


def test_weekly_pack_pdf_has_chinese_text(district, tmp_path):
    import subprocess

    week = weekly_packs.week_start_of(district_today())
    pack = weekly_packs.build_weekly_packs(week)[0]
    pdf = weekly_packs.pack_pdf(pack)
    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "欠薪投诉办理周反馈" in text
    assert pack.street.name in text
    assert "FontFile2" in pdf.decode("latin-1")  # the TrueType subset is embedded


def test_weekly_pack_job_builds_last_week(district):
    result = tasks.build_weekly_packs_job()
    last_monday = weekly_packs.week_start_of(district_today()) - timedelta(days=7)
    assert result == {"week_start": last_monday.isoformat(), "packs": len(district["streets"])}


# --- Exports ---------------------------------------------------------------------------------


def test_case_export_masks_personal_data(make_case, app, staff):
    vault = app.extensions["wagedispute.pii"]
    complainant = Complainant(
        name_encrypted=vault.encrypt("张三"),
        mobile_encrypted=vault.encrypt("13912345678"),
        mobile_hash=vault.keyed_hash("13912345678"),
        mobile_masked="139****5678",
    )
    db.session.add(complainant)
    db.session.commit()
    case = make_case(
        complainant_id=complainant.id,
        employers=[{"role": "总包", "name": '=HYPERLINK("x")建设公司'}],
    )

    export = exports.export_cases(staff("admin"), "csv")

    text = export.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == exports.CASE_COLUMNS
    assert rows[1][0] == case.number
    assert "139****5678" in rows[1]
    assert "13912345678" not in text and "张三" not in text
    assert rows[1][7].startswith("'=")  # no formula injection into spreadsheets
    assert export.filename.endswith(".csv")


def test_xlsx_exports_of_cases_and_indicators_open_in_openpyxl(make_case, district, staff):
    make_case(foreman=foreman_of(district, "shatoujiao"))
    make_case(foreman=foreman_of(district, "haishan"))
    street = staff("haishan")

    cases = exports.export_cases(street, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(cases.data)).active
    assert sheet.max_row == 2  # header + the street's one case

    indicators = exports.export_indicators(staff("admin"), "xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(indicators.data)).active.values)
    assert rows[0][0] == "范围"
    assert rows[1][0] == "盐田区（全区）" and rows[1][1] == 2


# --- Background tasks --------------------------------------------------------------------------


def test_export_task_runs_as_a_job_and_offers_the_file(make_case, staff, drain):
    make_case()
    admin = staff("admin")
    task = tasks.start_task(admin, "export", {"what": "cases", "format": "csv"})
    assert task.status == TaskStatus.QUEUED

    drain()

    db.session.expire_all()
    task = tasks.get_task_for(admin, task.id)
    assert (task.status, task.progress) == (TaskStatus.DONE, 100)
    filename, content_type, data = tasks.get_task_download(admin, task.id)
    assert filename.startswith("盐田区欠薪投诉案件-") and content_type.startswith("text/csv")
    assert "案件编号" in data.decode("utf-8-sig")


def test_street_staff_cannot_see_district_tasks(staff, district):
    task = tasks.start_task(staff("admin"), "export", {"what": "indicators", "format": "xlsx"})
    with pytest.raises(NotFound):
        tasks.get_task_for(staff("meisha"), task.id)
    with pytest.raises(NotFound):
        tasks.start_task(staff("meisha"), "weekly_packs", {"week_start": "2026-03-02"})


def test_weekly_packs_task_with_a_bad_week_is_refused_before_queuing(staff, district):
    with pytest.raises(InvalidInput):
        tasks.start_task(staff("admin"), "weekly_packs", {"week_start": "2026-03-03"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BackgroundTask)) == 0


def test_running_a_finished_task_again_changes_nothing(staff, district, drain):
    task = tasks.start_task(staff("admin"), "weekly_packs", {"week_start": "2026-03-02"})
    drain()
    db.session.expire_all()
    finished_at = db.session.get(BackgroundTask, task.id).finished_at
    assert tasks.run_background_task(task.id) == {"status": "done"}
    db.session.expire_all()
    assert db.session.get(BackgroundTask, task.id).finished_at == finished_at


def test_daily_check_is_an_internal_timeline_event_that_does_not_requeue_the_case(make_case, staff):
    case = make_case()
    check = supervision.check_case(staff("admin"), case.id, "已核实", now=datetime.now(UTC))
    event = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "check")
    ).one()
    assert (event.worker_visible, event.data["daily_check_id"]) == (False, check.id)
    assert supervision.daily_queue(staff("admin")) == []
