"""QR codes as PNG or SVG bytes, at an error-correction level fit for outdoor posters."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

# Level Q restores up to ~25 % of damaged codewords: posters on building sites get dirty and
# scratched, and Q still keeps a URL with a token at a version that prints large modules.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_Q

# The standard's minimum quiet zone; scanners, WeChat's included, miss codes with less.
MIN_BORDER = 4


def qr_matrix(data: str, *, border: int = MIN_BORDER) -> list[list[bool]]:
    """Return the QR modules for `data` (True = dark), quiet zone included, row by row."""
    return _build(data, box_size=1, border=border).get_matrix()


def qr_png(data: str, *, box_size: int = 10, border: int = MIN_BORDER) -> bytes:
    """Return a black-on-white PNG of the QR code for `data`, `box_size` pixels per module."""
    image = _build(data, box_size=box_size, border=border).make_image(image_factory=PilImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_svg(data: str, *, box_size: int = 10, border: int = MIN_BORDER) -> bytes:
    """Return an SVG of the QR code for `data`, `box_size` tenths of a millimetre per module."""
    # The fill variant paints a white background: a transparent code on a dark page won't scan.
    image = _build(data, box_size=box_size, border=border).make_image(
        image_factory=SvgPathFillImage
    )
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def _build(data: str, *, box_size: int, border: int) -> qrcode.QRCode:
    if not data:
        raise ValueError("QR data must not be empty")
    if border < MIN_BORDER:
        raise ValueError(f"border must be at least {MIN_BORDER} modules (the quiet zone)")
    if box_size < 1:
        raise ValueError("box_size must be at least 1")
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=box_size, border=border)
    code.add_data(data)
    code.make(fit=True)
    return code
