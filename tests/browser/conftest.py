"""Browser tests: pytest-playwright driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.factories import TEST_PASSWORD

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told this is safe (it is: one test thread, no async views).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "screenshots"
TABLET = {"width": 1024, "height": 768}
# What the machine's closed network needs: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    executable = os.environ.get("RIGHTLEVEL_CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail("Chromium is not installed: run scripts/test (it installs Debian's chromium)")
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": TABLET}


@pytest.fixture
def new_device(browser: Browser, live_server: Any) -> Iterator[Callable[..., Page]]:
    """Open another device (its own cookies) already signed in as ``username``."""
    contexts: list[BrowserContext] = []

    def open_device(
        username: str, *, viewport: dict[str, int] | None = None, bypass_csp: bool = False, base_url: str | None = None
    ) -> Page:
        """``base_url``: another server than the live one (e.g. a server process a test stops)."""
        context = browser.new_context(
            viewport=viewport or TABLET, bypass_csp=bypass_csp, base_url=base_url or live_server.url
        )
        contexts.append(context)
        page = context.new_page()
        login(page, username)
        return page

    yield open_device
    for context in contexts:
        context.close()


def login(page: Page, username: str, password: str = TEST_PASSWORD) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator(".topbar .who")).to_be_visible()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core in the page; return serious and critical violations."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/test (npm install) first")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page: Page, name: str) -> None:
    """Save a tablet-size screenshot for the README when RIGHTLEVEL_SCREENSHOTS=1."""
    if os.environ.get("RIGHTLEVEL_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
