"""QR codes decode back to their data, at level Q, with the standard quiet zone."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from qr import qr_matrix, qr_png, qr_svg

# The shape of a real poster URL: a 32-character url-safe token.
TOKEN_URL = "https://wage.yantian.gov.cn/q/k3J_9xQv-2LmN8pR4tYb7WcZ1hD6fG0s"
URLS = [
    "https://wage.yantian.gov.cn/q/abc",
    TOKEN_URL,
    "https://wage.yantian.gov.cn/h5/complain?t=" + "Zx9-_" * 6 + "Ab&site=42",
]


def png_modules(png: bytes, box_size: int) -> list[list[bool]]:
    """Read the module grid back from a PNG by sampling the centre of each box."""
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.width == image.height and image.width % box_size == 0
    count = image.width // box_size
    half = box_size // 2
    return [
        [image.getpixel((c * box_size + half, r * box_size + half)) < 128 for c in range(count)]
        for r in range(count)
    ]


def svg_modules(svg: bytes) -> list[list[bool]]:
    """Read the module grid back from the SVG: its viewBox is in modules, one square per module."""
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    x0, y0, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x0, y0) == (0, 0) and width == height and width.is_integer()
    count = int(width)
    # A white background, so the code also scans when placed on a dark page.
    background = root.find("{http://www.w3.org/2000/svg}rect")
    assert background is not None and background.attrib["fill"] == "white"
    (path,) = root.iter("{http://www.w3.org/2000/svg}path")
    grid = [[False] * count for _ in range(count)]
    squares = re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H(\d+)z", path.attrib["d"])
    assert len(squares) == path.attrib["d"].count("M"), "unexpected path syntax"
    for x, y, x_end, y_end, x_back in squares:
        assert (int(x_end) - int(x), int(y_end) - int(y), x_back) == (1, 1, x)
        grid[int(y)][int(x)] = True
    return grid


def modules_png(grid: list[list[bool]], box_size: int = 8) -> bytes:
    """Rasterise a module grid, for zbarimg to read what the SVG describes."""
    image = Image.new("L", (len(grid) * box_size,) * 2, 255)
    for r, row in enumerate(grid):
        for c, dark in enumerate(row):
            if dark:
                image.paste(0, (c * box_size, r * box_size, (c + 1) * box_size, (r + 1) * box_size))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("url", URLS)
def test_qr_png_decodes_to_the_exact_url(decode_qr, url):
    assert decode_qr(qr_png(url)) == [url]


def test_qr_png_decodes_at_small_box_size(decode_qr):
    assert decode_qr(qr_png(TOKEN_URL, box_size=3)) == [TOKEN_URL]


@pytest.mark.parametrize("url", URLS)
def test_qr_svg_has_the_png_modules_and_decodes_to_the_exact_url(decode_qr, url):
    svg = qr_svg(url)
    png_grid = png_modules(qr_png(url, box_size=10), box_size=10)
    svg_grid = svg_modules(svg)
    assert svg_grid == png_grid
    assert decode_qr(modules_png(svg_grid)) == [url]


def test_qr_svg_size_follows_box_size():
    root = ET.fromstring(qr_svg(TOKEN_URL, box_size=20))
    count = len(qr_matrix(TOKEN_URL))
    assert root.attrib["width"] == root.attrib["height"] == f"{count * 2}mm"


def test_qr_png_has_a_four_module_quiet_zone():
    grid = png_modules(qr_png(TOKEN_URL, box_size=10), box_size=10)
    count = len(grid)
    quiet = [
        (r, c)
        for r in range(count)
        for c in range(count)
        if min(r, c, count - 1 - r, count - 1 - c) < 4
    ]
    assert not any(grid[r][c] for r, c in quiet)
    # The finder patterns start right after it, in three corners.
    assert grid[4][4] and grid[4][count - 5] and grid[count - 5][4]


def test_qr_code_uses_error_correction_level_q():
    grid = png_modules(qr_png(TOKEN_URL, box_size=10), box_size=10)
    # Format information, first copy: row 8 columns 0-5, 7, 8 then column 8 rows 7, 5-0 (ISO/IEC
    # 18004 §7.9), offset by the quiet zone; masked with 101010000010010; the top two bits are
    # the level (L=01, M=00, Q=11, H=10).
    cells = [(8, c) for c in (0, 1, 2, 3, 4, 5, 7, 8)] + [(r, 8) for r in (7, 5, 4, 3, 2, 1, 0)]
    bits = "".join("1" if grid[r + 4][c + 4] else "0" for r, c in cells)
    unmasked = int(bits, 2) ^ 0b101010000010010
    assert unmasked >> 13 == 0b11


def test_qr_matrix_matches_the_png():
    assert qr_matrix(TOKEN_URL) == png_modules(qr_png(TOKEN_URL, box_size=4), box_size=4)


@pytest.mark.parametrize("make", [qr_png, qr_svg, qr_matrix])
def test_quiet_zone_below_four_modules_is_rejected(make):
    with pytest.raises(ValueError, match="quiet zone"):
        make(TOKEN_URL, border=2)


@pytest.mark.parametrize("make", [qr_png, qr_svg, qr_matrix])
def test_empty_data_is_rejected(make):
    with pytest.raises(ValueError, match="empty"):
        make("")
