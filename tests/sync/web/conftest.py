"""The browser of the web view's browser tests: Debian's Chromium driven by Playwright
(it never downloads a browser), one per test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sync.web.plant import PASSWORD

CHROMIUM = os.environ.get("LINESIDE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_HINT = (
    "Chromium is not installed; the browser tests of the web view drive the system Chromium.\n"
    "Install it with:  sudo apt-get install -y chromium   (Debian/Raspberry Pi OS)"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.fail(CHROMIUM_HINT)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def log_in(page: Any, url: str, user: str) -> None:
    page.goto(url + "/login", wait_until="domcontentloaded")
    page.fill("#user", user)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#who")
