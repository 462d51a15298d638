"""``GET /api/v1/qr/<token>/<image>``: a live QR token's code, poster and mini-program code."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from handlers.api import documented
from wagedispute.intake.qrcodes import IMAGE_KINDS, describe_qr_image, render_qr_image
from wagedispute.platform.ratelimit import check_rate

blueprint = Blueprint("qr", __name__, url_prefix="/api/v1/qr")

# Short enough that a revoked poster stops being served by shared caches within minutes.
CACHE_CONTROL = "public, max-age=300"

_SUMMARIES = {
    "qr.png": "二维码图片（PNG），内容为 <公开地址>/q/<token>",
    "qr.svg": "二维码图片（SVG），内容为 <公开地址>/q/<token>",
    "poster.png": "A4 维权告示海报（PNG）",
    "poster.pdf": "A4 维权告示海报（PDF，可直接打印）",
    "wxacode.png": "小程序码（PNG，scene 为 token），首次生成后保存",
}


def _document(kind: str):
    mimetype = IMAGE_KINDS[kind]
    return documented(
        _SUMMARIES[kind],
        tag="扫码",
        path_values={"kind": kind},
        operation_id="qr_image_" + kind.replace(".", "_"),
        auth=False,
        parameters=[
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        responses={
            "200": {
                "description": "成功",
                "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}},
            },
            "304": {"description": "未修改（If-None-Match 与 ETag 相同）"},
        },
        errors={
            404: ("二维码无效或不存在", ["qr_unknown"]),
            410: ("二维码已停用", ["qr_revoked", "qr_foreman_inactive"]),
            429: ("请求过于频繁", ["rate_limited"]),
            503: ("无法生成海报或小程序码", ["poster_unavailable", "wechat_unavailable"]),
        },
    )


@_document("qr.png")
@_document("qr.svg")
@_document("poster.png")
@_document("poster.pdf")
@_document("wxacode.png")
@blueprint.get("/<token>/<any('qr.png','qr.svg','poster.png','poster.pdf','wxacode.png'):kind>")
def qr_image(token: str, kind: str) -> Response:
    """An image of an active token; unknown 404 and revoked 410 in the error shape."""
    # Posters take real CPU to draw: bound what one address can ask for.
    check_rate(f"qr-image:{request.remote_addr}", current_app.config["RATE_LIMIT_PER_MINUTE"])
    image = describe_qr_image(token, kind)
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "Content-Disposition": f'inline; filename="{image.filename}"',
        "X-Content-Type-Options": "nosniff",
        # An SVG opened on its own is a document: it may style itself but never run anything.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    if image.etag in request.if_none_match:
        response = Response(status=304, headers=headers)
    else:
        response = Response(render_qr_image(image), mimetype=image.mimetype, headers=headers)
    response.set_etag(image.etag)
    return response
