"""The supervision pages of the console: scope (404), CSRF, forms, task progress, downloads."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
import sqlalchemy as sa

from tests.test_console import PASSWORDS, csrf_of, street_case
from wagedispute.access.actors import Actor
from wagedispute.models import (
    Alert,
    BackgroundTask,
    DailyCheck,
    Letter,
    LetterKind,
    LetterStatus,
    Role,
    StaffAccount,
    TaskStatus,
)
from wagedispute.platform.database import db
from wagedispute.supervision import letters


@pytest.fixture
def sign_in(app, district):
    """A new client signed in as a demo staff account."""

    def sign(username: str):
        client = app.test_client()
        answer = client.post(
            "/console/sign-in",
            data={
                "username": username,
                "password": PASSWORDS[username],
                "csrf_token": csrf_of(client),
            },
        )
        assert answer.status_code == 302
        return client

    return sign


def admin_actor() -> Actor:
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username="admin")).one()
    return Actor(Role.STAFF, account.id, staff_role=account.role)


def post(client, path: str, data: dict, page: str = "/console/daily", **kwargs):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, page)}, **kwargs)


def test_every_supervision_page_renders_for_staff(sign_in, make_case, district):
    make_case()
    client = sign_in("supervisor")
    for path in ("/console/daily", "/console/weekly", "/console/letters", "/console/warnings"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'class="active"' in page.get_data(as_text=True)
    assert client.get("/console/exports").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client):
    answer = client.get("/console/letters")
    assert answer.status_code == 302
    assert "/console/sign-in" in answer.headers["Location"]


def test_check_from_the_daily_page_records_the_staff_member(sign_in, make_case, district):
    case = make_case()
    client = sign_in("shatoujiao")
    assert case.number in client.get("/console/daily").get_data(as_text=True)

    answer = post(client, f"/console/daily/{case.id}/check", {"note": "已核实"})

    assert answer.status_code == 302
    check = db.session.scalars(sa.select(DailyCheck)).one()
    staff = db.session.get(StaffAccount, check.staff_id)
    assert (staff.username, check.note) == ("shatoujiao", "已核实")
    assert "已核实" in client.get("/console/daily").get_data(as_text=True)


def test_street_staff_get_404_for_other_streets_cases_and_letters(sign_in, make_case, district):
    other = street_case(make_case, district, "haishan")
    letter = letters.issue_letter(admin_actor(), other.id, LetterKind.SUPERVISION)
    client = sign_in("shatoujiao")

    assert post(client, f"/console/daily/{other.id}/check", {}).status_code == 404
    assert client.get(f"/console/letters/{letter.id}").status_code == 404
    assert client.get(f"/console/letters/{letter.id}.pdf").status_code == 404
    assert post(client, f"/console/letters/{letter.id}/reply", {"reply": "x"}).status_code == 404
    # Street staff do not issue letters at all.
    answer = post(client, "/console/letters", {"case_id": other.id, "kind": "supervision"})
    assert answer.status_code == 404
    assert letter.number not in client.get("/console/letters").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DailyCheck)) == 0
    assert db.session.get(Letter, letter.id).status == LetterStatus.AWAITING_REPLY


def test_a_post_without_csrf_changes_nothing(sign_in, make_case, district):
    case = make_case()
    client = sign_in("admin")
    answer = client.post(f"/console/daily/{case.id}/check", data={"csrf_token": "forged"})
    assert answer.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DailyCheck)) == 0


def test_issue_a_letter_from_its_draft_and_download_the_pdf(sign_in, make_case, district):
    case = make_case()
    client = sign_in("supervisor")
    draft = client.get(f"/console/letters/new?case_id={case.id}&kind=supervision")
    assert draft.status_code == 200
    text = draft.get_data(as_text=True)
    assert "海景花园二期工地" in text

    answer = post(
        client,
        "/console/letters",
        {"case_id": case.id, "kind": "supervision", "to": "auto", "body": ""},
        page=f"/console/letters/new?case_id={case.id}&kind=supervision",
    )

    assert answer.status_code == 302
    letter = db.session.scalars(sa.select(Letter)).one()
    assert answer.headers["Location"].endswith(f"/console/letters/{letter.id}")
    pdf = client.get(f"/console/letters/{letter.id}.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]

    reply = post(
        client,
        f"/console/letters/{letter.id}/reply",
        {"reply": "已督促处置"},
        page=f"/console/letters/{letter.id}",
    )
    assert reply.status_code == 302
    db.session.expire_all()
    assert db.session.get(Letter, letter.id).status == LetterStatus.REPLIED


def test_upload_import_follow_progress_and_see_the_alert(sign_in, district, drain):
    client = sign_in("admin")
    header = "渠道,收到日期,工地名称,用工单位名称,统一社会信用代码,所属街道,涉及人数,欠薪金额（元）"
    rows = [f"12345,{_today()},工地{i},公司{i},,梅沙,1,100" for i in range(5)]
    data = "\n".join([header, *rows, "坏渠道,2026-01-05,工地,公司,,梅沙,1,1"]).encode()
    token = csrf_of(client, "/console/warnings")

    answer = client.post(
        "/console/warnings/import",
        data={"csrf_token": token, "file": (BytesIO(data), "records.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    task_path = answer.headers["Location"]
    task_id = int(re.search(r"/console/tasks/(\d+)$", task_path).group(1))

    waiting = client.get(task_path)
    assert waiting.headers["Refresh"] == "2"
    assert 'http-equiv="refresh"' in waiting.get_data(as_text=True)
    assert client.get(f"{task_path}.json").get_json()["status"] == "queued"

    drain()

    done = client.get(task_path)
    assert "Refresh" not in done.headers
    body = done.get_data(as_text=True)
    assert "以下行有误" in body and "渠道应为" in body
    status = client.get(f"/console/tasks/{task_id}.json").get_json()
    assert (status["status"], status["progress"]) == ("done", 100)
    alert = db.session.scalars(sa.select(Alert)).one()
    assert alert.title in client.get("/console/warnings").get_data(as_text=True)

    ack = post(client, f"/console/warnings/{alert.id}/acknowledge", {"note": "已核实"})
    assert ack.status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).acknowledged_at is not None


def test_export_downloads_after_the_job_and_tasks_are_scoped(sign_in, make_case, district, drain):
    make_case()
    client = sign_in("admin")
    answer = post(
        client, "/console/exports", {"what": "cases", "format": "xlsx"}, page="/console/exports"
    )
    task_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    drain()
    db.session.expire_all()
    assert db.session.get(BackgroundTask, task_id).status == TaskStatus.DONE
    download = client.get(f"/console/tasks/{task_id}/download")
    assert download.status_code == 200
    assert download.mimetype.endswith("spreadsheetml.sheet")
    assert sign_in("haishan").get(f"/console/tasks/{task_id}").status_code == 404


def test_weekly_page_builds_packs_and_serves_the_pdf(sign_in, district, drain):
    client = sign_in("admin")
    week = _monday()
    answer = post(client, "/console/weekly/build", {"week_start": week}, page="/console/weekly")
    assert answer.status_code == 302
    drain()
    page = client.get(f"/console/weekly?week={week}").get_data(as_text=True)
    pack_ids = re.findall(r"/console/weekly/(\d+)\.pdf", page)
    assert len(pack_ids) == len(district["streets"])
    pdf = client.get(f"/console/weekly/{pack_ids[0]}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # Street staff may read their pack but not build packs.
    street = sign_in("haishan")
    denied = post(street, "/console/weekly/build", {"week_start": week}, page="/console/weekly")
    assert denied.status_code == 404


def _today() -> str:
    from wagedispute.platform.timekeeping import district_today

    return district_today().isoformat()


def _monday() -> str:
    from wagedispute.platform.timekeeping import district_today
    from wagedispute.supervision.weekly_packs import week_start_of

    return week_start_of(district_today()).isoformat()
