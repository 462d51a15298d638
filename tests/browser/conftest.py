"""Browser tests: the app served on a free loopback port, driven by Debian's headless Chromium.

Fixtures for any console browser test: ``live_server`` (the base URL of the app on the test
database), ``browser`` (a Playwright Chromium), ``staff_page(username)`` (a page signed in as a
demo staff account). Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORDS = {
    "admin": "demo-admin-2026",
    "supervisor": "demo-supervisor-2026",
    "shatoujiao": "demo-street-2026",
    "haishan": "demo-street-2026",
    "yantian": "demo-street-2026",
    "meisha": "demo-street-2026",
}
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drive the browser against PostgreSQL only: the pages are the same on SQLite."""
    kept, dropped = [], []
    for item in items:
        in_here = HERE in Path(str(item.path)).resolve().parents
        (dropped if in_here and "[sqlite]" in item.nodeid else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def live_server(app: Flask, district) -> Iterator[str]:
    """The web app on a free 127.0.0.1 port in a thread, against the test database."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium from Debian, driven by Playwright."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {CHROMIUM} is missing")
        unavailable(f"no Chromium at {CHROMIUM} (install Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def staff_page(browser, live_server: str) -> Iterator[Callable[[str], object]]:
    """Open a page signed in as a demo staff account (through the sign-in form), at a desktop
    width unless ``width`` says otherwise (390: a phone)."""
    contexts = []

    def open_as(username: str, width: int = 1366):
        height = 900 if width > 600 else 844
        context = browser.new_context(
            base_url=live_server, locale="zh-CN", viewport={"width": width, "height": height}
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/console/sign-in")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", DEMO_PASSWORDS[username])
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/console/")
        return page

    yield open_as
    for context in contexts:
        context.close()
