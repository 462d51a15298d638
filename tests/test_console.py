"""The bureau console: sign-in, CSRF, lockout, scopes by role, reveals, targets, management."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from wagedispute.models import (
    Case,
    Complainant,
    Foreman,
    IndicatorTarget,
    PiiAccessLog,
    StaffAccount,
    TeamMember,
)
from wagedispute.platform.database import db, utcnow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORDS = {
    "admin": "demo-admin-2026",
    "supervisor": "demo-supervisor-2026",
    "shatoujiao": "demo-street-2026",
    "haishan": "demo-street-2026",
}


def csrf_of(client: FlaskClient, path: str = "/console/sign-in") -> str:
    """The CSRF token a page carries."""
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def sign_in(app, district) -> Callable[[str], FlaskClient]:
    """A new client signed in as a demo staff account."""

    def sign(username: str) -> FlaskClient:
        client = app.test_client()
        token = csrf_of(client)
        answer = client.post(
            "/console/sign-in",
            data={"username": username, "password": PASSWORDS[username], "csrf_token": token},
        )
        assert answer.status_code == 302, answer.get_data(as_text=True)
        return client

    return sign


def post(client: FlaskClient, path: str, data: dict[str, Any], page: str = "/console/"):
    """POST a console form with the session's CSRF token."""
    return client.post(path, data={**data, "csrf_token": csrf_of(client, page)})


def street_case(make_case, district, code: str, **fields: Any) -> Case:
    """A case in the given street (through one of its foremen)."""
    street = district["streets"][code]
    foreman = next(f for f in district["foremen"] if f.street_id == street.id)
    return make_case(foreman=foreman, **fields)


def with_complainant(app, case: Case, mobile: str, id_number: str | None = None) -> Complainant:
    """Attach an encrypted complainant to a case, the way intake stores one."""
    vault = app.extensions["wagedispute.pii"]
    person = Complainant(
        name_encrypted=vault.encrypt("王小明"),
        mobile_encrypted=vault.encrypt(mobile),
        mobile_hash=vault.keyed_hash(mobile),
        mobile_masked=mobile[:3] + "****" + mobile[-4:],
    )
    if id_number:
        person.id_number_encrypted = vault.encrypt(id_number)
        person.id_number_masked = id_number[:3] + "*" * 13 + id_number[-2:]
    db.session.add(person)
    db.session.flush()
    db.session.get(Case, case.id).complainant_id = person.id
    db.session.commit()
    return person


def test_console_pages_redirect_to_sign_in_when_signed_out(client):
    answer = client.get("/console/cases")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/console/sign-in?next=/console/cases")


def test_sign_in_sets_a_httponly_lax_cookie_and_shows_the_dashboard(app, district):
    client = app.test_client()
    token = csrf_of(client)
    answer = client.post(
        "/console/sign-in",
        data={"username": "admin", "password": "demo-admin-2026", "csrf_token": token},
    )
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    page = client.get("/console/")
    assert page.status_code == 200
    assert "区信访局管理员" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_session_cookie_is_secure_over_https(app, district):
    client = app.test_client()
    token = csrf_of(client)
    answer = client.post(
        "/console/sign-in",
        data={"username": "admin", "password": "demo-admin-2026", "csrf_token": token},
        base_url="https://localhost",
    )
    assert answer.status_code == 302
    assert "Secure" in answer.headers["Set-Cookie"]


def test_wrong_password_is_refused_in_chinese(app, district):
    client = app.test_client()
    answer = client.post(
        "/console/sign-in",
        data={"username": "admin", "password": "wrong", "csrf_token": csrf_of(client)},
    )
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(app, district):
    client = app.test_client()
    token = csrf_of(client)
    for _ in range(4):
        answer = client.post(
            "/console/sign-in", data={"username": "admin", "password": "x", "csrf_token": token}
        )
        assert answer.status_code == 401
    answer = client.post(
        "/console/sign-in", data={"username": "admin", "password": "x", "csrf_token": token}
    )
    assert answer.status_code == 429
    answer = client.post(
        "/console/sign-in",
        data={"username": "admin", "password": "demo-admin-2026", "csrf_token": token},
    )
    assert answer.status_code == 429
    assert "锁定" in answer.get_data(as_text=True)
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username="admin")).one()
    assert account.locked_until > utcnow() + timedelta(minutes=14)
    # Once the lock has passed, the right password works again.
    account.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    answer = client.post(
        "/console/sign-in",
        data={"username": "admin", "password": "demo-admin-2026", "csrf_token": token},
    )
    assert answer.status_code == 302


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(sign_in, district):
    client = sign_in("admin")
    answer = client.post(
        "/console/manage/foremen",
        data={"name": "新工长", "phone": "13800009999", "street": district["foremen"][0].street_id},
    )
    assert answer.status_code == 400
    answer = client.post(
        "/console/manage/foremen",
        data={
            "name": "新工长",
            "phone": "13800009999",
            "street": district["foremen"][0].street_id,
            "csrf_token": "forged",
        },
    )
    assert answer.status_code == 400
    assert db.session.scalars(sa.select(Foreman).filter_by(name="新工长")).first() is None


def test_sign_in_form_itself_needs_the_csrf_token(app, district):
    client = app.test_client()
    answer = client.post(
        "/console/sign-in", data={"username": "admin", "password": "demo-admin-2026"}
    )
    assert answer.status_code == 400


def test_sign_out_ends_the_session(sign_in):
    client = sign_in("supervisor")
    assert post(client, "/console/sign-out", {}).status_code == 302
    assert client.get("/console/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(app, district):
    client = app.test_client()
    answer = client.post(
        "/console/sign-in",
        data={
            "username": "admin",
            "password": "demo-admin-2026",
            "csrf_token": csrf_of(client),
            "next": "https://evil.example/console",
        },
    )
    assert answer.headers["Location"] == "/console/"


def test_street_staff_see_only_their_street(sign_in, make_case, district, app):
    own = street_case(make_case, district, "shatoujiao", site_name="沙头角甲工地")
    other = street_case(make_case, district, "haishan", site_name="海山乙工地")
    with_complainant(app, other, "13912345678")
    client = sign_in("shatoujiao")

    listing = client.get("/console/cases").get_data(as_text=True)
    assert own.number in listing and other.number not in listing
    assert client.get(f"/console/cases/{own.id}").status_code == 200
    assert client.get(f"/console/cases/{other.id}").status_code == 404
    answer = post(
        client, f"/console/cases/{other.id}/reveal", {"field": "mobile", "reason": "核实"}
    )
    assert answer.status_code == 404
    assert "13912345678" not in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PiiAccessLog)) == 0
    # Filtering by the other street does not widen the scope.
    street_b = district["streets"]["haishan"].id
    listing = client.get(f"/console/cases?street={street_b}").get_data(as_text=True)
    assert other.number not in listing
    dashboard = client.get("/console/").get_data(as_text=True)
    assert 'data-figure="open_total">1<' in dashboard


def test_supervisors_see_every_street(sign_in, make_case, district):
    a = street_case(make_case, district, "shatoujiao")
    b = street_case(make_case, district, "haishan")
    client = sign_in("supervisor")
    listing = client.get("/console/cases").get_data(as_text=True)
    assert a.number in listing and b.number in listing
    assert client.get(f"/console/cases/{b.id}").status_code == 200
    assert 'data-figure="open_total">2<' in client.get("/console/").get_data(as_text=True)


def test_reveal_needs_a_reason_and_logs_who_saw_what(sign_in, make_case, district, app):
    case = street_case(make_case, district, "shatoujiao")
    with_complainant(app, case, "13912345678", "110101199003074514")
    client = sign_in("shatoujiao")
    page = client.get(f"/console/cases/{case.id}").get_data(as_text=True)
    assert "139****5678" in page and "13912345678" not in page
    assert "110*************14" in page and "110101199003074514" not in page

    refused = post(client, f"/console/cases/{case.id}/reveal", {"field": "mobile", "reason": ""})
    assert refused.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PiiAccessLog)) == 0

    shown = post(
        client, f"/console/cases/{case.id}/reveal", {"field": "mobile", "reason": "电话核实"}
    )
    assert shown.status_code == 200
    assert "13912345678" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    row = db.session.scalars(sa.select(PiiAccessLog)).one()
    staff = db.session.scalars(sa.select(StaffAccount).filter_by(username="shatoujiao")).one()
    assert (row.staff_id, row.case_id, row.field, row.reason) == (
        staff.id,
        case.id,
        "mobile",
        "电话核实",
    )
    # The log is shown on the case, the number is not shown again.
    again = client.get(f"/console/cases/{case.id}").get_data(as_text=True)
    assert "电话核实" in again and "13912345678" not in again


def test_case_list_filters_by_status_text_and_overdue(sign_in, make_case, district):
    late = street_case(make_case, district, "shatoujiao", site_name="滨海大道工地")
    late.dispatch_due_at = utcnow() - timedelta(hours=1)
    fresh = street_case(
        make_case,
        district,
        "shatoujiao",
        site_name="北山道工地",
        employers=[{"role": "总包", "name": "深圳市鹏程建设有限公司"}],
    )
    fresh.dispatch_due_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    client = sign_in("supervisor")
    overdue = client.get("/console/cases?overdue=1").get_data(as_text=True)
    assert late.number in overdue and fresh.number not in overdue
    by_text = client.get("/console/cases?q=鹏程").get_data(as_text=True)
    assert fresh.number in by_text and late.number not in by_text
    by_site = client.get("/console/cases?q=滨海").get_data(as_text=True)
    assert late.number in by_site and fresh.number not in by_site
    closed = client.get("/console/cases?status=closed").get_data(as_text=True)
    assert late.number not in closed and fresh.number not in closed
    assert client.get("/console/cases?status=bogus").status_code == 422


def test_case_list_pages_by_keyset_without_gaps_or_repeats(sign_in, make_case, district):
    made = {street_case(make_case, district, "meisha").number for _ in range(7)}
    client = sign_in("supervisor")
    from wagedispute.supervision import casebook

    seen: list[str] = []
    path = "/console/cases"
    original = casebook.PAGE_SIZE
    casebook.PAGE_SIZE = 3
    try:
        from wagedispute.access.actors import Actor
        from wagedispute.models import Role, StaffRole

        actor = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_SUPERVISOR)
        cursor = None
        while True:
            page = casebook.list_cases(actor, casebook.CaseFilter(), cursor=cursor, page_size=3)
            seen += [r.number for r in page.rows]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    finally:
        casebook.PAGE_SIZE = original
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert client.get(path + "?after=garbage").status_code == 422


def test_only_admins_edit_targets(sign_in, district):
    supervisor = sign_in("supervisor")
    answer = post(
        supervisor, "/console/targets", {"year": "2026", "on_time_rate": "90"}, "/console/targets"
    )
    assert answer.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndicatorTarget)) == 0

    admin = sign_in("admin")
    answer = post(
        admin,
        "/console/targets",
        {"year": "2026", "on_time_rate": "92.5", "money_recovered": "5000000"},
        "/console/targets",
    )
    assert answer.status_code == 302
    rows = {t.indicator: t.value for t in db.session.scalars(sa.select(IndicatorTarget))}
    assert rows == {"on_time_rate": 92.5, "money_recovered": 5000000}
    bad = post(admin, "/console/targets", {"year": "2026", "closure_rate": "120"}, "/console/")
    assert bad.status_code == 422


def test_only_admins_manage_staff_and_foremen(sign_in, district):
    street = district["streets"]["meisha"].id
    supervisor = sign_in("supervisor")
    assert "工作人员账户" not in supervisor.get("/console/manage").get_data(as_text=True)
    answer = post(
        supervisor,
        "/console/manage/staff",
        {
            "username": "x1",
            "display_name": "某人",
            "password": "long-enough-1",
            "role": "street_staff",
            "street": street,
        },
    )
    assert answer.status_code == 404
    answer = post(
        supervisor,
        "/console/manage/foremen",
        {"name": "新工长", "phone": "13800009999", "street": street},
    )
    assert answer.status_code == 404

    admin = sign_in("admin")
    answer = post(
        admin,
        "/console/manage/staff",
        {
            "username": "meisha2",
            "display_name": "梅沙新同事",
            "password": "long-enough-1",
            "role": "street_staff",
            "street": street,
        },
    )
    assert answer.status_code == 302
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username="meisha2")).one()
    assert account.street_id == street and account.password_hash.startswith("$argon2")

    answer = post(
        admin,
        "/console/manage/foremen",
        {"name": "新工长", "phone": "13800009999", "street": street},
    )
    assert answer.status_code == 302
    foreman = db.session.scalars(sa.select(Foreman).filter_by(name="新工长")).one()
    assert (
        post(admin, f"/console/manage/foremen/{foreman.id}/active", {"active": "0"}).status_code
        == 302
    )
    db.session.refresh(foreman)
    assert foreman.active is False


def test_admin_issues_a_binding_code_shown_once(sign_in, district):
    admin = sign_in("admin")
    member = db.session.scalars(sa.select(TeamMember).order_by(TeamMember.id)).first()
    answer = post(admin, "/console/manage/binding-codes", {"member": member.id, "who": member.name})
    assert answer.status_code == 302
    first = admin.get("/console/manage").get_data(as_text=True)
    assert "的绑定码" in first
    assert "的绑定码" not in admin.get("/console/manage").get_data(as_text=True)


def test_deactivated_staff_lose_their_session(sign_in, app):
    client = sign_in("haishan")
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username="haishan")).one()
    account.active = False
    db.session.commit()
    assert client.get("/console/").status_code == 302


def test_dashboard_draws_its_charts_as_inline_svg(sign_in, make_case, district):
    street_case(make_case, district, "yantian")
    page = sign_in("supervisor").get("/console/").get_data(as_text=True)
    assert page.count("<svg") >= 4
    assert '<script src="http' not in page and "https://" not in page
