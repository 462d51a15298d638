"""Locate a CJK TrueType font that both Pillow and reportlab can draw Chinese text with."""

from __future__ import annotations

import os
import struct
from pathlib import Path

# Fonts with TrueType (glyf) outlines only: reportlab can embed nothing else, and the PNG and the
# PDF poster must use the same font. fonts-noto-cjk is deliberately absent: its .ttc files have
# CFF (PostScript) outlines, which Pillow draws but reportlab refuses ("postscript outlines are
# not supported").
KNOWN_CJK_FONTS: tuple[Path, ...] = (
    # Debian/Ubuntu fonts-wqy-microhei: small (1.6 MB download), the recommended package.
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    # Debian/Ubuntu fonts-wqy-zenhei.
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    # Fedora / RHEL (wqy-microhei-fonts, wqy-zenhei-fonts).
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
    # Arch (wqy-microhei, wqy-zenhei).
    Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc"),
    # Debian/Ubuntu fonts-droid-fallback.
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    # Debian/Ubuntu fonts-arphic-uming.
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)

INSTALL_HINT = (
    "install a CJK TrueType font (Debian/Ubuntu: apt-get install fonts-wqy-microhei) "
    "or configure the path of one"
)


class FontNotFound(LookupError):
    """No usable CJK TrueType font was found."""


def find_cjk_font(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of a usable CJK TrueType font: `explicit` if given, else a known one."""
    if explicit is not None:
        # A configured path that is wrong must fail loudly, not fall back to some other font.
        path = Path(explicit)
        if not path.is_file():
            raise FontNotFound(f"font file {str(path)!r} does not exist; {INSTALL_HINT}")
        if not has_truetype_outlines(path):
            raise FontNotFound(
                f"font file {str(path)!r} is not a TrueType-outline font "
                f"(reportlab cannot embed CFF/OpenType-PS fonts); {INSTALL_HINT}"
            )
        return path
    for path in KNOWN_CJK_FONTS:
        if path.is_file() and has_truetype_outlines(path):
            return path
    searched = ", ".join(str(p) for p in KNOWN_CJK_FONTS)
    raise FontNotFound(f"no CJK font found (searched {searched}); {INSTALL_HINT}")


def has_truetype_outlines(path: str | os.PathLike[str]) -> bool:
    """Tell whether the file is a TrueType font or collection whose first face has glyf outlines."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
            if header[:4] == b"ttcf":
                # A collection: the first face (subfontIndex=0) is the one we register.
                f.seek(12)
                (offset,) = struct.unpack(">I", f.read(4))
                f.seek(offset)
                header = f.read(12)
            if len(header) < 12 or header[:4] not in (b"\x00\x01\x00\x00", b"true"):
                return False
            (num_tables,) = struct.unpack(">H", header[4:6])
            records = f.read(16 * num_tables)
    except (OSError, struct.error):
        return False
    tags = {records[i : i + 4] for i in range(0, len(records), 16)}
    return b"glyf" in tags
