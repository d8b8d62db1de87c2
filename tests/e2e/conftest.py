"""Browser tests: Playwright drives Debian's chromium against the live test server.

Locally they skip when /usr/bin/chromium is missing; in CI (CI=true) a missing browser fails them, so CI
cannot pass by skipping. Screenshots go to test-artifacts/: always for the pages a test names, and of the
page as it was whenever a test fails."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"browser tests need chromium at {CHROMIUM} (apt-get install chromium)"
        if _in_ci():
            pytest.fail(f"{message}: CI must run them", pytrace=False)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extras install it
        if _in_ci():
            pytest.fail("playwright is not installed: pip install -e '.[dev]'", pytrace=False)
        pytest.skip("playwright is not installed")
    # Playwright's sync API runs an event loop in this thread; Django refuses database calls from a thread with a
    # running loop unless told it is safe. Only for these tests, and given back when they end.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _name(item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{_name(request.node)}.png"), full_page=True)
    context.close()


@pytest.fixture
def screenshot():
    """Save the page as test-artifacts/<name>.png (full page) and return the path."""
    def take(page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


def admin_login(page, username: str, password: str = "pw", code: str = "") -> None:
    """Sign in on the admin's login page; with ``code`` (from the person's authenticator app, e.g.
    tests.second_factor.current_code) the session is verified for money actions."""
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if code:
        page.fill("#id_otp_token", code)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
