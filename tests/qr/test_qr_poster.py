"""The A4 poster: a large scannable code and Chinese text drawn with real glyphs, PNG and PDF."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest
import reportlab
from PIL import Image, ImageChops, ImageDraw, ImageFont

from qr import MissingGlyphs, NoticeBoard, PosterContent, poster_pdf, poster_png

URL = "https://wage.yantian.gov.cn/q/k3J_9xQv-2LmN8pR4tYb7WcZ1hD6fG0s"
VERA = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
MM_PER_INCH = 25.4


@pytest.fixture
def make_content():
    """Return a function building poster content, with overrides."""

    def make(**overrides) -> PosterContent:
        fields = {
            "foreman_name": "张伟",
            "foreman_phone": "13800138000",
            "street": "沙头角街道",
            "site_name": "东和花园二期项目",
            "qr_data": URL,
        }
        return PosterContent(**(fields | overrides))

    return make


@pytest.fixture
def pdf_page_png(run_tool, tmp_path):
    """Return a function rasterising page 1 of a PDF at 100 dpi with pdftoppm."""

    def rasterise(pdf: bytes) -> bytes:
        source = tmp_path / "poster.pdf"
        source.write_bytes(pdf)
        run_tool(
            "pdftoppm",
            "-r",
            "100",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            str(source),
            str(tmp_path / "page"),
        )
        return (tmp_path / "page-1.png").read_bytes()

    return rasterise


def glyph_bitmaps(font: ImageFont.FreeTypeFont, text: str) -> list[bytes]:
    """Render each character alone on the same canvas and return the bitmaps."""
    bitmaps = []
    for char in text:
        image = Image.new("L", (96, 96), 0)
        ImageDraw.Draw(image).text((8, 8), char, font=font, fill=255)
        bitmaps.append(image.tobytes())
    return bitmaps


def draws_distinct_glyphs(font: ImageFont.FreeTypeFont, text: str) -> bool:
    """Tell whether distinct characters come out as distinct, non-blank bitmaps (not tofu)."""
    bitmaps = glyph_bitmaps(font, text)
    inked = all(any(bitmap) for bitmap in bitmaps)
    return inked and len(set(bitmaps)) == len(set(text))


def load_png(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def ink_ratio(image: Image.Image) -> float:
    grey = image.convert("L")
    return sum(grey.histogram()[:128]) / (grey.width * grey.height)


def test_glyph_check_detects_tofu_boxes():
    # Fonts without Chinese draw every character as the same box: the check must say so, or the
    # tests below would prove nothing.
    text = "张伟李娜海山梅沙街道"
    assert not draws_distinct_glyphs(ImageFont.load_default(size=48), text)
    assert not draws_distinct_glyphs(ImageFont.truetype(str(VERA), 48), text)


def test_cjk_font_draws_distinct_chinese_glyphs(cjk_font, make_content):
    content = make_content()
    text = "".join(
        {c: None for c in content.title + content.foreman_name + content.street + content.district}
    ).replace(" ", "")
    assert draws_distinct_glyphs(ImageFont.truetype(str(cjk_font), 48, index=0), text)


def test_poster_png_is_a4_portrait_at_the_requested_dpi(cjk_font, make_content):
    for dpi in (100, 150):
        image = load_png(poster_png(make_content(), dpi=dpi))
        assert image.size == (round(210 / MM_PER_INCH * dpi), round(297 / MM_PER_INCH * dpi))
        # PNG stores pixels per metre as an integer: the dpi comes back slightly rounded.
        assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.05)


@pytest.mark.parametrize("dpi", [96, 150, 300])
def test_poster_png_qr_decodes_to_the_url(cjk_font, make_content, decode_qr, dpi):
    assert decode_qr(poster_png(make_content(), dpi=dpi)) == [URL]


def test_poster_png_qr_is_at_least_8_cm_wide(cjk_font, make_content, decode_qr):
    dpi = 150
    image = load_png(poster_png(make_content(), dpi=dpi)).convert("RGB")
    # The code is the only thing drawn in pure black (text is a softer near-black).
    black = image.point(lambda v: 255 if v == 0 else 0).convert("L")
    left, top, right, bottom = black.getbbox()
    width_mm = (right - left) / dpi * MM_PER_INCH
    height_mm = (bottom - top) / dpi * MM_PER_INCH
    assert width_mm >= 80
    assert height_mm == pytest.approx(width_mm, abs=0.5)
    # And that box is the code: cropped with its quiet zone, it still decodes.
    quiet = (right - left) // 8
    crop = image.crop((left - quiet, top - quiet, right + quiet, bottom + quiet))
    out = io.BytesIO()
    crop.save(out, format="PNG")
    assert decode_qr(out.getvalue()) == [URL]


def test_poster_png_draws_chinese_glyphs(cjk_font, make_content):
    # Two posters differing only in same-length Chinese names. Drawn as tofu, every character is
    # the same box and the two images would be identical; drawn blank, likewise.
    first = load_png(poster_png(make_content(foreman_name="张伟", street="海山街道")))
    second = load_png(poster_png(make_content(foreman_name="李娜", street="梅沙街道")))
    difference = ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox()
    assert difference is not None
    # The name line and the street line each differ, and carry ink in both posters.
    rows = [
        y
        for y in range(first.height)
        if ImageChops.difference(
            first.crop((0, y, first.width, y + 1)).convert("RGB"),
            second.crop((0, y, second.width, y + 1)).convert("RGB"),
        ).getbbox()
    ]
    bands = [[rows[0]]]
    for y in rows[1:]:
        if y == bands[-1][-1] + 1:
            bands[-1].append(y)
        else:
            bands.append([y])
    # The place line, the name line and the footer (which names the street) differ; nothing else.
    assert len(bands) == 3, "expected the place, name and footer lines to differ"
    for band in bands:
        box = (0, band[0], first.width, band[-1] + 1)
        for poster in (first, second):
            assert 0.02 < ink_ratio(poster.crop(box)) < 0.5


def test_poster_refuses_a_font_without_chinese_glyphs(make_content):
    content = make_content()
    for render in (poster_png, poster_pdf):
        with pytest.raises(MissingGlyphs) as caught:
            render(content, font_path=VERA)
        assert "张" in caught.value.characters and "伟" in caught.value.characters


def test_poster_refuses_a_character_the_font_lacks(cjk_font, make_content):
    # A private-use code point no font maps: it would print as a box in the foreman's name.
    with pytest.raises(MissingGlyphs) as caught:
        poster_png(make_content(foreman_name="张\U0010fffd"))
    assert caught.value.characters == "\U0010fffd"


def test_poster_shrinks_a_long_site_name_to_fit(cjk_font, make_content, decode_qr):
    content = make_content(site_name="盐田港后方陆域综合开发一期工程第三标段主体结构施工项目部")
    assert decode_qr(poster_png(content)) == [URL]


def test_poster_rejects_text_too_long_to_print(cjk_font, make_content):
    with pytest.raises(ValueError, match="too long"):
        poster_png(make_content(site_name="长" * 120))


def test_poster_without_a_site_decodes(cjk_font, make_content, decode_qr):
    assert decode_qr(poster_png(make_content(site_name=None))) == [URL]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("foreman_name", " "),
        ("foreman_phone", ""),
        ("street", ""),
        ("qr_data", ""),
        ("site_name", ""),
    ],
)
def test_poster_content_rejects_blank_fields(make_content, field, value):
    with pytest.raises(ValueError, match=field):
        make_content(**{field: value})


def test_poster_content_needs_three_instruction_lines(make_content):
    with pytest.raises(ValueError, match="three"):
        make_content(instructions=("1. 扫码", "2. 填写"))


def test_poster_content_is_frozen_and_keeps_instructions_as_a_tuple(make_content):
    content = make_content(instructions=["一", "二", "三"])
    assert content.instructions == ("一", "二", "三")
    with pytest.raises(dataclasses.FrozenInstanceError):
        content.street = "海山街道"


def test_poster_pdf_qr_decodes_after_rasterising(cjk_font, make_content, pdf_page_png, decode_qr):
    assert decode_qr(pdf_page_png(poster_pdf(make_content()))) == [URL]


def test_poster_pdf_is_one_a4_page(cjk_font, make_content, run_tool, tmp_path):
    path = tmp_path / "poster.pdf"
    path.write_bytes(poster_pdf(make_content()))
    info = run_tool("pdfinfo", str(path)).decode()
    assert re.search(r"^Pages:\s+1$", info, re.M)
    assert re.search(r"^Page size:\s+595\.2\d* x 841\.8\d* pts \(A4\)", info, re.M)


def test_poster_pdf_embeds_its_only_font(cjk_font, make_content, run_tool, tmp_path):
    path = tmp_path / "poster.pdf"
    path.write_bytes(poster_pdf(make_content()))
    lines = run_tool("pdffonts", str(path)).decode().splitlines()
    header, fonts = lines[0].split(), lines[2:]
    emb = header.index("emb")
    # Columns after the name are single words, so count from the right: names may hold spaces.
    offset = len(header) - emb
    assert fonts, "no font in the PDF"
    for line in fonts:
        assert line.split()[-offset] == "yes", f"font not embedded: {line}"
        assert "STSong" not in line


def test_poster_pdf_text_extracts_in_chinese(cjk_font, make_content, run_tool, tmp_path):
    path = tmp_path / "poster.pdf"
    path.write_bytes(poster_pdf(make_content()))
    text = run_tool("pdftotext", "-enc", "UTF-8", str(path), "-").decode()
    for expected in (
        "张伟",
        "沙头角街道",
        "盐田区",
        "138 0013 8000",
        "东和花园二期项目",
        "欠薪投诉",
    ):
        assert expected in text


def test_poster_pdf_is_deterministic(cjk_font, make_content):
    assert poster_pdf(make_content()) == poster_pdf(make_content())


NOTICE = NoticeBoard(
    builder="深圳市盐田区建筑工务署",
    general_contractor="中建某局第三建筑工程有限公司（东和花园项目部）",
    subcontractors="深圳市鹏城劳务分包有限公司",
    authority="盐田区住房和建设局 0755-25228000",
    wage_officer="王强",
    wage_officer_phone="13912345678",
    pay_day="每月15日前支付上月工资",
    minimum_wage="深圳市月最低工资标准 2520 元",
    hotline="12345",
    # The hotline written again among the other numbers is printed once.
    complaint_phones=("12345 政务服务便民热线", "12333 人力资源社会保障服务热线"),
    arbitration="盐田区劳动人事争议仲裁委员会：可申请劳动仲裁",
    legal_aid="12348 公共法律服务热线；盐田区法律援助处",
)


def test_the_notice_board_poster_carries_what_article_34_requires(
    cjk_font, make_content, run_tool, tmp_path, pdf_page_png, decode_qr
):
    pdf = poster_pdf(make_content(notice=NOTICE))
    path = tmp_path / "poster.pdf"
    path.write_bytes(pdf)
    info = run_tool("pdfinfo", str(path)).decode()
    assert re.search(r"^Pages:\s+1$", info, re.M)
    text = re.sub(r"\s+", "", run_tool("pdftotext", "-enc", "UTF-8", str(path), "-").decode())
    for expected in (
        "维权信息告示牌",
        "建设单位",
        "深圳市盐田区建筑工务署",
        "施工总承包单位",
        "劳资专管员",
        "王强13912345678",
        "工资支付日期",
        "最低工资",
        "2520元",
        "12345政务服务便民热线",
        "12333",
        "劳动争议仲裁",
        "盐田区劳动人事争议仲裁委员会",
        "法律援助",
        "12348",
        "保障农民工工资支付条例",
    ):
        assert expected in text, expected
    assert text.count("12345政务服务便民热线") == 1
    assert decode_qr(pdf_page_png(pdf)) == [URL]


def test_unknown_notice_facts_print_as_a_line_to_fill_in(
    cjk_font, make_content, run_tool, tmp_path
):
    path = tmp_path / "poster.pdf"
    path.write_bytes(poster_pdf(make_content(notice=NoticeBoard(minimum_wage="2520 元"))))
    text = run_tool("pdftotext", "-enc", "UTF-8", str(path), "-").decode()
    assert "建设单位" in text and "2520 元" in text
    # Six site facts are unknown here: each leaves a line to write on.
    assert text.count("＿＿＿＿＿＿＿＿") >= 6


def test_notice_text_too_long_for_the_page_is_refused(cjk_font, make_content):
    with pytest.raises(ValueError, match="too long"):
        poster_pdf(make_content(notice=NoticeBoard(arbitration="仲裁" * 400)))
