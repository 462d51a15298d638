"""The national platform: import its leads as cases (through a background task), dedupe, and
export the 核处结论 replies in its layout."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
import sqlalchemy as sa

from tests.test_console import PASSWORDS, csrf_of, post
from tests.test_team_api import png_bytes
from wagedispute.access.actors import Actor
from wagedispute.cases.evidence import store_evidence
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.handling.team import ResolutionIn, accept_case, resolve_case
from wagedispute.models import (
    BackgroundTask,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    Complainant,
    DisposalTeam,
    EventKind,
    NationalConclusion,
    NationalLead,
    Outcome,
    Role,
    StaffAccount,
    TaskStatus,
    Urgency,
)
from wagedispute.platform.database import db
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.supervision import national_platform, tasks

HEADER = [
    "线索编号",
    "反映时间",
    "反映人姓名",
    "反映人联系电话",
    "反映人身份证号码",
    "被反映单位名称",
    "被反映单位统一社会信用代码",
    "项目名称",
    "项目地址",
    "所属街道",
    "涉及人数",
    "涉及金额（元）",
    "欠薪开始日期",
    "欠薪截止日期",
    "反映内容",
    "办理时限",
]


def lead(number: str, **fields: str) -> list[str]:
    values = {
        "线索编号": number,
        "反映时间": "2026-11-20 10:32:00",
        "反映人姓名": "刘大勇",
        "反映人联系电话": "13912345678",
        "反映人身份证号码": "",
        "被反映单位名称": "深圳市海景建设有限公司",
        "被反映单位统一社会信用代码": "",
        "项目名称": "海景花园三期",
        "项目地址": "深圳市盐田区沙头角街道海景路8号",
        "所属街道": "沙头角街道",
        "涉及人数": "35",
        "涉及金额（元）": "286,000.00",
        "欠薪开始日期": "2026-07-01",
        "欠薪截止日期": "2026-10-31",
        "反映内容": "三十多个工人四个月工资没发，工人说再不给钱就去堵路",
        "办理时限": "2026-12-20",
    }
    values.update(fields)
    return [values[h] for h in HEADER]


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    # The platform's export opened and saved in Excel on a Chinese Windows: GB18030.
    return out.getvalue().encode("gb18030")


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


def staff_actor(username: str) -> Actor:
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username=username)).one()
    return Actor(Role.STAFF, account.id, street_id=account.street_id, staff_role=account.role)


def upload(client, data: bytes, filename: str = "线索导出.csv"):
    return client.post(
        "/console/national/import",
        data={
            "file": (io.BytesIO(data), filename),
            "csrf_token": csrf_of(client, "/console/national"),
        },
        content_type="multipart/form-data",
    )


def test_national_import_then_export_round_trip(sign_in, drain, district):
    admin = sign_in("admin")
    rows = [
        lead("GJ2026112000001"),
        # The same worker about the same project again: joins the first lead's case.
        lead("GJ2026112000002", **{"反映时间": "2026-11-21 09:00:00", "反映内容": "催办"}),
        lead("GJ2026112000003", **{"反映人联系电话": "12345", "反映人姓名": "王五"}),
        lead("GJ2026112000004", **{"所属街道": "南山街道", "项目地址": "南山区"}),
        lead(
            "GJ2026112000005",
            **{"反映人联系电话": "13712345678", "所属街道": "海山", "项目名称": "海山公园改造"},
        ),
    ]
    answer = upload(admin, csv_file(rows))
    assert answer.status_code == 302 and "/console/tasks/" in answer.headers["Location"]
    assert drain() >= 1
    task = db.session.scalars(sa.select(BackgroundTask)).one()
    assert task.status == TaskStatus.DONE, task.message
    assert task.result["imported"] == 2 and task.result["merged"] == 1
    assert {(e["row"], e["column"]) for e in task.result["errors"]} == {
        (4, "反映人联系电话"),
        (5, "所属街道"),
    }

    first = db.session.scalars(
        sa.select(NationalLead).filter_by(lead_number="GJ2026112000001")
    ).one()
    case = db.session.get(Case, first.case_id)
    assert case.channel == Channel.NATIONAL_PLATFORM and case.street.name == "沙头角街道"
    assert case.foreman is not None and case.foreman.street_id == case.street_id
    assert case.workers_affected == 35 and case.amount_owed_fen == 28_600_000
    assert case.urgency_suggested.value == "critical"
    assert any("堵路" in reason for reason in case.urgency_reasons)
    # Personal data is encrypted on the complainant, never kept in the lead's own fields.
    assert "13912345678" not in str(first.fields) and "刘大勇" not in str(first.fields)
    assert db.session.get(Complainant, case.complainant_id).mobile_masked.endswith("5678")
    merged = db.session.scalars(
        sa.select(NationalLead).filter_by(lead_number="GJ2026112000002")
    ).one()
    assert merged.merged_into_existing and merged.case_id == case.id
    assert db.session.scalars(
        sa.select(CaseEvent).filter_by(case_id=case.id, kind=EventKind.NATIONAL_LEAD)
    ).one()

    # The same file again adds nothing.
    upload(admin, csv_file(rows))
    drain()
    again = db.session.scalars(sa.select(BackgroundTask).order_by(BackgroundTask.id.desc())).first()
    assert again.result["already"] == 3 and again.result["imported"] == 0
    assert db.session.scalar(sa.select(sa.func.count(NationalLead.id))) == 3

    # Nothing is ready while the cases are open.
    page = admin.get("/console/national").get_data(as_text=True)
    assert "GJ2026112000001" in page and "办理中" in page
    answer = post(admin, "/console/national/export", {"format": "xlsx"}, page="/console/national")
    assert answer.status_code == 422

    # The Haishan lead is answered by staff; the first case is resolved by its team.
    other = db.session.scalars(
        sa.select(NationalLead).filter_by(lead_number="GJ2026112000005")
    ).one()
    answer = post(
        admin,
        f"/console/national/leads/{other.id}/conclusion",
        {"conclusion": "10", "note": "三次电话均无人接听，现场核查无此项目，线索不足。"},
        page="/console/national",
    )
    assert answer.status_code == 302
    finish_case(case)

    answer = post(admin, "/console/national/export", {"format": "xlsx"}, page="/console/national")
    assert answer.status_code == 200
    assert "filename*=UTF-8''%E6%A0%B8" in answer.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).active
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(table[0]) == national_platform.REPLY_HEADERS
    replies = {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert set(replies) == {"GJ2026112000001", "GJ2026112000002", "GJ2026112000005"}
    paid = replies["GJ2026112000001"]
    assert (paid["核处结论代码"], paid["核处结论"]) == ("01", "已全额支付")
    assert paid["已支付金额（元）"] == "286000.00" and paid["本地案件编号"] == case.number
    assert paid["是否属实"] == "是" and paid["办结日期"]
    assert "已并案办理" in replies["GJ2026112000002"]["核处情况说明"]
    assert replies["GJ2026112000005"]["核处结论代码"] == "10"
    assert replies["GJ2026112000005"]["是否属实"] == "无法核实"

    # Exported replies are marked; the next "new" export has nothing left.
    answer = post(admin, "/console/national/export", {"format": "csv"}, page="/console/national")
    assert answer.status_code == 422
    answer = post(
        admin,
        "/console/national/export",
        {"format": "csv", "scope": "all"},
        page="/console/national",
    )
    assert answer.status_code == 200
    lines = answer.data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ["线索编号", "核处结论代码", "核处结论"] and len(lines) == 4


def finish_case(case: Case) -> None:
    """The team pays everyone in full, with proof, through the services the team API calls."""
    team = next(
        t for t in db.session.scalars(sa.select(DisposalTeam)) if t.street_id == case.street_id
    )
    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id, street_id=team.street_id)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.CRITICAL),
    )
    accept_case(member, case.number)
    proof = store_evidence(case.id, member, png_bytes())
    db.session.commit()
    resolve_case(
        member,
        case.number,
        ResolutionIn(
            outcome=Outcome.PAID_IN_FULL,
            summary="总包单位代发全部35名工人工资286000元，工人已签收。",
            proof_evidence_ids=[proof.id],
            payments=[{"worker": "35名工人", "amount_fen": 28_600_000}],
        ),
    )


def test_a_file_that_is_not_the_platforms_export_is_refused(app, district):
    admin = staff_actor("admin")
    with pytest.raises(InvalidInput) as refused:
        national_platform.import_leads(admin, "x.csv", "编号,内容\n1,欠薪\n".encode())
    assert refused.value.code == "missing_columns"


def test_street_staff_neither_import_nor_see_national_leads(sign_in, app, district):
    street = sign_in("shatoujiao")
    assert street.get("/console/national").status_code == 404
    with pytest.raises(NotFound):
        tasks.start_task(
            staff_actor("shatoujiao"), "national_import", upload=b"x", upload_filename="a.csv"
        )
    with pytest.raises(NotFound):
        national_platform.set_conclusion(
            staff_actor("shatoujiao"), 1, NationalConclusion.DUPLICATE, "重复反映，已并案办理。"
        )


def test_an_xlsx_export_with_other_header_spellings_is_read(app, district):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(
        ["线索号", "反映人", "联系电话", "工程项目名称", "属地街道", "问题描述", "欠薪人数"]
    )
    sheet.append(["GJ-X-1", "陈师傅", 13612345678, "梅沙湾改造", "梅沙", "两个月工资没发", 3])
    out = io.BytesIO()
    book.save(out)
    result = national_platform.import_leads(staff_actor("admin"), "线索.xlsx", out.getvalue())
    assert (result.imported, result.errors) == (1, [])
    case = db.session.scalars(sa.select(Case).filter_by(channel=Channel.NATIONAL_PLATFORM)).one()
    assert case.street.name == "梅沙街道" and case.workers_affected == 3
    assert case.site_name == "梅沙湾改造"


def test_a_lead_about_a_finished_case_opens_a_new_one(app, district):
    admin = staff_actor("admin")
    national_platform.import_leads(admin, "a.csv", csv_file([lead("GJ-A-1")]))
    first = db.session.scalars(sa.select(Case)).one()
    finish_case(first)
    # The worker confirms the payment: the case is closed.
    transition_case(first.id, CaseStatus.CLOSED, Actor(Role.COMPLAINANT, first.complainant_id))
    national_platform.import_leads(admin, "b.csv", csv_file([lead("GJ-A-2")]))
    second = db.session.scalars(sa.select(NationalLead).filter_by(lead_number="GJ-A-2")).one()
    assert not second.merged_into_existing and second.case_id != first.id
