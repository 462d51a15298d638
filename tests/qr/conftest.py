"""Fixtures for the qr tests: the external decoders and the CJK font they depend on."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from qr import FontNotFound, find_cjk_font

# Debian package that provides each tool the tests shell out to.
PACKAGES = {
    "zbarimg": "zbar-tools",
    "pdftoppm": "poppler-utils",
    "pdffonts": "poppler-utils",
    "pdftotext": "poppler-utils",
    "pdfinfo": "poppler-utils",
}


def _missing(what: str) -> None:
    # In CI a missing tool must fail the run: a skipped check there is a check nobody runs.
    message = f"NOT VERIFIED: {what}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """Return a function giving a tool's path, or skipping (failing under CI) when absent."""

    def require(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            _missing(f"{name} is not installed (apt-get install {PACKAGES[name]})")
        return path

    return require


@pytest.fixture
def cjk_font() -> Path:
    """Return the CJK font the posters will use, or skip (fail under CI) when there is none."""
    try:
        return find_cjk_font()
    except FontNotFound as exc:
        _missing(str(exc))


@pytest.fixture
def decode_qr(require_tool, tmp_path) -> Callable[[bytes], list[str]]:
    """Return a function decoding every QR code in a PNG with zbarimg."""
    zbarimg = require_tool("zbarimg")
    counter = iter(range(1_000_000))

    def decode(png: bytes) -> list[str]:
        path = tmp_path / f"decode-{next(counter)}.png"
        path.write_bytes(png)
        # QR only: other symbologies can "find" barcodes in lines of text.
        result = subprocess.run(
            [zbarimg, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(path)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 4:  # zbarimg's "no symbols found"
            return []
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout.decode().splitlines()

    return decode


@pytest.fixture
def run_tool(require_tool) -> Callable[..., bytes]:
    """Return a function running a command-line tool (found or skipped) and giving its stdout."""

    def run(name: str, *args: str) -> bytes:
        result = subprocess.run([require_tool(name), *args], capture_output=True, check=False)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result.stdout

    return run
