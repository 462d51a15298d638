"""Hardening (issue 11): revoked tokens, bounded input, image pixels, headers, per-case details."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image

from tests.test_console import CSRF, PASSWORDS, csrf_of, post
from tests.test_foreman_api import auth, bind, foreman_token, member_token, members_of
from wagedispute.cases.evidence import ImageTooLarge, strip_image_metadata
from wagedispute.models import Case, Complainant, PiiAccessLog, QrCode
from wagedispute.platform.database import db
from wagedispute.platform.validation import MAX_ID

HUGE = "99999999999999999999"


def signed_in(app: Flask, username: str = "admin") -> Any:
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


def api_routes(app: Flask, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(method, URL) for every route under the prefixes, with placeholder path values."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefixes):
            continue
        url = re.sub(r"<int:[a-z_]+>", "1", rule.rule)
        url = re.sub(r"<[a-z_]+>", "YT-2026-000001", url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, url))
    return out


# -- revoked ---------------------------------------------------------------------------------


TEAM_AND_FOREMAN = ("/api/v1/team/", "/api/v1/foreman/")


def _refused_everywhere(client: Any, app: Flask, token: str, prefixes: tuple[str, ...]) -> None:
    routes = api_routes(app, prefixes)
    assert len(routes) >= 10
    for method, url in routes:
        answer = client.open(url, method=method, headers=auth(token), json={})
        assert answer.status_code == 401, (method, url, answer.status_code)
        assert answer.get_json()["error"]["code"] == "token_revoked", (method, url)


def test_revoked_team_member_token_is_refused_on_every_team_and_foreman_route(
    app, client, district, sign_in_admin
):
    member = members_of(district["teams"][0])[0]
    token = member_token(client, member)
    assert client.get("/api/v1/team/cases", headers=auth(token)).status_code == 200
    admin = sign_in_admin()
    answer = post(admin, f"/console/manage/members/{member.id}/active", {"active": "0"})
    assert answer.status_code == 302
    _refused_everywhere(client, app, token, TEAM_AND_FOREMAN)
    # Reactivating the member does not bring the old token back.
    post(admin, f"/console/manage/members/{member.id}/active", {"active": "1"})
    assert client.get("/api/v1/team/cases", headers=auth(token)).status_code == 401


def test_revoked_foreman_token_is_refused_on_every_team_and_foreman_route(
    app, client, district, sign_in_admin
):
    foreman = district["foremen"][0]
    token = foreman_token(client, foreman)
    assert client.get("/api/v1/foreman/queue", headers=auth(token)).status_code == 200
    admin = sign_in_admin()
    post(admin, f"/console/manage/foremen/{foreman.id}/active", {"active": "0"})
    _refused_everywhere(client, app, token, TEAM_AND_FOREMAN)


def test_revoked_by_deactivating_the_whole_team(app, client, district, sign_in_admin):
    team = district["teams"][0]
    token = member_token(client, members_of(team)[0])
    post(sign_in_admin(), f"/console/manage/teams/{team.id}/active", {"active": "0"})
    answer = client.get("/api/v1/team/cases", headers=auth(token))
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "token_revoked"


def test_revoked_when_the_person_is_bound_to_a_new_phone(client, district):
    member = members_of(district["teams"][0])[0]
    old_phone = member_token(client, member)
    new_phone = bind(client, openid="o-new-phone", member=member).get_json()["token"]
    assert client.get("/api/v1/team/cases", headers=auth(new_phone)).status_code == 200
    answer = client.get("/api/v1/team/cases", headers=auth(old_phone))
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "token_revoked"


def test_revoked_by_signing_out_and_a_refresh_needs_a_live_token(client, district):
    token = foreman_token(client, district["foremen"][0])
    refreshed = client.post("/api/v1/session/refresh", headers=auth(token))
    assert refreshed.status_code == 200
    fresh = refreshed.get_json()["token"]
    assert refreshed.get_json()["expires_in"] == 2 * 3600
    assert client.get("/api/v1/foreman/queue", headers=auth(fresh)).status_code == 200
    assert client.post("/api/v1/session/sign-out", headers=auth(fresh)).status_code == 200
    for old in (token, fresh):
        assert client.get("/api/v1/foreman/queue", headers=auth(old)).status_code == 401
        assert client.post("/api/v1/session/refresh", headers=auth(old)).status_code == 401


def test_worker_token_is_revoked_by_sign_out(client, district):
    token = client.post("/api/v1/session", json={"code": "sandbox:o-worker-out"}).get_json()[
        "token"
    ]
    assert client.get("/api/v1/complaints", headers=auth(token)).status_code == 200
    assert client.post("/api/v1/session/sign-out", headers=auth(token)).status_code == 200
    assert client.get("/api/v1/complaints", headers=auth(token)).status_code == 401


@pytest.fixture
def sign_in_admin(app, district):
    return lambda: signed_in(app, "admin")


# -- overflow / huge ids ------------------------------------------------------------------


def test_huge_ids_in_api_routes_are_404_not_500(app, client, district):
    token = member_token(client, members_of(district["teams"][0])[0])
    for url in (
        f"/api/v1/team/cases/YT-2026-000001/evidence/{HUGE}",
        f"/api/v1/team/cases/{HUGE}",
        f"/api/v1/complaints/{HUGE}/evidence/{HUGE}",
    ):
        answer = client.get(url, headers=auth(token))
        assert answer.status_code in {401, 404}, (url, answer.status_code)


def test_huge_ids_in_console_routes_are_404_not_500(app, district):
    admin = signed_in(app)
    for url in (f"/console/cases/{HUGE}", f"/console/cases/{MAX_ID + 1}", "/console/cases/0"):
        assert admin.get(url).status_code == 404, url
    answer = post(admin, f"/console/manage/foremen/{HUGE}/active", {"active": "0"})
    assert answer.status_code == 404


def test_huge_ids_and_counts_in_json_bodies_are_422_not_500(client, district):
    token = foreman_token(client, district["foremen"][0])
    answer = client.post(
        "/api/v1/foreman/cases/YT-2026-000001/dispatch",
        json={"team_id": int(HUGE)},
        headers=auth(token),
    )
    assert answer.status_code in {404, 422}, answer.get_json()


def _complaint(district: dict[str, Any], **fields: Any) -> dict[str, Any]:
    qr = db.session.scalars(sa.select(QrCode).order_by(QrCode.id)).first()
    body = {
        "name": "王五",
        "mobile": "13800138000",
        "site_name": "海景花园",
        "workers_affected": 2,
        "amount_owed_fen": 500_000,
        "description": "拖欠两个月工资",
        "qr_token": qr.token,
    }
    body.update(fields)
    return body


def _worker(client: Any, openid: str = "o-hardening") -> dict[str, str]:
    token = client.post("/api/v1/session", json={"code": f"sandbox:{openid}"}).get_json()["token"]
    return {**auth(token), "Idempotency-Key": f"key-{openid}-{time.time_ns()}"}


@pytest.mark.parametrize(
    "fields",
    [
        {"workers_affected": True},
        {"workers_affected": 2**70},
        {"amount_owed_fen": 2**64},
        {"name": "\u200b"},
        {"name": "\u200b\u200c\u2060 "},
    ],
    ids=["true_count", "huge_count", "huge_amount", "zero_width_name", "invisible_name"],
)
def test_huge_numbers_booleans_and_invisible_names_are_refused(client, district, fields):
    answer = client.post(
        "/api/v1/complaints", json=_complaint(district, **fields), headers=_worker(client)
    )
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["code"] == "invalid_input"
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == 0


# -- nul / control characters ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "site_name", "description", "site_address"])
def test_nul_and_control_characters_in_text_are_422(client, district, field):
    answer = client.post(
        "/api/v1/complaints",
        json=_complaint(district, **{field: "海景\x00花园"}),
        headers=_worker(client),
    )
    assert answer.status_code == 422, answer.get_json()
    problems = {d["problem"] for d in answer.get_json()["error"]["details"]}
    assert "control_characters" in problems
    escape = client.post(
        "/api/v1/complaints",
        json=_complaint(district, **{field: "海景\x1b[31m花园"}),
        headers=_worker(client, "o-escape"),
    )
    assert escape.status_code == 422


def test_nul_reaching_the_database_is_422_not_500(app, district, database_url):
    """A value PostgreSQL refuses (a NUL in the case search) is bad input: a 422 page."""
    answer = signed_in(app).get("/console/cases?q=%E6%B5%B7%00")
    if database_url.startswith("postgresql"):
        assert answer.status_code == 422
        assert answer.mimetype == "text/html"
        assert "提交的内容有误" in answer.get_data(as_text=True)
    else:  # SQLite searches for the NUL and finds nothing
        assert answer.status_code == 200


def test_nul_in_an_h5_field_is_a_page_not_json(app, client, district):
    qr = db.session.scalars(sa.select(QrCode).order_by(QrCode.id)).first()
    page = client.get(f"/q/{qr.token}")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post(
        f"/q/{qr.token}",
        data={
            "csrf_token": token,
            "name": "王\x00五",
            "mobile": "13800138000",
            "site_name": "海景花园",
            "workers_affected": "2",
            "amount_yuan": "5000",
            "description": "拖欠",
        },
    )
    assert answer.status_code < 500
    assert answer.mimetype == "text/html"


# -- pixels ------------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


def test_pixels_over_the_cap_are_refused_before_decoding(app, monkeypatch):
    bomb = _png(6300, 6300)  # ~40 MP, a few kilobytes of PNG
    assert len(bomb) < 200_000
    loaded: list[Any] = []
    original = Image.Image.load

    def spy(self: Image.Image) -> Any:
        loaded.append(self.size)
        return original(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    with pytest.raises(ImageTooLarge):
        strip_image_metadata(bomb, "PNG")
    assert loaded == []  # refused from the header: not a row was decoded
    assert strip_image_metadata(_png(4000, 3000), "PNG")  # a 12 MP phone photo is fine


def test_pixels_over_the_cap_are_refused_by_the_upload_endpoint(client, district, make_case):
    from tests.test_team_api import accepted_case

    case, token = accepted_case(client, make_case, district)
    answer = client.post(
        f"/api/v1/team/cases/{case.number}/evidence",
        data=_png(6300, 6300),
        content_type="application/octet-stream",
        headers=auth(token),
    )
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "image_too_large"


def test_evidence_uploads_are_limited_per_address(app, client, district, make_case, monkeypatch):
    from tests.test_team_api import accepted_case, png_bytes

    case, token = accepted_case(client, make_case, district)
    monkeypatch.setitem(app.config, "EVIDENCE_UPLOAD_LIMIT", "2 per hour")
    statuses = [
        client.post(
            f"/api/v1/team/cases/{case.number}/evidence",
            data=png_bytes(),
            content_type="application/octet-stream",
            headers=auth(token),
            environ_base={"REMOTE_ADDR": "10.9.0.1"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]


# -- headers -----------------------------------------------------------------------------------


CONSOLE_PAGES = [
    "/console/",
    "/console/cases",
    "/console/manage",
    "/console/targets",
    "/console/password",
    "/console/daily",
    "/console/weekly",
    "/console/letters",
    "/console/warnings",
    "/console/exports",
]


def test_headers_on_every_console_page(app, district):
    admin = signed_in(app)
    pages = CONSOLE_PAGES + ["/console/sign-in", "/console/cases/999999"]
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console") and "GET" in rule.methods and "<" not in rule.rule:
            pages.append(rule.rule)
    for path in sorted(set(pages)):
        answer = admin.get(path)
        assert answer.status_code < 500, path
        headers = answer.headers
        assert headers["Cache-Control"] == "no-store", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], path


def test_headers_on_the_h5_form_and_the_api(client, district):
    qr = db.session.scalars(sa.select(QrCode).order_by(QrCode.id)).first()
    for path in (f"/q/{qr.token}", "/h5/status", "/api/v1/openapi.json", "/healthz"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
    assert client.get(f"/q/{qr.token}").headers["Cache-Control"] == "no-store"


def test_headers_405_carries_allow(client):
    answer = client.delete("/api/v1/session")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "OPTIONS, POST"


def test_headers_429_carries_retry_after(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATE_LIMIT_PER_MINUTE", 1)
    statuses = [client.post("/api/v1/session", json={"code": "nonsense"}) for _ in range(6)]
    refused = [a for a in statuses if a.status_code == 429]
    assert refused and int(refused[0].headers["Retry-After"]) >= 1


def test_evidence_is_served_as_an_attachment_in_the_console(app, client, district, make_case):
    from tests.test_team_api import accepted_case, upload

    case, token = accepted_case(client, make_case, district)
    evidence_id = upload(client, case, token)
    answer = signed_in(app).get(f"/console/cases/{case.id}/evidence/{evidence_id}")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


# -- the complainant as given on each case -----------------------------------------------------


def test_a_reveal_shows_the_name_and_mobile_given_on_that_case(app, client, district):
    headers = _worker(client, "o-same-person")
    first = client.post("/api/v1/complaints", json=_complaint(district), headers=headers)
    assert first.status_code == 201, first.get_json()
    second_body = _complaint(district, name="王小五", mobile="13900139000", site_name="别的工地")
    second = client.post(
        "/api/v1/complaints",
        json=second_body,
        headers={**headers, "Idempotency-Key": "another-key-123"},
    )
    assert second.status_code == 201
    first_case = db.session.scalars(
        sa.select(Case).where(Case.number == first.get_json()["number"])
    ).one()
    # The person's record now holds the newer details; the first case keeps its own.
    complainant = db.session.get(Complainant, first_case.complainant_id)
    vault = app.extensions["wagedispute.pii"]
    assert vault.decrypt(complainant.name_encrypted) == "王小五"
    admin = signed_in(app)
    page = post(
        admin,
        f"/console/cases/{first_case.id}/reveal",
        {"field": "name", "reason": "核实身份"},
        page=f"/console/cases/{first_case.id}",
    ).get_data(as_text=True)
    assert "王五" in page and "王小五" not in page
    mobile = post(
        admin,
        f"/console/cases/{first_case.id}/reveal",
        {"field": "mobile", "reason": "回访"},
        page=f"/console/cases/{first_case.id}",
    ).get_data(as_text=True)
    assert "13800138000" in mobile and "13900139000" not in mobile
    assert db.session.scalar(sa.select(sa.func.count(PiiAccessLog.id))) == 2
