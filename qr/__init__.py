"""QR codes and printable posters: bytes and text in, PNG/SVG/PDF bytes out."""

from qr.codes import qr_matrix, qr_png, qr_svg
from qr.fonts import FontNotFound, find_cjk_font
from qr.poster import MissingGlyphs, NoticeBoard, PosterContent, poster_pdf, poster_png

__all__ = [
    "FontNotFound",
    "MissingGlyphs",
    "NoticeBoard",
    "PosterContent",
    "find_cjk_font",
    "poster_pdf",
    "poster_png",
    "qr_matrix",
    "qr_png",
    "qr_svg",
]
