"""Printable documents: the CJK font, paragraph styles, tables and the A4 PDF they make.

Letters and weekly packs are both printed through these helpers. Letters are 公文 (GB/T 9704) set
in a serif (明体/宋体) CJK font; tables and packs use the sans font the QR posters use.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from flask import current_app
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from qr import FontNotFound, find_cjk_font
from qr.fonts import has_truetype_outlines

_FONT_LOCK = threading.Lock()
_FONT_NAMES: dict[str, str] = {}

# Serif CJK fonts with TrueType outlines, as qr.fonts lists the sans ones (reportlab embeds only
# glyf outlines, so fonts-noto-cjk's CFF serif cannot be used). Each entry: path, face index.
KNOWN_CJK_SERIF_FONTS: tuple[tuple[Path, int], ...] = (
    # Debian/Ubuntu fonts-arphic-uming (AR PL UMing; face 0 is the mainland "CN" face).
    (Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),
    # Fedora / RHEL cjkuni-uming-fonts.
    (Path("/usr/share/fonts/cjkuni-uming/uming.ttc"), 0),
    # Arch ttf-arphic-uming.
    (Path("/usr/share/fonts/TTF/uming.ttc"), 0),
)
SERIF_INSTALL_HINT = (
    "install a serif CJK TrueType font (Debian/Ubuntu: apt-get install fonts-arphic-uming)"
)

# GB/T 9704: the red of the 版头 and the rule.
OFFICIAL_RED = "#E60012"


def cjk_font_name() -> str:
    """Register the configured (or found) CJK TrueType font with reportlab; return its name.

    A registered TrueType font is embedded as a subset, so the PDF reads everywhere.
    """
    path = str(find_cjk_font(current_app.config["CJK_FONT_PATH"] or None))
    with _FONT_LOCK:
        if path not in _FONT_NAMES:
            name = f"WageCJK{len(_FONT_NAMES)}"
            pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
            _FONT_NAMES[path] = name
        return _FONT_NAMES[path]


def find_cjk_serif_font() -> tuple[Path, int]:
    """The path and face index of a known serif CJK TrueType font."""
    for path, face in KNOWN_CJK_SERIF_FONTS:
        if path.is_file() and has_truetype_outlines(path):
            return path, face
    searched = ", ".join(str(p) for p, _ in KNOWN_CJK_SERIF_FONTS)
    raise FontNotFound(f"no serif CJK font found (searched {searched}); {SERIF_INSTALL_HINT}")


def cjk_serif_font_name() -> str:
    """Register the serif CJK font with reportlab (embedded as a subset); return its name."""
    path, face = find_cjk_serif_font()
    key = f"{path}#{face}"
    with _FONT_LOCK:
        if key not in _FONT_NAMES:
            name = f"WageCJKSerif{len(_FONT_NAMES)}"
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=face))
            _FONT_NAMES[key] = name
        return _FONT_NAMES[key]


def official_styles() -> dict[str, ParagraphStyle]:
    """GB/T 9704 styles: 3号 (16 pt) body on a 28 pt line, 2号 (22 pt) title, red 版头."""
    font = cjk_serif_font_name()
    base = {"fontName": font, "wordWrap": "CJK"}
    return {
        "masthead": ParagraphStyle(
            "masthead",
            fontSize=30,
            leading=40,
            alignment=TA_CENTER,
            textColor=OFFICIAL_RED,
            **base,
        ),
        "number": ParagraphStyle("number", fontSize=16, leading=28, alignment=TA_CENTER, **base),
        "title": ParagraphStyle("title", fontSize=22, leading=34, alignment=TA_CENTER, **base),
        "addressee": ParagraphStyle("addressee", fontSize=16, leading=28, **base),
        "body": ParagraphStyle("body", fontSize=16, leading=28, firstLineIndent=32, **base),
        "attachment": ParagraphStyle(
            "attachment", fontSize=16, leading=28, leftIndent=32, firstLineIndent=0, **base
        ),
        "signature": ParagraphStyle(
            "signature", fontSize=16, leading=28, alignment=TA_RIGHT, rightIndent=64, **base
        ),
        "date": ParagraphStyle(
            "date", fontSize=16, leading=28, alignment=TA_RIGHT, rightIndent=32, **base
        ),
        "heading": ParagraphStyle("heading", fontSize=16, leading=28, **base),
        "small": ParagraphStyle("small", fontSize=12, leading=18, **base),
    }


def official_pdf(title: str, flowables: list[Any]) -> bytes:
    """An A4 公文 (GB/T 9704 margins: top 37 mm, left 28 mm) with "— N —" page numbers."""

    def page_number(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(cjk_serif_font_name(), 14)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, f"— {doc.page} —")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=28 * mm,
        rightMargin=26 * mm,
        topMargin=37 * mm,
        bottomMargin=35 * mm,
        title=title,
        author=f"{current_app.config['DISTRICT_NAME']}信访局",
    )
    doc.build(flowables, onFirstPage=page_number, onLaterPages=page_number)
    return buffer.getvalue()


def pdf_styles() -> dict[str, ParagraphStyle]:
    """Paragraph styles in the CJK font, wrapping Chinese text anywhere."""
    font = cjk_font_name()
    base = {"fontName": font, "wordWrap": "CJK"}
    return {
        "title": ParagraphStyle("title", fontSize=20, leading=30, alignment=TA_CENTER, **base),
        "number": ParagraphStyle("number", fontSize=12, leading=20, alignment=TA_CENTER, **base),
        "body": ParagraphStyle("body", fontSize=12, leading=22, firstLineIndent=24, **base),
        "plain": ParagraphStyle("plain", fontSize=12, leading=22, **base),
        "small": ParagraphStyle("small", fontSize=9, leading=13, **base),
        "right": ParagraphStyle("right", fontSize=12, leading=22, alignment=TA_RIGHT, **base),
        "heading": ParagraphStyle("heading", fontSize=14, leading=24, **base),
    }


def build_pdf(title: str, flowables: list[Any]) -> bytes:
    """An A4 PDF of the given flowables."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=25 * mm,
        topMargin=25 * mm,
        bottomMargin=20 * mm,
        title=title,
        author=f"{current_app.config['DISTRICT_NAME']}信访局",
    )
    doc.build(flowables)
    return buffer.getvalue()


def pdf_table(
    rows: list[list[Any]],
    widths: list[float] | None = None,
    *,
    font: str | None = None,
    size: float = 9,
) -> Table:
    """A bordered table of text cells in the CJK font (or ``font``), first row as header."""
    style = ParagraphStyle(
        "cell",
        fontName=font or cjk_font_name(),
        fontSize=size,
        leading=size * 1.45,
        wordWrap="CJK",
    )
    cells = [[Paragraph(escape(str(cell)), style) for cell in row] for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, "#666666"),
                ("BACKGROUND", (0, 0), (-1, 0), "#eeeeee"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table
