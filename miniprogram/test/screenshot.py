"""Screenshot HTML files at a phone's width in headless Chromium (the mini-program's pages as
miniprogram-simulate rendered them, see screens.js).

    python screenshot.py OUT_DIR page1.html [page2.html ...]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 375, "height": 667}, device_scale_factor=2)
        for html in sys.argv[2:]:
            page.goto(Path(html).resolve().as_uri())
            target = out / (Path(html).stem + ".png")
            page.screenshot(path=str(target), full_page=True)
            print(target)
        browser.close()


if __name__ == "__main__":
    main()
