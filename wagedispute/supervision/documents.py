"""Printable documents: the CJK font, paragraph styles, tables and the A4 PDF they make.

Letters and weekly packs are both printed through these helpers.
"""

from __future__ import annotations

import io
import threading
from typing import Any
from xml.sax.saxutils import escape

from flask import current_app
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from qr import find_cjk_font

_FONT_LOCK = threading.Lock()
_FONT_NAMES: dict[str, str] = {}


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


def pdf_table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    """A bordered table of text cells in the CJK font."""
    style = pdf_styles()["small"]
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
