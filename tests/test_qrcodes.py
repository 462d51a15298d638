"""Foreman QR tokens: issue, rotate, revoke, resolve, and their images over HTTP."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from handlers.api import openapi_document
from qr import FontNotFound, find_cjk_font
from wagedispute.intake import qrcodes
from wagedispute.intake.qrcodes import (
    QrForemanInactive,
    QrRevoked,
    create_qr_code,
    foreman_qr_codes,
    new_token,
    qr_url,
    resolve_qr_token,
    revoke_qr_code,
    rotate_qr_code,
)
from wagedispute.models import Foreman, QrCode, QrStatus, Street
from wagedispute.platform import wechat
from wagedispute.platform.database import db
from wagedispute.platform.errors import Conflict, NotFound

# WeChat's alphabet for the scene of getwxacodeunlimit.
SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
PACKAGES = {"zbarimg": "zbar-tools", "pdftoppm": "poppler-utils", "pdftotext": "poppler-utils"}
IMAGE_KINDS = ["qr.png", "qr.svg", "poster.png", "poster.pdf", "wxacode.png"]


def _missing(what: str) -> None:
    # In CI a missing tool must fail the run: a skipped check there is a check nobody runs.
    message = f"!!! NOT VERIFIED: {what}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def tool() -> Callable[[str], str]:
    """Return a function giving a command-line tool's path, or skipping (failing under CI)."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            _missing(f"{name} is not installed (apt-get install {PACKAGES[name]})")
        return path

    return find


@pytest.fixture
def cjk_font() -> None:
    """Skip (fail under CI) when the server has no CJK font to draw posters with."""
    try:
        find_cjk_font()
    except FontNotFound as exc:
        _missing(str(exc))


@pytest.fixture
def decode_qr(tool, tmp_path) -> Callable[[bytes], list[str]]:
    """Return a function decoding every QR code in a PNG with zbarimg."""
    zbarimg = tool("zbarimg")
    counter = iter(range(1_000_000))

    def decode(png: bytes) -> list[str]:
        path = tmp_path / f"decode-{next(counter)}.png"
        path.write_bytes(png)
        result = subprocess.run(
            [zbarimg, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(path)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 4:  # zbarimg's "no symbols found"
            return []
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout.decode().splitlines()

    return decode


@pytest.fixture
def foremen(app) -> list[Foreman]:
    """Three foremen: two on 沙头角街道, one on 海山街道, each with one live QR code."""
    shatoujiao = Street(code="shatoujiao", name="沙头角街道")
    haishan = Street(code="haishan", name="海山街道")
    people = [
        Foreman(name="张建国", phone="13800000101", street=shatoujiao),
        Foreman(name="李卫东", phone="13800000102", street=shatoujiao),
        Foreman(name="王志强", phone="13800000201", street=haishan),
    ]
    db.session.add_all(people)
    db.session.commit()
    for foreman in people:
        create_qr_code(foreman.id)
    return people


@pytest.fixture
def demo_qr(foremen) -> QrCode:
    """The live QR code of the first foreman (张建国, 沙头角街道)."""
    return foreman_qr_codes(foremen[0].id)[0]


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert re.search(r"[\u4e00-\u9fff]", error["message"]), "the message must be in Chinese"
    return error


def test_new_tokens_are_short_url_safe_wechat_scenes():
    tokens = {new_token() for _ in range(500)}
    assert len(tokens) == 500
    for token in tokens:
        assert SCENE.fullmatch(token)
        # Letters and digits only, so the same token needs no escaping in /q/<token>.
        assert re.fullmatch(r"[0-9A-Za-z]{24}", token)


def test_created_qr_code_is_bound_to_foreman_and_site_and_resolves(foremen):
    foreman = foremen[2]
    qr = create_qr_code(foreman.id, site_name=" 海景花园二期 ", site_address="盐田路 8 号")
    db.session.expunge_all()
    found = resolve_qr_token(qr.token)
    assert found.id == qr.id
    assert found.foreman_id == foreman.id
    assert (found.site_name, found.site_address) == ("海景花园二期", "盐田路 8 号")
    assert SCENE.fullmatch(found.token) and len(found.token) <= 32
    assert qrcodes.foreman_card(found) == {
        "foreman_name": foreman.name,
        "foreman_phone": foreman.phone,
        "foreman_phone_masked": foreman.masked_phone,
        "street_name": "海山街道",
        "site_name": "海景花园二期",
        "site_address": "盐田路 8 号",
        "qr_url": f"https://wage.example.test/q/{qr.token}",
    }


def test_qr_codes_are_only_issued_to_active_foremen(foremen):
    with pytest.raises(NotFound):
        create_qr_code(999_999)
    foreman = foremen[1]
    foreman.active = False
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        create_qr_code(foreman.id)
    assert refused.value.code == "foreman_inactive"


def test_qr_url_uses_the_public_base_url(app):
    assert qr_url("abc123") == "https://wage.example.test/q/abc123"


@pytest.mark.parametrize(
    "token",
    [
        "x",  # too short
        "demo" + "0" * 29,  # 33 characters: longer than any scene
        "demo3b5d56199a133d2e-0e4",  # a scene character we never issue
        "demo3b5d56199a133d2eä0e4",  # not ASCII
        "' OR '1'='1' --",
        "Zm9yZ2VkdG9rZW4xMjM0NTY3",  # the right shape, never issued
    ],
)
def test_forged_malformed_or_unknown_token_is_qr_unknown(client, demo_qr, token):
    with pytest.raises(NotFound) as refused:
        resolve_qr_token(token)
    assert refused.value.code == "qr_unknown"
    response = client.get(f"/api/v1/qr/{token}/qr.png")
    error = _error(response, 404, "qr_unknown")
    assert "二维码无效" in error["message"]


def test_revoked_token_answers_410_with_current_contact_and_new_qr_url(client, foremen, demo_qr):
    foreman = foremen[0]
    old_token = demo_qr.token
    new = rotate_qr_code(demo_qr.id)
    assert new.token != old_token
    assert db.session.get(QrCode, demo_qr.id).status == QrStatus.REVOKED

    error = _error(client.get(f"/api/v1/qr/{old_token}/poster.pdf"), 410, "qr_revoked")
    assert error["details"] == {
        "foreman_name": "张建国",
        "foreman_phone": "13800000101",
        "foreman_phone_masked": "138****0101",
        "street_name": "沙头角街道",
        "site_name": None,
        "site_address": None,
        "qr_url": f"https://wage.example.test/q/{new.token}",
    }
    assert "张建国" in error["message"] and "海报已过期" in error["message"]
    # The work phone is a public contact (printed on every poster): given in full, to be called.
    assert foreman.phone in error["message"]
    assert client.get(f"/api/v1/qr/{new.token}/qr.png").status_code == 200


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_revoked_token_serves_no_image(client, demo_qr, kind):
    revoke_qr_code(demo_qr.id)
    _error(client.get(f"/api/v1/qr/{demo_qr.token}/{kind}"), 410, "qr_revoked")


def test_revoked_token_without_a_live_successor_still_names_the_foreman(client, demo_qr):
    revoke_qr_code(demo_qr.id)
    revoke_qr_code(demo_qr.id)  # a second revocation changes nothing
    with pytest.raises(QrRevoked) as refused:
        resolve_qr_token(demo_qr.token)
    assert refused.value.status == 410
    assert refused.value.details["foreman_name"] == "张建国"
    assert refused.value.details["qr_url"] is None
    assert "12345" in refused.value.message


def test_rotation_keeps_the_site_binding_and_prefers_it_in_the_contact(foremen):
    foreman = foremen[2]
    plain = foreman_qr_codes(foreman.id)[0]
    site = create_qr_code(foreman.id, site_name="梧桐山隧道项目", site_address="沙盐路")
    new = rotate_qr_code(site.id)
    assert (new.foreman_id, new.site_name, new.site_address) == (
        foreman.id,
        "梧桐山隧道项目",
        "沙盐路",
    )
    with pytest.raises(QrRevoked) as refused:
        resolve_qr_token(site.token)
    # The poster was for that site: point to the site's new code, not the foreman's other one.
    assert refused.value.details["qr_url"] == qr_url(new.token)
    assert refused.value.details["site_name"] == "梧桐山隧道项目"
    assert resolve_qr_token(plain.token).id == plain.id


def test_a_revoked_code_cannot_be_rotated_again(demo_qr):
    rotate_qr_code(demo_qr.id)
    with pytest.raises(Conflict) as refused:
        rotate_qr_code(demo_qr.id)
    assert refused.value.code == "qr_not_active"
    active = foreman_qr_codes(demo_qr.foreman_id)
    assert len(active) == 1


def test_inactive_foremans_token_points_to_a_colleague_on_the_same_street(client, foremen):
    gone, colleague = foremen[0], foremen[1]
    token = foreman_qr_codes(gone.id)[0].token
    colleague_token = foreman_qr_codes(colleague.id)[0].token
    db.session.get(Foreman, gone.id).active = False
    db.session.commit()

    error = _error(client.get(f"/api/v1/qr/{token}/qr.png"), 410, "qr_foreman_inactive")
    assert error["details"]["foreman_name"] == colleague.name
    assert error["details"]["street_name"] == "沙头角街道"
    assert error["details"]["qr_url"] == qr_url(colleague_token)
    assert colleague.name in error["message"]


def test_inactive_foreman_with_no_colleague_refers_to_the_hotline(foremen):
    street_foremen = foremen[:2]
    token = foreman_qr_codes(street_foremen[0].id)[0].token
    for foreman in street_foremen:
        db.session.get(Foreman, foreman.id).active = False
    db.session.commit()
    with pytest.raises(QrForemanInactive) as refused:
        resolve_qr_token(token)
    assert refused.value.details is None
    assert "12345" in refused.value.message


def test_qr_png_endpoint_decodes_to_the_qr_url(client, demo_qr, decode_qr):
    response = client.get(f"/api/v1/qr/{demo_qr.token}/qr.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert decode_qr(response.data) == [qr_url(demo_qr.token)]

    again = client.get(
        f"/api/v1/qr/{demo_qr.token}/qr.png", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.data == b""


def test_qr_svg_endpoint_serves_an_svg(client, demo_qr):
    response = client.get(f"/api/v1/qr/{demo_qr.token}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data and b"<script" not in response.data


def test_poster_pdf_endpoint_shows_the_foreman_in_chinese_and_a_scannable_code(
    client, demo_qr, cjk_font, tool, tmp_path, decode_qr
):
    response = client.get(f"/api/v1/qr/{demo_qr.token}/poster.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="gongzhang-poster-{demo_qr.token}.pdf"'
    )
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(response.data)

    text = subprocess.run(
        [tool("pdftotext"), str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    compact = re.sub(r"\s+", "", text)
    assert "张建国" in compact
    assert "沙头角街道" in compact
    # The poster is the foreman's public contact: the full number, grouped for reading.
    assert "13800000101" in compact

    subprocess.run(
        [tool("pdftoppm"), "-r", "100", "-png", "-singlefile", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    assert decode_qr((tmp_path / "page.png").read_bytes()) == [qr_url(demo_qr.token)]


def test_poster_png_endpoint_decodes_to_the_qr_url(client, demo_qr, cjk_font, decode_qr):
    response = client.get(f"/api/v1/qr/{demo_qr.token}/poster.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert decode_qr(response.data) == [qr_url(demo_qr.token)]


def test_poster_changes_validator_when_the_foreman_contact_changes(client, demo_qr, cjk_font):
    first = client.get(f"/api/v1/qr/{demo_qr.token}/poster.png").headers["ETag"]
    db.session.get(Foreman, demo_qr.foreman_id).phone = "13900000999"
    db.session.commit()
    response = client.get(
        f"/api/v1/qr/{demo_qr.token}/poster.png", headers={"If-None-Match": first}
    )
    assert response.status_code == 200
    assert response.headers["ETag"] != first


def test_wxacode_is_fetched_from_wechat_once_and_served_from_the_database(
    client, demo_qr, decode_qr, monkeypatch
):
    calls: list[tuple[str, str | None]] = []
    fetch = wechat.get_wxacode_unlimited

    def counting(scene: str, page: str | None = None) -> bytes:
        calls.append((scene, page))
        return fetch(scene, page)

    monkeypatch.setattr(wechat, "get_wxacode_unlimited", counting)
    first = client.get(f"/api/v1/qr/{demo_qr.token}/wxacode.png")
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.mimetype == "image/png"
    assert calls == [(demo_qr.token, "pages/report/index")]
    stored = db.session.scalar(sa.select(QrCode.wxacode_png).where(QrCode.id == demo_qr.id))
    assert stored == first.data

    second = client.get(f"/api/v1/qr/{demo_qr.token}/wxacode.png")
    assert second.status_code == 200
    assert second.data == first.data
    assert len(calls) == 1
    # The sandbox draws the scene as a QR code: the mini-program code carries the token.
    assert decode_qr(second.data) == [demo_qr.token]


def test_unknown_image_name_is_not_found(client, demo_qr):
    _error(client.get(f"/api/v1/qr/{demo_qr.token}/poster.docx"), 404, "not_found")


def test_image_endpoints_are_rate_limited_per_address(make_app, demo_qr):
    client = make_app(RATE_LIMIT_PER_MINUTE=2).test_client()
    for _ in range(2):
        assert client.get(f"/api/v1/qr/{demo_qr.token}/qr.svg").status_code == 200
    _error(client.get(f"/api/v1/qr/{demo_qr.token}/qr.svg"), 429, "rate_limited")


def test_image_endpoints_are_in_the_openapi_document(app):
    paths = openapi_document(app)["paths"]
    for kind in IMAGE_KINDS:
        operation = paths[f"/api/v1/qr/{{token}}/{kind}"]["get"]
        assert "security" not in operation
        assert set(operation["responses"]) >= {"200", "304", "404", "410", "429"}
        assert operation["responses"]["410"]["x-error-codes"] == [
            "qr_revoked",
            "qr_foreman_inactive",
        ]


def test_qr_poster_command_writes_a_pdf(app, demo_qr, cjk_font, tmp_path):
    output = tmp_path / "poster.pdf"
    args = ["qr-poster", "--foreman-id", str(demo_qr.foreman_id), "--output", str(output)]
    result = app.test_cli_runner().invoke(args=[*args, "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"%PDF")
    assert qr_url(demo_qr.token) in result.output


def test_qr_poster_command_issues_a_code_for_a_foreman_without_one(
    app, foremen, cjk_font, tmp_path
):
    foreman = foremen[2]
    for qr in foreman_qr_codes(foreman.id):
        revoke_qr_code(qr.id)
    output = tmp_path / "poster.png"
    args = ["qr-poster", "--foreman-id", str(foreman.id), "--format", "png", "--output", output]
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"\x89PNG")
    assert len(foreman_qr_codes(foreman.id)) == 1


def test_qr_rotate_command_prints_the_new_link_and_refuses_a_revoked_code(app, demo_qr):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["qr-rotate", "--qr-id", str(demo_qr.id)])
    assert result.exit_code == 0, result.output
    (new,) = foreman_qr_codes(demo_qr.foreman_id)
    assert qr_url(new.token) in result.output
    again = runner.invoke(args=["qr-rotate", "--qr-id", str(demo_qr.id)])
    assert again.exit_code != 0
    assert "已停用" in again.output


def test_demo_foremen_tokens_serve_scannable_codes(client, district, decode_qr):
    for foreman in district["foremen"]:
        (qr,) = foreman_qr_codes(foreman.id)
        assert SCENE.fullmatch(qr.token)
        response = client.get(f"/api/v1/qr/{qr.token}/qr.png")
        assert response.status_code == 200
        assert decode_qr(response.data) == [f"https://wage.example.test/q/{qr.token}"]


def test_poster_carries_the_site_notice_staff_edit_and_the_district_channels(
    app, district, cjk_font, tool, tmp_path
):
    from tests.test_console import PASSWORDS, csrf_of

    qr = db.session.scalars(
        sa.select(QrCode).where(QrCode.foreman_id == district["foremen"][0].id)
    ).one()
    console = app.test_client()
    console.post(
        "/console/sign-in",
        data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf_of(console)},
    )
    form_page = console.get(f"/console/manage/qr/{qr.id}/notice")
    assert form_page.status_code == 200 and "劳资专管员" in form_page.get_data(as_text=True)
    saved = console.post(
        f"/console/manage/qr/{qr.id}/notice",
        data={
            "csrf_token": csrf_of(console, f"/console/manage/qr/{qr.id}/notice"),
            "builder": "深圳市盐田区建筑工务署",
            "general_contractor": "中建某局第三建筑工程有限公司",
            "wage_officer": "王强",
            "wage_officer_phone": "13912345678",
            "pay_day": "每月15日",
        },
    )
    assert saved.status_code == 302
    # A street's staff may not edit the notice board.
    street = app.test_client()
    street.post(
        "/console/sign-in",
        data={
            "username": "haishan",
            "password": PASSWORDS["haishan"],
            "csrf_token": csrf_of(street),
        },
    )
    assert street.get(f"/console/manage/qr/{qr.id}/notice").status_code in {403, 404}

    response = app.test_client().get(f"/api/v1/qr/{qr.token}/poster.pdf")
    assert response.status_code == 200
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(response.data)
    text = subprocess.run(
        [tool("pdftotext"), "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    compact = re.sub(r"\s+", "", text)
    for expected in (
        "维权信息告示牌",
        "深圳市盐田区建筑工务署",
        "王强13912345678",
        "每月15日",
        "12345政务服务便民热线",  # the hotline
        "月最低工资标准2520元",  # the local minimum wage, from settings
        "盐田区劳动人事争议仲裁委员会",  # the route to arbitration
        "12348公共法律服务热线",  # legal aid
    ):
        assert expected in compact, expected
    info = subprocess.run([tool("pdfinfo"), str(pdf)], capture_output=True, check=True).stdout
    assert re.search(rb"^Pages:\s+1$", info, re.M)
    fonts = subprocess.run([tool("pdffonts"), str(pdf)], capture_output=True, check=True).stdout
    assert b" yes " in fonts and b"STSong" not in fonts
