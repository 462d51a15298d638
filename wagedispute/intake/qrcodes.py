"""Foreman QR tokens: issue, rotate, revoke, resolve; their QR images, posters and WeChat codes."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from flask import current_app

from qr import (
    FontNotFound,
    MissingGlyphs,
    NoticeBoard,
    PosterContent,
    find_cjk_font,
    poster_pdf,
    poster_png,
)
from qr import qr_png as render_qr_png
from qr import qr_svg as render_qr_svg
from wagedispute.models import Foreman, QrCode, QrStatus
from wagedispute.platform import wechat
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)

log = logging.getLogger(__name__)

# Letters and digits only: a subset of WeChat's scene alphabet that also needs no escaping in a
# URL path, so one token is both the mini-program scene and the last segment of the QR link.
TOKEN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 24 characters of 62 carry ~143 random bits: unguessable, and well under the scene's 32.
TOKEN_LENGTH = 24
# What a token we could have issued looks like (demo tokens are 24 as well); anything else is
# refused before it reaches the database.
_TOKEN_SHAPE = re.compile(r"[0-9A-Za-z]{16,32}")

# The mini-program page a scanned mini-program code opens; it reads the token from `scene`.
WXACODE_PAGE = "pages/report/index"

# Bump when the QR or poster rendering changes, so cached images are fetched again.
RENDER_VERSION = "2"

# The site facts of the 维权信息告示牌 the console edits (``QrCode.notice``), with their labels;
# the district-wide ones (minimum wage, hotlines, arbitration, legal aid) come from settings.
NOTICE_FIELDS: dict[str, str] = {
    "builder": "建设单位",
    "general_contractor": "施工总承包单位（项目部）",
    "subcontractors": "分包单位",
    "authority": "行业工程建设主管部门（及电话）",
    "wage_officer": "劳资专管员",
    "wage_officer_phone": "劳资专管员电话",
    "pay_day": "工资支付日期",
}
NOTICE_MAX_LENGTH = 80


ImageKind = Literal["qr.png", "qr.svg", "poster.png", "poster.pdf", "wxacode.png"]
IMAGE_KINDS: dict[str, str] = {
    "qr.png": "image/png",
    "qr.svg": "image/svg+xml",
    "poster.png": "image/png",
    "poster.pdf": "application/pdf",
    "wxacode.png": "image/png",
}


class QrRevoked(DomainError):
    """The QR token was revoked; ``details`` carries the foreman's current contact."""

    code = "qr_revoked"
    message = "该二维码已停用，海报已过期"
    status = 410


class QrForemanInactive(QrRevoked):
    """The token's foreman no longer serves; ``details`` names who does, if anyone."""

    code = "qr_foreman_inactive"
    message = "该二维码的工长已不再负责，二维码已停用"


class PosterUnavailable(ServiceUnavailable):
    """The server cannot draw the poster's Chinese text (no CJK font, or glyphs missing)."""

    code = "poster_unavailable"
    message = "服务器暂时无法生成海报（缺少中文字体），请联系管理员"


def _unknown() -> NotFound:
    return NotFound(
        "二维码无效或不存在。请重新扫描工地告示牌上的工长二维码，或直接拨打告示牌上的工长电话。",
        code="qr_unknown",
    )


def new_token() -> str:
    """A fresh random token: letters and digits only, valid as a WeChat scene and in a URL."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def qr_url(token: str) -> str:
    """The link an ordinary QR code carries: ``<PUBLIC_BASE_URL>/q/<token>``."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/q/" + token


def create_qr_code(
    foreman_id: int, *, site_name: str | None = None, site_address: str | None = None
) -> QrCode:
    """Issue a new QR token for an active foreman, optionally bound to one site; commits."""
    foreman = db.session.get(Foreman, foreman_id)
    if foreman is None:
        raise NotFound("找不到该工长", code="foreman_not_found")
    if not foreman.active:
        raise Conflict("该工长已停用，不能发放二维码", code="foreman_inactive")
    qr = QrCode(
        token=new_token(),
        foreman_id=foreman.id,
        site_name=_clean(site_name),
        site_address=_clean(site_address),
        status=QrStatus.ACTIVE,
    )
    db.session.add(qr)
    db.session.commit()
    log.info("qr code %s issued for foreman %s", qr.id, foreman.id)
    return qr


def rotate_qr_code(qr_id: int) -> QrCode:
    """Revoke an active QR code and issue a new token with the same binding; commits."""
    old = get_qr_code(qr_id)
    if not old.foreman.active:
        raise Conflict("该工长已停用，不能更换二维码", code="foreman_inactive")
    # Revoke with a conditional UPDATE: of two concurrent rotations only one sees a row change,
    # so a code is never replaced twice (which would leave two live successors).
    if not _revoke_if_active(old.id):
        db.session.rollback()
        raise Conflict("该二维码已停用，不能再更换；请为工长新发二维码", code="qr_not_active")
    new = QrCode(
        token=new_token(),
        foreman_id=old.foreman_id,
        site_name=old.site_name,
        site_address=old.site_address,
        status=QrStatus.ACTIVE,
    )
    db.session.add(new)
    db.session.commit()
    log.info("qr code %s rotated to %s", old.id, new.id)
    return new


def revoke_qr_code(qr_id: int) -> None:
    """Revoke a QR code (revoking a revoked one changes nothing); commits."""
    get_qr_code(qr_id)
    if _revoke_if_active(qr_id):
        db.session.commit()
        log.info("qr code %s revoked", qr_id)
    else:
        db.session.rollback()


def resolve_qr_token(token: str) -> QrCode:
    """The active QR code for a scanned token; unknown 404, revoked 410 with a current contact."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise _unknown()
    qr = db.session.scalars(sa.select(QrCode).where(QrCode.token == token)).one_or_none()
    if qr is None:
        raise _unknown()
    _check_usable(qr)
    return qr


def foreman_card(qr: QrCode) -> dict[str, Any]:
    """What a worker sees about a QR code: foreman, street, masked phone, site, link."""
    return _card(qr.foreman, qr)


def get_qr_code(qr_id: int) -> QrCode:
    """A QR code by id, whatever its status."""
    qr = db.session.get(QrCode, qr_id)
    if qr is None:
        raise NotFound("找不到该二维码", code="qr_not_found")
    return qr


def foreman_qr_codes(foreman_id: int, *, active_only: bool = True) -> list[QrCode]:
    """A foreman's QR codes, newest first."""
    stmt = sa.select(QrCode).where(QrCode.foreman_id == foreman_id)
    if active_only:
        stmt = stmt.where(QrCode.status == QrStatus.ACTIVE)
    return list(db.session.scalars(stmt.order_by(QrCode.created_at.desc(), QrCode.id.desc())))


def qr_code_png(qr_id: int) -> bytes:
    """The ordinary QR code of the token's link, as PNG."""
    return render_qr_png(qr_url(_usable(qr_id).token))


def qr_code_svg(qr_id: int) -> bytes:
    """The ordinary QR code of the token's link, as SVG."""
    return render_qr_svg(qr_url(_usable(qr_id).token))


def poster_for(qr_id: int, fmt: Literal["png", "pdf"]) -> bytes:
    """The printable A4 poster for a QR code, as PNG or PDF."""
    if fmt not in ("png", "pdf"):
        raise ValueError(f"unknown poster format {fmt!r}")
    content = _poster_content(_usable(qr_id))
    configured = current_app.config["CJK_FONT_PATH"] or None
    try:
        font = find_cjk_font(configured)
        if fmt == "pdf":
            return poster_pdf(content, font_path=font)
        return poster_png(content, font_path=font)
    except FontNotFound as exc:
        log.error("poster for qr code %s: %s", qr_id, exc)
        raise PosterUnavailable() from exc
    except MissingGlyphs as exc:
        # The characters come from names, which must not reach the log; the count will do.
        log.error("poster for qr code %s: font lacks %d glyphs", qr_id, len(exc.characters))
        raise PosterUnavailable(
            "海报中有字体无法显示的汉字，请联系管理员更换字体",
            details={"characters": exc.characters},
        ) from exc


def wxacode_for(qr_id: int) -> bytes:
    """The mini-program code (scene = token), fetched from WeChat once and then kept; commits."""
    qr = _usable(qr_id)
    if qr.wxacode_png is not None:
        return qr.wxacode_png
    image = wechat.get_wxacode_unlimited(scene=qr.token, page=WXACODE_PAGE)
    # Only the first fetch is stored: a concurrent request that fetched too serves its own copy
    # this once (both encode the same scene) and later requests all read the stored one.
    db.session.execute(
        sa.update(QrCode)
        .where(QrCode.id == qr.id, QrCode.wxacode_png.is_(None))
        .values(wxacode_png=image)
    )
    db.session.commit()
    return image


@dataclass(frozen=True)
class QrImage:
    """One downloadable image of an active QR code, described before it is drawn."""

    qr_id: int
    kind: str
    mimetype: str
    filename: str
    etag: str


def describe_qr_image(token: str, kind: str) -> QrImage:
    """Resolve the token and name the image (type, file name, validator) without drawing it."""
    if kind not in IMAGE_KINDS:
        raise NotFound()
    qr = resolve_qr_token(token)
    stem, ext = kind.split(".")
    return QrImage(
        qr_id=qr.id,
        kind=kind,
        mimetype=IMAGE_KINDS[kind],
        filename=f"gongzhang-{stem}-{qr.token}.{ext}",
        etag=_etag(qr, kind),
    )


def render_qr_image(image: QrImage) -> bytes:
    """Draw (or, for the mini-program code, fetch once) the described image."""
    match image.kind:
        case "qr.png":
            return qr_code_png(image.qr_id)
        case "qr.svg":
            return qr_code_svg(image.qr_id)
        case "poster.png":
            return poster_for(image.qr_id, "png")
        case "poster.pdf":
            return poster_for(image.qr_id, "pdf")
        case "wxacode.png":
            return wxacode_for(image.qr_id)
    raise NotFound()


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _revoke_if_active(qr_id: int) -> bool:
    result = db.session.execute(
        sa.update(QrCode)
        .where(QrCode.id == qr_id, QrCode.status == QrStatus.ACTIVE)
        .values(status=QrStatus.REVOKED, revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def _usable(qr_id: int) -> QrCode:
    qr = db.session.get(QrCode, qr_id)
    if qr is None:
        raise _unknown()
    _check_usable(qr)
    return qr


def _check_usable(qr: QrCode) -> None:
    """Refuse a revoked code or an inactive foreman's, always pointing to a current contact."""
    foreman = qr.foreman
    if not foreman.active:
        successor = _street_contact(foreman, qr)
        if successor is None:
            message = (
                "该二维码的工长已不再负责，二维码已停用。"
                f"请拨打 {hotline()} 政务服务便民热线反映欠薪问题。"
            )
        else:
            message = (
                "该二维码的工长已不再负责，二维码已停用。"
                f"现由{successor['street_name']}工长{successor['foreman_name']}"
                f"（电话 {successor['foreman_phone']}）负责，" + _next_step(successor)
            )
        raise QrForemanInactive(message, details=successor)
    if qr.status != QrStatus.ACTIVE:
        current = _card(foreman, _current_qr(foreman.id, qr))
        message = (
            "该二维码已停用，海报已过期。"
            f"工长仍是{current['street_name']}的{current['foreman_name']}"
            f"（电话 {current['foreman_phone']}），" + _next_step(current)
        )
        raise QrRevoked(message, details=current)


def _next_step(card: dict[str, Any]) -> str:
    if card["qr_url"]:
        return "请通过工长的新二维码链接提交投诉。"
    return f"请直接打电话给工长，或拨打 {hotline()} 政务服务便民热线反映欠薪问题。"


def _current_qr(foreman_id: int, like: QrCode) -> QrCode | None:
    """The foreman's live code, preferring one bound to the same site as the old one."""
    active = foreman_qr_codes(foreman_id)
    for qr in active:
        if (qr.site_name, qr.site_address) == (like.site_name, like.site_address):
            return qr
    return active[0] if active else None


def _street_contact(gone: Foreman, qr: QrCode) -> dict[str, Any] | None:
    """Another active foreman of the same street, with their live code, to replace ``gone``."""
    others = db.session.scalars(
        sa.select(Foreman)
        .where(Foreman.street_id == gone.street_id, Foreman.active, Foreman.id != gone.id)
        .order_by(Foreman.id)
    )
    for other in others:
        return _card(other, _current_qr(other.id, qr))
    return None


def hotline() -> str:
    """The complaint hotline for when no foreman can be reached (settings: NOTICE_HOTLINE)."""
    return str(current_app.config["NOTICE_HOTLINE"])


def _card(foreman: Foreman, qr: QrCode | None) -> dict[str, Any]:
    # The foreman's work phone is a public contact (it is on the poster): shown in full, so a
    # worker can call it from the page.
    return {
        "foreman_name": foreman.name,
        "foreman_phone": foreman.phone,
        "foreman_phone_masked": foreman.masked_phone,
        "street_name": foreman.street.name,
        "site_name": qr.site_name if qr else None,
        "site_address": qr.site_address if qr else None,
        "qr_url": qr_url(qr.token) if qr else None,
    }


def site_notice(qr_id: int) -> dict[str, str]:
    """The editable 告示牌 facts of a QR code's site, every field present."""
    qr = get_qr_code(qr_id)
    return {key: str((qr.notice or {}).get(key) or "") for key in NOTICE_FIELDS}


def update_site_notice(qr_id: int, values: dict[str, Any]) -> QrCode:
    """Replace the 告示牌 facts of a QR code's site (known keys only, bounded); commits."""
    unknown = set(values) - set(NOTICE_FIELDS)
    if unknown:
        raise InvalidInput("不支持的告示牌项目", code="notice_field_unknown")
    clean = {key: " ".join(str(values.get(key) or "").split()) for key in NOTICE_FIELDS}
    too_long = [NOTICE_FIELDS[k] for k, v in clean.items() if len(v) > NOTICE_MAX_LENGTH]
    if too_long:
        raise InvalidInput(
            f"{'、'.join(too_long)}过长（最多 {NOTICE_MAX_LENGTH} 字）", code="notice_too_long"
        )
    with unit_of_work():
        qr = get_qr_code(qr_id)
        qr.notice = {k: v for k, v in clean.items() if v}
    log.info("site notice of qr code %s updated", qr_id)
    return qr


def notice_board(qr: QrCode) -> NoticeBoard:
    """The 告示牌 facts printed on a poster: the site's own, then the district's from settings."""
    config = current_app.config
    site = qr.notice or {}
    phones = tuple(
        p.strip() for p in str(config["NOTICE_COMPLAINT_PHONES"] or "").split("；") if p.strip()
    )
    return NoticeBoard(
        **{key: str(site.get(key) or "") for key in NOTICE_FIELDS},
        minimum_wage=str(config["NOTICE_MINIMUM_WAGE"] or ""),
        hotline=hotline(),
        complaint_phones=phones,
        arbitration=str(config["NOTICE_ARBITRATION"] or ""),
        legal_aid=str(config["NOTICE_LEGAL_AID"] or ""),
    )


def _poster_content(qr: QrCode) -> PosterContent:
    foreman = qr.foreman
    return PosterContent(
        notice=notice_board(qr),
        foreman_name=foreman.name,
        # The poster is the foreman's public contact: the full number, on purpose.
        foreman_phone=foreman.phone,
        street=foreman.street.name,
        qr_data=qr_url(qr.token),
        site_name=qr.site_name,
        district=current_app.config["DISTRICT_NAME"],
    )


def _etag(qr: QrCode, kind: str) -> str:
    """A validator that changes whenever anything drawn on the image would."""
    if kind == "wxacode.png":
        # Stored once per token and never redrawn.
        parts = [RENDER_VERSION, kind, qr.token]
    else:
        foreman = qr.foreman
        parts = [
            RENDER_VERSION,
            kind,
            qr_url(qr.token),
            foreman.name,
            foreman.phone,
            foreman.street.name,
            qr.site_name or "",
            current_app.config["DISTRICT_NAME"],
            repr(notice_board(qr)),
        ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
