"""The printable A4 poster for a site's 维权信息告示牌: title, QR code, foreman contact, steps."""

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

DEFAULT_TITLE = "欠薪投诉 扫码找工长"
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
MARGIN = 14.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
CENTRE = PAGE_WIDTH / 2
MIN_GAP = 4.0
MAX_GAP = 14.0
# Quiet zone included. Even the smallest symbol (version 1: 21 of 29 modules) is then over 8 cm
# wide, large enough to scan from a step or two away.
QR_SIZE = 116.0
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
        _code(content),
        _contact(content, font),
        _steps(content, font),
    ]
    # Spread the spare height evenly between sections, up to a limit past which they drift
    # apart; what is left over centres the whole block on the page.
    available = PAGE_HEIGHT - 2 * MARGIN
    used = sum(height for height, _ in sections)
    gap = min(MAX_GAP, (available - used) / (len(sections) - 1))
    if gap < MIN_GAP:
        raise AssertionError(f"poster sections do not fit the page (gap {gap:.1f} mm)")
    top = MARGIN + (available - used - gap * (len(sections) - 1)) / 2
    ops: list[_Op] = []
    for height, section in sections:
        ops.extend(_shifted(op, top) for op in section)
        top += height + gap
    return ops


# Each section below is laid out from its own top edge (y = 0) and returns (height, ops).


def _banner(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    height = 34.0
    size = _fit(font, content.title, 44, CONTENT_WIDTH - 16)
    # CJK glyphs sit about 0.36 em above the baseline on average: centre them in the band.
    baseline = height / 2 + 0.36 * _em(size)
    return height, [
        _Box(MARGIN, 0, CONTENT_WIDTH, height, fill=ACCENT, radius=3.0),
        _Text(content.title, CENTRE, baseline, size, WHITE, bold=True),
    ]


def _place(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    place = f"{content.district} {content.street}"
    size = _fit(font, place, 24, CONTENT_WIDTH)
    baseline = _ASCENT * _em(size)
    ops: list[_Op] = [_Text(place, CENTRE, baseline, size, INK, bold=True)]
    if content.site_name:
        site = f"工地：{content.site_name}"
        size = _fit(font, site, 16, CONTENT_WIDTH)
        baseline += 1.6 * _em(size)
        ops.append(_Text(site, CENTRE, baseline, size, MUTED))
    return baseline + _DESCENT * _em(size), ops


def _code(content: PosterContent) -> tuple[float, list[_Op]]:
    # Framed so it reads as the thing to scan; the frame lies outside the quiet zone.
    modules = tuple(tuple(row) for row in qr_matrix(content.qr_data))
    frame = 2.0
    side = QR_SIZE + 2 * frame
    return side, [
        _Box(CENTRE - side / 2, 0, side, side, fill=WHITE, stroke=RULE, line_width=0.5, radius=3.0),
        _Code(CENTRE - QR_SIZE / 2, frame, QR_SIZE, modules),
    ]


def _contact(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    # The largest text after the title: the number is what people will call.
    name = f"工长：{content.foreman_name}"
    phone = f"电话：{_display_phone(content.foreman_phone)}"
    size = min(_fit(font, name, 30, CONTENT_WIDTH), _fit(font, phone, 30, CONTENT_WIDTH))
    first = _ASCENT * _em(size)
    second = first + 1.45 * _em(size)
    return second + _DESCENT * _em(size), [
        _Text(name, CENTRE, first, size, INK, bold=True),
        _Text(phone, CENTRE, second, size, INK, bold=True),
    ]


def _steps(content: PosterContent, font: TTFont) -> tuple[float, list[_Op]]:
    # Left-aligned in a panel so the three lines read as a list.
    padding = 8.0
    size = min(_fit(font, line, 18, CONTENT_WIDTH - 2 * padding) for line in content.instructions)
    line_height = 1.65 * _em(size)
    baseline = padding + _ASCENT * _em(size)
    height = baseline + 2 * line_height + _DESCENT * _em(size) + padding
    ops: list[_Op] = [_Box(MARGIN, 0, CONTENT_WIDTH, height, fill=PANEL, radius=3.0)]
    for line in content.instructions:
        ops.append(_Text(line, MARGIN + padding, baseline, size, INK, align="left"))
        baseline += line_height
    return height, ops


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
            "工地长电话：",
            *content.instructions,
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
