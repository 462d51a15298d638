"""Finding a CJK TrueType font, and failing clearly when there is none."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import reportlab

from qr import FontNotFound, find_cjk_font
from qr.fonts import KNOWN_CJK_FONTS

# A TrueType font shipped inside reportlab: always present, and without any Chinese glyph.
VERA = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"


def test_find_cjk_font_raises_for_a_nonexistent_explicit_path(tmp_path):
    with pytest.raises(FontNotFound, match="fonts-wqy-microhei"):
        find_cjk_font(tmp_path / "no-such-font.ttc")


def test_find_cjk_font_does_not_fall_back_when_the_explicit_path_is_wrong(tmp_path, cjk_font):
    with pytest.raises(FontNotFound, match="no-such-font"):
        find_cjk_font(str(tmp_path / "no-such-font.ttc"))


def test_find_cjk_font_rejects_a_file_that_is_not_a_font(tmp_path):
    path = tmp_path / "font.ttc"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(FontNotFound, match="TrueType"):
        find_cjk_font(path)


def test_find_cjk_font_rejects_cff_outlines_which_reportlab_cannot_embed(tmp_path):
    # The header of an OpenType font with PostScript outlines, like fonts-noto-cjk's.
    path = tmp_path / "NotoSansCJK-Regular.otf"
    path.write_bytes(b"OTTO" + struct.pack(">HHHH", 1, 16, 0, 0) + b"CFF " + bytes(12))
    with pytest.raises(FontNotFound, match="TrueType"):
        find_cjk_font(path)


def test_find_cjk_font_returns_an_explicit_truetype_font():
    assert find_cjk_font(str(VERA)) == VERA


def test_find_cjk_font_finds_an_installed_cjk_font(cjk_font):
    assert cjk_font in KNOWN_CJK_FONTS
    assert cjk_font.is_file()
