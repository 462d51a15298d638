"""Early warning: importing other channels' records, matching, alerts and acknowledgement."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from stdnum.cn import uscc

from wagedispute.access.actors import Actor
from wagedispute.intake.triage import next_spring_festival
from wagedispute.models import (
    Alert,
    AlertKind,
    BackgroundTask,
    ChannelRecord,
    DisputeGroup,
    Role,
    StaffAccount,
    TaskStatus,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision import alerts as alert_service
from wagedispute.supervision import tasks

HEADER = (
    "渠道,收到日期,工地名称,用工单位名称,统一社会信用代码,"
    "所属街道,涉及人数,欠薪金额（元）,反映内容摘要"
)


def valid_uscc(body: str = "91440300MA5FXXXX0") -> str:
    """A credit code with a correct check digit."""
    return body + uscc.calc_check_digit(body)


@pytest.fixture
def staff(district):
    """Staff actors by demo username."""

    def actor(username: str) -> Actor:
        account = db.session.scalars(sa.select(StaffAccount).filter_by(username=username)).one()
        return Actor(Role.STAFF, account.id, street_id=account.street_id, staff_role=account.role)

    return actor


def csv_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def today() -> str:
    return district_today().isoformat()


def alerts(kind: AlertKind | None = None) -> list[Alert]:
    stmt = sa.select(Alert).order_by(Alert.id)
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    return list(db.session.scalars(stmt))


def test_bad_rows_are_reported_in_chinese_and_not_imported(staff):
    code = valid_uscc()
    data = csv_file(
        f"信访,{today()},海景花园工地,深圳市海景建设有限公司,{code},沙头角,5,30000,拖欠工资",
        f"微博,{today()},某工地,某公司,,沙头角,2,100,渠道不对",
        f"12345,2026-13-40,某工地,某公司,{code[:-1]}X,海山,2,100,日期和代码都不对",
        f"人民网,{today()},,,,不存在街道,0,-5,什么都不对",
    )

    result = alert_service.import_and_scan(staff("admin"), "records.csv", data)

    assert result.imported == 1
    assert {e.row for e in result.errors} == {3, 4, 5}
    by_row = {(e.row, e.column): e.message for e in result.errors}
    assert "渠道应为" in by_row[(3, "渠道")]
    assert by_row[(4, "收到日期")] == "收到日期应为 YYYY-MM-DD 格式"
    assert by_row[(4, "统一社会信用代码")] == "统一社会信用代码校验位错误"
    assert "至少填写一项" in by_row[(5, "工地名称")]
    assert "街道不存在" in by_row[(5, "所属街道")]
    assert "正整数" in by_row[(5, "涉及人数")]
    assert "不小于0" in by_row[(5, "欠薪金额（元）")]
    records = db.session.scalars(sa.select(ChannelRecord)).all()
    assert [(r.source_row, r.uscc, r.amount_fen) for r in records] == [(2, code, 3_000_000)]


def test_a_file_without_the_template_columns_is_refused(staff):
    with pytest.raises(InvalidInput) as refused:
        alert_service.import_and_scan(staff("admin"), "x.csv", "名称,日期\n甲,乙\n".encode())
    assert refused.value.code == "missing_columns"


def test_importing_the_same_file_twice_adds_nothing(staff):
    data = csv_file(f"信访,{today()},海景花园工地,深圳市海景建设有限公司,,沙头角,5,300,欠薪")
    first = alert_service.import_and_scan(staff("admin"), "a.csv", data)
    second = alert_service.import_and_scan(staff("admin"), "a.csv", data)
    assert (first.imported, second.imported, second.duplicates) == (1, 0, 1)


def test_gbk_csv_and_xlsx_both_import(staff):
    gbk = csv_file(f"人民网,{today()},海景花园工地,海景建设公司,,海山,2,100,欠薪").decode()
    assert alert_service.import_and_scan(staff("admin"), "g.csv", gbk.encode("gbk")).imported == 1

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append(
        [
            "全国根治欠薪线索反映平台",
            date.today(),
            "某工地",
            "某劳务公司",
            None,
            "梅沙街道",
            4,
            5000.5,
            "x",
        ]
    )
    out = io.BytesIO()
    book.save(out)
    result = alert_service.import_and_scan(staff("admin"), "r.xlsx", out.getvalue())
    assert (result.imported, result.errors) == (1, [])
    record = db.session.scalars(
        sa.select(ChannelRecord).where(ChannelRecord.channel == "national_platform")
    ).one()
    assert record.amount_fen == 500_050


def test_same_employer_across_channels_raises_exactly_one_alert(make_case, staff):
    code = valid_uscc()
    case = make_case(employers=[{"role": "总包", "name": "深圳市海景建设有限公司", "uscc": code}])
    data = csv_file(
        # Matched by credit code, by normalised name and (third row) both.
        f"信访,{today()},海景花园工地,深圳市海景建设有限公司,{code},沙头角,5,300,欠薪",
        f"12345,{today()},海景花园,深圳市海景建设股份有限公司 ,,沙头角,2,100,欠薪",
        f"人民网,{today()},,深圳市 海景建设有限公司,{code},沙头角,1,100,欠薪",
    )

    result = alert_service.import_and_scan(staff("admin"), "a.csv", data)

    cross = alerts(AlertKind.CROSS_CHANNEL)
    assert len(cross) == 1
    assert cross[0].subject_key == f"uscc:{code}"
    assert cross[0].id in result.alert_ids
    assert set(cross[0].details["channels"]) == {"工长制", "信访", "12345/民意速办", "人民网"}
    assert f"case:{case.id}" in cross[0].details["sources"]
    record = db.session.scalars(
        sa.select(ChannelRecord).where(ChannelRecord.channel == "petition")
    ).one()
    assert record.matched_case_ids == [case.id]
    # Scanning again (or importing more about it) refreshes, never duplicates.
    alert_service.import_and_scan(
        staff("admin"),
        "b.csv",
        csv_file(f"信访,{today()},,深圳市海景建设有限公司,,沙头角,9,1,再次反映"),
    )
    alert_service.scan_alerts()
    assert len(alerts(AlertKind.CROSS_CHANNEL)) == 1
    assert alerts(AlertKind.CROSS_STREET) == []


def test_same_site_in_two_streets_raises_a_district_alert(staff):
    data = csv_file(
        f"信访,{today()},东港工地,甲公司,,沙头角,5,300,欠薪",
        f"信访,{today()},东港工地,乙公司,,海山,2,100,欠薪",
    )
    alert_service.import_and_scan(staff("admin"), "a.csv", data)
    cross = alerts(AlertKind.CROSS_STREET)
    assert len(cross) == 1 and cross[0].street_id is None
    assert alert_service.list_alerts(staff("shatoujiao")) == []
    assert [a.id for a in alert_service.list_alerts(staff("admin"))] == [cross[0].id]


def test_complaint_spike_in_a_street_raises_an_alert(staff):
    rows = [f"12345,{today()},工地{i},公司{i},,梅沙,1,100,欠薪" for i in range(6)]
    alert_service.import_and_scan(staff("admin"), "a.csv", csv_file(*rows))
    spike = alerts(AlertKind.SPIKE)
    assert len(spike) == 1
    assert spike[0].details["count"] == 6
    assert spike[0].street_id == staff("meisha").street_id


def test_no_spike_when_the_week_matches_the_usual_rate(staff):
    usual = district_today() - timedelta(days=10)
    rows = [f"12345,{usual.isoformat()},工地{i},公司{i},,梅沙,1,100,欠薪" for i in range(24)]
    rows += [f"12345,{today()},新工地{i},新公司{i},,梅沙,1,100,欠薪" for i in range(6)]
    alert_service.import_and_scan(staff("admin"), "a.csv", csv_file(*rows))
    assert alerts(AlertKind.SPIKE) == []


def test_growing_group_raises_an_alert(make_case, district):
    group = DisputeGroup(match_key="site:东港工地", title="东港工地", workers_total=14)
    db.session.add(group)
    db.session.commit()
    make_case(group_id=group.id, workers_affected=6)
    alert_service.scan_alerts()
    grown = alerts(AlertKind.GROUP_GROWTH)
    assert len(grown) == 1
    assert grown[0].details["new_workers"] == 6


def test_pre_festival_window_flags_open_cases_with_many_workers(make_case, district):
    festival = next_spring_festival(district_today())
    if festival is None:
        pytest.fail("the triage rules need spring festival dates for the coming years")
    big = make_case(workers_affected=25)
    make_case(workers_affected=2)
    before = (festival - timedelta(days=20)).isoformat()
    moment = datetime.fromisoformat(before + "T10:00").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    alert_service.scan_alerts(now=moment)
    flagged = alerts(AlertKind.PRE_FESTIVAL)
    assert [a.subject_key for a in flagged] == [f"case:{big.id}"]
    assert "距春节还有20天" in flagged[0].title
    again = alert_service.scan_alerts(now=moment + timedelta(days=1))
    assert [a for a in again if a.kind == AlertKind.PRE_FESTIVAL] == []
    assert len(alerts(AlertKind.PRE_FESTIVAL)) == 1


def test_acknowledging_is_scoped_and_recorded(staff):
    data = csv_file(*[f"12345,{today()},工地{i},公司{i},,海山,1,100,欠薪" for i in range(5)])
    alert_service.import_and_scan(staff("admin"), "a.csv", data)
    alert = alerts(AlertKind.SPIKE)[0]

    with pytest.raises(NotFound):
        alert_service.acknowledge_alert(staff("meisha"), alert.id, "看过")
    done = alert_service.acknowledge_alert(staff("haishan"), alert.id, "已联系街道核实")

    assert done.acknowledged_by == staff("haishan").id
    assert done.acknowledge_note == "已联系街道核实"
    assert alert_service.list_alerts(staff("haishan")) == []
    assert [
        a.id for a in alert_service.list_alerts(staff("haishan"), include_acknowledged=True)
    ] == [alert.id]


def test_street_staff_may_import_only_their_street(staff):
    data = csv_file(
        f"信访,{today()},甲工地,甲公司,,沙头角,1,1,欠薪",
        f"信访,{today()},乙工地,乙公司,,海山,1,1,欠薪",
    )
    result = alert_service.import_and_scan(staff("shatoujiao"), "a.csv", data)
    assert result.imported == 1
    assert [(e.row, e.message) for e in result.errors] == [(3, "只能导入本街道的记录")]


def test_import_task_runs_as_a_job_with_progress_and_result(staff, drain):
    data = csv_file(
        f"信访,{today()},海景花园工地,海景建设公司,,沙头角,5,300,欠薪",
        f"12345,{today()},海景花园工地,海景建设公司,,沙头角,2,100,欠薪",
        f"坏渠道,{today()},海景花园工地,海景建设公司,,沙头角,2,100,欠薪",
    )
    admin = staff("admin")
    task = tasks.start_task(admin, "import", upload=data, upload_filename="records.csv")

    drain()

    db.session.expire_all()
    task = db.session.get(BackgroundTask, task.id)
    assert (task.status, task.progress) == (TaskStatus.DONE, 100)
    assert task.result["imported"] == 2
    assert [e["row"] for e in task.result["errors"]] == [4]
    assert len(task.result["alert_ids"]) == 1
    assert "导入2条" in task.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChannelRecord)) == 2
    assert utcnow() >= task.finished_at


def test_import_task_with_an_unreadable_file_fails_with_a_message(staff, drain):
    task = tasks.start_task(
        staff("admin"), "import", upload=b"\x00garbage", upload_filename="x.xlsx"
    )
    drain()
    db.session.expire_all()
    task = db.session.get(BackgroundTask, task.id)
    assert task.status == TaskStatus.FAILED
    assert task.message == "无法读取该 XLSX 文件"
