"""The bureau console: sign-in, throttles, sessions, passwords, CSRF, scopes, reveals, targets."""

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
        # Over HTTPS Flask-WTF also wants a same-origin Referer (browsers send one).
        headers={"Referer": "https://localhost/console/sign-in"},
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


def _try(client: FlaskClient, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "csrf_token": csrf_of(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_five_wrong_passwords_slow_that_address_down_but_not_the_owner_elsewhere(app, district):
    attacker = app.test_client()
    for _ in range(5):
        assert _try(attacker, "admin", "x").status_code == 401
    refused = _try(attacker, "admin", "demo-admin-2026")
    assert refused.status_code == 429
    assert "分钟后再试" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 60
    # The real owner, from another address, is not locked out by the attacker.
    owner = app.test_client()
    assert _try(owner, "admin", "demo-admin-2026", address="10.0.0.2").status_code == 302


def test_a_username_under_attack_from_many_addresses_takes_a_slower_path_not_a_lock(app, district):
    client = app.test_client()
    for index in range(20):
        assert _try(client, "admin", "x", address=f"10.1.0.{index}").status_code == 401
    # Now one attempt per few seconds goes through, from anywhere: the owner gets in.
    assert _try(client, "admin", "demo-admin-2026", address="10.2.0.1").status_code == 302
    assert _try(client, "admin", "x", address="10.2.0.2").status_code == 429


def test_wrong_username_and_wrong_password_answer_the_same(app, district):
    client = app.test_client()
    known = _try(client, "admin", "wrong-password", address="10.3.0.1")
    unknown = _try(client, "nobody-by-this-name", "wrong-password", address="10.3.0.2")
    assert known.status_code == unknown.status_code == 401

    def page(answer: Any) -> str:  # the form's fresh CSRF token differs, nothing else may
        return CSRF.sub("", answer.get_data(as_text=True))

    assert page(known) == page(unknown)


def test_sign_in_attempts_are_limited_per_address(app, district, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ADDRESS", "3 per minute")
    limited = app.test_client()
    for index in range(3):
        assert _try(limited, f"user{index}", "x", address="10.4.0.1").status_code == 401
    refused = _try(limited, "user9", "x", address="10.4.0.1")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


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


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_sign_out_makes_a_copied_cookie_worthless(sign_in, app):
    client = sign_in("supervisor")
    copied = _cookie(client)
    assert post(client, "/console/sign-out", {}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/console/").status_code == 302
    assert thief.get("/console/cases").status_code == 302


def test_password_change_ends_other_sessions_and_keeps_this_one(sign_in, app):
    here = sign_in("supervisor")
    elsewhere = sign_in("supervisor")
    answer = post(
        here,
        "/console/password",
        {
            "current_password": "demo-supervisor-2026",
            "new_password": "a-new-long-password",
            "confirm_password": "a-new-long-password",
        },
        page="/console/password",
    )
    assert answer.status_code == 302
    assert here.get("/console/").status_code == 200
    assert elsewhere.get("/console/").status_code == 302
    assert _try(app.test_client(), "supervisor", "a-new-long-password").status_code == 302


def test_password_change_needs_the_current_password(sign_in):
    client = sign_in("supervisor")
    answer = post(
        client,
        "/console/password",
        {
            "current_password": "not-it",
            "new_password": "a-new-long-password",
            "confirm_password": "a-new-long-password",
        },
        page="/console/password",
    )
    assert answer.status_code == 422
    assert "当前密码不正确" in answer.get_data(as_text=True)


def test_production_mode_forces_a_new_password_over_the_demo_one(make_app, district):
    db.session.rollback()  # another app on the same database: release this session's lock
    production = make_app(WECHAT_SANDBOX=False).test_client()
    answer = _try(production, "supervisor", "demo-supervisor-2026")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/console/password")
    # Every page leads back to the password form until the password is changed.
    assert production.get("/console/cases").headers["Location"].endswith("/console/password")
    page = production.get("/console/password").get_data(as_text=True)
    assert "初始（演示）密码" in page
    changed = post(
        production,
        "/console/password",
        {
            "current_password": "demo-supervisor-2026",
            "new_password": "a-new-long-password",
            "confirm_password": "a-new-long-password",
        },
        page="/console/password",
    )
    assert changed.status_code == 302
    assert production.get("/console/cases").status_code == 200


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
    assert answer.status_code == 200
    assert "的绑定码" in answer.get_data(as_text=True)
    assert "的绑定码" not in admin.get("/console/manage").get_data(as_text=True)


def test_a_binding_code_never_rides_in_the_session_cookie(sign_in, app):
    admin = sign_in("admin")
    member = db.session.scalars(sa.select(TeamMember).order_by(TeamMember.id)).first()
    answer = post(admin, "/console/manage/binding-codes", {"member": member.id, "who": member.name})
    code = re.search(r"[2-9A-Z]{5}-[2-9A-Z]{5}", answer.get_data(as_text=True)).group(0)
    session = app.session_interface.get_signing_serializer(app).loads(_cookie(admin))
    assert code not in repr(session)


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
