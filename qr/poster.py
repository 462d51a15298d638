"""The printable A4 poster for a site's 维权信息告示牌: the foreman's QR code and contact, and what
article 34 of the 保障农民工工资支付条例 requires the board to show: the parties and the 劳资专管员,
the local minimum wage and pay day, complaint phone numbers, and the routes to labour arbitration
and legal aid. A leaf library: text in, PNG or PDF bytes out.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
import os
import re
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from qr.codes import qr_matrix
from qr.fonts import find_cjk_font

DEFAULT_TITLE = "维权信息告示牌"
SUBTITLE = "欠薪投诉 扫码找工长"
LEGAL_BASIS = "依据《保障农民工工资支付条例》第三十四条设置"
# Printed where a fact is not known yet, so site staff can write it in by hand.
BLANK = "＿＿＿＿＿＿＿＿"
DEFAULT_INSTRUCTIONS = (
    "1. 用微信或手机相机扫描二维码",
    "2. 填写姓名、电话、工地和欠薪情况",
    "3. 工长将尽快联系您，全程免费",
)
DEFAULT_DISTRICT = "盐田区"

# Geometry in millimetres, origin at the top-left corner of the page, y growing downwards; each
# renderer converts to its own units. One layout for both keeps the PNG and the PDF identical.
PAGE_WIDTH = 210.0
PAGE_HEIGHT = 297.0
MARGIN = 10.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
CENTRE = PAGE_WIDTH / 2
MIN_GAP = 3.0
MAX_GAP = 10.0
# Quiet zone included. Even the smallest symbol (version 1: 21 of 29 modules) is then over 8 cm
# wide, large enough to scan from a step or two away.
QR_SIZE = 100.0
# The text column beside the code.
COLUMN_GAP = 6.0
COLUMN_X = MARGIN + QR_SIZE + 4.0 + COLUMN_GAP
COLUMN_WIDTH = PAGE_WIDTH - MARGIN - COLUMN_X
# The notice panels' text: 12 pt is easily read at arm's length on a printed A4 page.
PANEL_TEXT = 12.0
# Below this a line is hard to read on a notice board; refuse rather than print it.
MIN_FONT_SIZE = 10.0

ACCENT = "#B71C1C"
INK = "#1A1A1A"
# Pure black on white: the highest contrast for scanners, whatever the print quality.
CODE_INK = "#000000"
MUTED = "#555555"
PANEL = "#F4F4F4"
RULE = "#BDBDBD"
WHITE = "#FFFFFF"

_MM_PER_PT = 25.4 / 72
# How far CJK glyphs reach above and below the baseline, in ems (WenQuanYi Micro Hei's plus a little
# room), to turn font sizes into line boxes.
_ASCENT = 0.88
_DESCENT = 0.15
_MOBILE = re.compile(r"1\d{10}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeBoard:
    """The facts a 维权信息告示牌 must show (条例第三十四条); blank ones print as a line to fill."""

    builder: str = ""  # 建设单位
    general_contractor: str = ""  # 施工总承包单位（项目部）
    subcontractors: str = ""  # 分包单位
    authority: str = ""  # 行业工程建设主管部门
    wage_officer: str = ""  # 劳资专管员
    wage_officer_phone: str = ""
    pay_day: str = ""  # 工资支付日期
    minimum_wage: str = ""  # 当地最低工资标准
    hotline: str = "12345"
    complaint_phones: tuple[str, ...] = ()  # 劳动保障监察等投诉举报电话
    arbitration: str = ""  # 劳动争议调解仲裁申请渠道
    legal_aid: str = ""  # 法律援助申请渠道、公共法律服务热线

    def __post_init__(self) -> None:
        object.__setattr__(self, "complaint_phones", tuple(self.complaint_phones))

    def text(self) -> str:
        """Every character the board prints (for the glyph check)."""
        return "".join(
            (
                self.builder,
                self.general_contractor,
                self.subcontractors,
                self.authority,
                self.wage_officer,
                self.wage_officer_phone,
                self.pay_day,
                self.minimum_wage,
                self.hotline,
                *self.complaint_phones,
                self.arbitration,
                self.legal_aid,
            )
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class PosterContent:
    """What a foreman's QR poster says."""

    foreman_name: str
    # A public contact, printed in full on purpose (unlike phone numbers anywhere else); a mobile
    # number is grouped 3-4-4 for reading.
    foreman_phone: str
    street: str
    qr_data: str
    site_name: str | None = None
    title: str = DEFAULT_TITLE
    instructions: tuple[str, str, str] = DEFAULT_INSTRUCTIONS
    district: str = DEFAULT_DISTRICT
    notice: NoticeBoard = NoticeBoard()

    def __post_init__(self) -> None:
        for name in ("foreman_name", "foreman_phone", "street", "qr_data", "title", "district"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be blank")
        if self.site_name is not None and not self.site_name.strip():
            raise ValueError("site_name must be None or not blank")
        # A list would make the frozen instance unhashable; accept it and store a tuple.
        object.__setattr__(self, "instructions", tuple(self.instructions))
        if len(self.instructions) != 3 or not all(line.strip() for line in self.instructions):
            raise ValueError("instructions must be three non-blank lines")


class MissingGlyphs(ValueError):
    """The font has no glyph for some characters of the poster, which would print as boxes."""

    def __init__(self, font_path: Path, characters: str) -> None:
        super().__init__(f"font {str(font_path)!r} has no glyphs for {characters!r}")
        self.font_path = font_path
        self.characters = characters


def poster_png(
    content: PosterContent, *, font_path: str | os.PathLike[str] | None = None, dpi: int = 150
) -> bytes:
    """Return the poster as an A4 portrait PNG at `dpi` dots per inch."""
    if dpi < 72:
        raise ValueError("dpi must be at least 72 for the QR code to print sharply")
    path, font = _load_checked_font(content, font_path)
    return _render_png(_layout(content, font), path, dpi)


def poster_pdf(content: PosterContent, *, font_path: str | os.PathLike[str] | None = None) -> bytes:
    """Return the poster as a one-page A4 PDF with the font subset embedded."""
    path, font = _load_checked_font(content, font_path)
    return _render_pdf(_layout(content, font), font, title=content.title)


@dataclasses.dataclass(frozen=True)
class _Text:
    text: str
    x: float
    baseline: float
    size: float  # points
    colour: str
    align: Literal["left", "centre"] = "centre"
    bold: bool = False


@dataclasses.dataclass(frozen=True)
class _Box:
    x: float
    y: float
    width: float
    height: float
    fill: str | None
    stroke: str | None = None
    line_width: float = 0.0
    radius: float = 0.0


@dataclasses.dataclass(frozen=True)
class _Code:
    x: float
    y: float
    size: float
    modules: tuple[tuple[bool, ...], ...]


_Op = _Text | _Box | _Code


def _layout(content: PosterContent, font: TTFont) -> list[_Op]:
    sections = [
        _banner(content, font),
        _place(content, font),
        _code_and_contact(content, font),
        _panel("工程项目与工资信息", _project_rows(content), font),
        _panel("投诉维权渠道", _channel_rows(content), font),
        _footer(content, font),
    ]
    # Spread the spare height evenly between sections, up to a limit past which they drift
    # apart; what is left over centres the whole block on the page.
    available = PAGE_HEIGHT - 2 * MARGIN
    used = sum(height for height, _ in sections)
    gap = min(MAX_GAP, (available - used) / (len(sections) - 1))
    if gap < MIN_GAP:
        raise ValueError(f"the notice text is too long to fit on the poster (gap {gap:.1f} mm)")
    top = MARGIN + (available - used - gap * (len(sections) - 1)) / 2
    ops: list[_Op] = []
    for height, section in sections:
        ops.extend(_shifted(op, top) for op in section)
        top += height + gap
    return ops


# Each section below is laid out from its own top edge (y = 0) and returns (height, ops).


def _banner(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    height = 24.0
    size = _fit(font, content.title, 40, CONTENT_WIDTH - 16)
    # CJK glyphs sit about 0.36 em above the baseline on average: centre them in the band.
    baseline = height / 2 + 0.36 * _em(size)
    return height, [
        _Box(MARGIN, 0, CONTENT_WIDTH, height, fill=ACCENT, radius=3.0),
        _Text(content.title, CENTRE, baseline, size, WHITE, bold=True),
    ]


def _place(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    place = f"{content.district} {content.street}"
    if content.site_name:
        place += f" · {content.site_name}"
    size = _fit(font, place, 18, CONTENT_WIDTH)
    baseline = _ASCENT * _em(size)
    return baseline + _DESCENT * _em(size), [_Text(place, CENTRE, baseline, size, INK, bold=True)]


def _code_and_contact(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    # The code on the left, framed so it reads as the thing to scan (the frame lies outside the
    # quiet zone); on the right, whom to call and what happens.
    modules = tuple(tuple(row) for row in qr_matrix(content.qr_data))
    frame = 2.0
    side = QR_SIZE + 2 * frame
    ops: list[_Op] = [
        _Box(MARGIN, 0, side, side, fill=WHITE, stroke=RULE, line_width=0.5, radius=3.0),
        _Code(MARGIN + frame, frame, QR_SIZE, modules),
    ]
    y = 4.0
    heading = SUBTITLE
    size = _fit(font, heading, 20, COLUMN_WIDTH)
    y += _ASCENT * _em(size)
    ops.append(_Text(heading, COLUMN_X, y, size, ACCENT, align="left", bold=True))
    # The largest text after the title: the number is what people will call.
    name = f"工长：{content.foreman_name}"
    phone = _display_phone(content.foreman_phone)
    size = min(_fit(font, name, 22, COLUMN_WIDTH), _fit(font, phone, 26, COLUMN_WIDTH))
    y += 2.0 * _em(size)
    ops.append(_Text(name, COLUMN_X, y, size, INK, align="left", bold=True))
    y += 1.5 * _em(size)
    ops.append(_Text(phone, COLUMN_X, y, min(26, size * 26 / 22), INK, align="left", bold=True))
    y += 0.8 * _em(size)
    steps_size = min([_fit(font, line, 13, COLUMN_WIDTH) for line in content.instructions] + [13.0])
    for line in content.instructions:
        for part in _wrap(font, line, steps_size, COLUMN_WIDTH):
            y += 1.55 * _em(steps_size)
            ops.append(_Text(part, COLUMN_X, y, steps_size, INK, align="left"))
    return max(side, y + _DESCENT * _em(steps_size)), ops


def _or_blank(value: str) -> str:
    return value.strip() or BLANK


def _project_rows(content: PosterContent) -> list[tuple[str, str]]:
    notice = content.notice
    officer = " ".join(p for p in (notice.wage_officer.strip(), notice.wage_officer_phone) if p)
    return [
        ("建设单位", _or_blank(notice.builder)),
        ("施工总承包单位", _or_blank(notice.general_contractor)),
        ("分包单位", _or_blank(notice.subcontractors)),
        ("行业主管部门", _or_blank(notice.authority)),
        ("劳资专管员", _or_blank(officer)),
        ("工资支付日期", _or_blank(notice.pay_day)),
        ("当地最低工资", _or_blank(notice.minimum_wage)),
    ]


def _channel_rows(content: PosterContent) -> list[tuple[str, str]]:
    notice = content.notice
    hotline = notice.hotline.strip()
    phones = [
        f"工长 {_display_phone(content.foreman_phone)}",
        f"{hotline} 政务服务便民热线",
        # The hotline is printed once, however the list of other numbers was written.
        *(p for p in notice.complaint_phones if not p.strip().startswith(hotline)),
    ]
    return [
        ("投诉举报电话", "；".join(p.strip() for p in phones if p.strip())),
        ("劳动争议仲裁", _or_blank(notice.arbitration)),
        ("法律援助", _or_blank(notice.legal_aid)),
    ]


def _panel(title: str, rows: list[tuple[str, str]], font: TTFont) -> tuple[float, list[_Op]]:
    # A titled panel of "label：value" lines; long values wrap under themselves.
    padding = 5.0
    size = PANEL_TEXT
    line = 1.5 * _em(size)
    label_width = max(font.stringWidth(label + "：", size) for label, _ in rows) * _MM_PER_PT
    value_x = MARGIN + padding + label_width
    value_width = CONTENT_WIDTH - 2 * padding - label_width
    heading_size = 15.0
    y = padding + _ASCENT * _em(heading_size)
    ops: list[_Op] = [_Text(title, MARGIN + padding, y, heading_size, ACCENT, "left", bold=True)]
    y += 0.5 * _em(heading_size)
    for label, value in rows:
        y += line
        ops.append(_Text(label + "：", MARGIN + padding, y, size, MUTED, align="left"))
        for index, part in enumerate(_wrap(font, value, size, value_width)):
            if index:
                y += line
            ops.append(_Text(part, value_x, y, size, INK, align="left"))
    height = y + _DESCENT * _em(size) + padding
    frame = _Box(MARGIN, 0, CONTENT_WIDTH, height, fill=PANEL, radius=3.0)
    return height, [frame, *ops]


def _footer(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    text = f"{LEGAL_BASIS} · {content.district}{content.street}"
    size = _fit(font, text, 10.5, CONTENT_WIDTH)
    baseline = _ASCENT * _em(size)
    return baseline + _DESCENT * _em(size), [_Text(text, CENTRE, baseline, size, MUTED)]


def _wrap(font: TTFont, text: str, size: float, width: float) -> list[str]:
    """Break text into lines no wider than ``width`` mm (Chinese breaks between any characters;
    a run of Latin letters or digits is kept whole)."""
    tokens = re.findall(r"[0-9A-Za-z.\-/]+|.", text)
    lines: list[str] = []
    current = ""
    for token in tokens:
        candidate = current + token
        if current and font.stringWidth(candidate, size) * _MM_PER_PT > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current)
    if any(font.stringWidth(line, size) * _MM_PER_PT > width for line in lines):
        raise ValueError(f"{text!r} is too long to fit on the poster")
    return lines or [""]


def _fit(font: TTFont, text: str, size: float, width: float) -> float:
    """Return `size`, or the smaller size at which `text` fits in `width` millimetres."""
    # Long street or site names shrink to the line instead of running off the page.
    natural = font.stringWidth(text, size) * _MM_PER_PT
    fitted = size if natural <= width else size * width / natural
    if fitted < MIN_FONT_SIZE:
        raise ValueError(f"{text!r} is too long to fit on the poster")
    return fitted


def _em(size: float) -> float:
    return size * _MM_PER_PT


def _shifted(op: _Op, dy: float) -> _Op:
    if isinstance(op, _Text):
        return dataclasses.replace(op, baseline=op.baseline + dy)
    return dataclasses.replace(op, y=op.y + dy)


def _display_phone(phone: str) -> str:
    # 3-4-4 groups are how mainland mobile numbers are printed and read aloud.
    phone = phone.strip()
    if _MOBILE.fullmatch(phone):
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return phone


def _load_checked_font(
    content: PosterContent, font_path: str | os.PathLike[str] | None
) -> tuple[Path, TTFont]:
    path = find_cjk_font(font_path)
    font = _load_font(path.resolve())
    text = "".join(
        (
            content.title,
            content.district,
            content.street,
            content.site_name or "",
            content.foreman_name,
            content.foreman_phone,
            "工长电话：",
            *content.instructions,
            SUBTITLE,
            LEGAL_BASIS,
            BLANK,
            content.notice.text(),
            "".join(label for label, _ in _project_rows(content) + _channel_rows(content)),
            "工程项目与工资信息投诉维权渠道政务服务便民热线·；",
        )
    )
    # Pillow and reportlab both draw a missing glyph as an empty box without complaint; a poster
    # with a box for a character of the foreman's name must not be printed.
    missing = sorted({c for c in text if not c.isspace() and ord(c) not in font.face.charToGlyph})
    if missing:
        raise MissingGlyphs(path, "".join(missing))
    return path, font


@functools.lru_cache(maxsize=4)
def _load_font(path: Path) -> TTFont:
    # reportlab's font registry is process-wide: one name per file, so two fonts never swap.
    name = "CJK-" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    font = TTFont(name, str(path), subfontIndex=0)
    pdfmetrics.registerFont(font)
    return font


def _render_png(ops: list[_Op], font_path: Path, dpi: int) -> bytes:
    px = dpi / 25.4
    image = Image.new("RGB", (round(PAGE_WIDTH * px), round(PAGE_HEIGHT * px)), WHITE)
    draw = ImageDraw.Draw(image)

    @functools.cache
    def pil_font(size: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(font_path), size=size * dpi / 72, index=0)

    for op in ops:
        if isinstance(op, _Box):
            box = (op.x * px, op.y * px, (op.x + op.width) * px, (op.y + op.height) * px)
            width = max(1, round(op.line_width * px)) if op.stroke else 0
            draw.rounded_rectangle(
                box, radius=op.radius * px, fill=op.fill, outline=op.stroke, width=width
            )
        elif isinstance(op, _Text):
            size_px = op.size * dpi / 72
            draw.text(
                (op.x * px, op.baseline * px),
                op.text,
                font=pil_font(op.size),
                fill=op.colour,
                anchor="ms" if op.align == "centre" else "ls",
                stroke_width=size_px * 0.012 if op.bold else 0,
                stroke_fill=op.colour,
            )
        else:
            # Whole pixels per module: blurred or uneven module edges are what makes scans fail.
            count = len(op.modules)
            module = math.floor(op.size * px / count)
            left = round(op.x * px + (op.size * px - module * count) / 2)
            top = round(op.y * px + (op.size * px - module * count) / 2)
            for row, start, length in _runs(op.modules):
                x0, y0 = left + start * module, top + row * module
                draw.rectangle((x0, y0, x0 + length * module - 1, y0 + module - 1), fill=CODE_INK)

    out = io.BytesIO()
    # The dpi tag makes the image print at A4 size rather than at the viewer's guess.
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def _render_pdf(ops: list[_Op], font: TTFont, *, title: str) -> bytes:
    pt = 72 / 25.4
    out = io.BytesIO()
    # invariant: no timestamps or random ids, so the same content gives the same bytes.
    # The initial font would otherwise be Helvetica, listed in the PDF unembedded though unused.
    pdf = canvas.Canvas(out, pagesize=A4, invariant=1, initialFontName=font.fontName)
    pdf.setTitle(title)
    page_height = A4[1]

    for op in ops:
        if isinstance(op, _Box):
            pdf.setFillColor(op.fill or WHITE)
            if op.stroke:
                pdf.setStrokeColor(op.stroke)
                pdf.setLineWidth(op.line_width * pt)
            pdf.roundRect(
                op.x * pt,
                page_height - (op.y + op.height) * pt,
                op.width * pt,
                op.height * pt,
                op.radius * pt,
                stroke=1 if op.stroke else 0,
                fill=1 if op.fill else 0,
            )
        elif isinstance(op, _Text):
            pdf.setFont(font.fontName, op.size)
            pdf.setFillColor(op.colour)
            # Render mode 2 (fill, then stroke the outline) thickens the strokes: the font has no
            # bold face.
            mode = 2 if op.bold else 0
            if op.bold:
                pdf.setStrokeColor(op.colour)
                pdf.setLineWidth(op.size * 0.024)
            x, y = op.x * pt, page_height - op.baseline * pt
            if op.align == "centre":
                pdf.drawCentredString(x, y, op.text, mode=mode)
            else:
                pdf.drawString(x, y, op.text, mode=mode)
        else:
            module = op.size * pt / len(op.modules)
            top = page_height - op.y * pt
            # One path for all modules: filled as a single shape, adjacent modules leave no
            # hairline seams in viewers that anti-alias each rectangle separately.
            path = pdf.beginPath()
            for row, start, length in _runs(op.modules):
                path.rect(
                    op.x * pt + start * module, top - (row + 1) * module, length * module, module
                )
            pdf.setFillColor(CODE_INK)
            pdf.drawPath(path, stroke=0, fill=1)

    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _runs(modules: tuple[tuple[bool, ...], ...]) -> list[tuple[int, int, int]]:
    """Return (row, first column, length) for each horizontal run of dark modules."""
    runs = []
    for row, cells in enumerate(modules):
        column = 0
        while column < len(cells):
            if cells[column]:
                start = column
                while column < len(cells) and cells[column]:
                    column += 1
                runs.append((row, start, column - start))
            else:
                column += 1
    return runs
