"""Shared Playwright fixtures (a pytest plugin): Debian's Chromium driven by the sync API.

Browsers are never downloaded: the system's chromium is used, and the tests are skipped
with a clear message only when none is installed. One Playwright instance serves the whole
run (the sync API allows only one per thread). Browser tests use `browser_page` or
`browser_context` (fresh per test) and mark themselves `@pytest.mark.browser`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API keeps an event loop alive in the test's thread; the ORM calls the
# tests make between browser steps are ordinary blocking calls, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 15_000
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "e2e"


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    for candidate in ((explicit,) if explicit else ()) + CHROMIUM_CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.path.exists(path) and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "No Chromium found (install Debian's `chromium` package or set CHROMIUM_PATH); browser tests skipped"
        )
    return path


@pytest.fixture(scope="session")
def playwright_browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_context(playwright_browser: Any) -> Iterator[Any]:
    """A fresh browser context: its own cookies and storage, shared by the pages it opens."""
    context = playwright_browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def browser_page(browser_context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a fresh context; on failure a screenshot lands in var/e2e/."""
    page = browser_context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # A failed screenshot must not hide the test's own failure.
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def sign_in_to_ehr(page: Any, live_url: str, username: str, password: str) -> None:
    """The EHR's sign-in form, as a person fills it in."""
    page.goto(f"{live_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
