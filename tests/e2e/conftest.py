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
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = checked(context.new_page())
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.passed:
        page.check_now()  # the page the test ended on
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


# --- every page a journey visits is checked: axe-core and horizontal overflow --------------------------

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PHONE_PATHS = ("/brands/", "/creators/")  # pages people use on a phone: checked at 390 px too
BLOCKING_IMPACTS = ("serious", "critical")

# Violations accepted, each with why: (axe rule id, path prefix, fragment of the offending node's selector, as axe
# reports it in "target"). Only the stock Django admin's own templates, scripts and CSS belong here; anything on the
# project's own templates fails.
AXE_ALLOWED: dict[tuple[str, str, str], str] = {
    ("label-title-only", "/admin/", "#searchbar"):
        "Stock admin/search_form.html: the change list's search box is named by its title only (the label holds "
        "the magnifier icon).",
    ("aria-prohibited-attr", "/admin/", ".search-label-icon"):
        "Stock admin/js/SelectFilter2.js (filter_horizontal) puts aria-label on a role-less span.",
    ("label", "/admin/payouts/fund/", "#id_tranches-"):
        "Stock admin/edit_inline/tabular.html: a tabular inline's inputs are labelled only by their column heading.",
    ("label-title-only", "/admin/payouts/fund/", "#id_tranches-"):
        "Stock admin/edit_inline/tabular.html, as above: the title attribute is the inline input's only name.",
    ("nested-interactive", "/api/v1/docs/", ".opblock-summary-control"):
        "Swagger UI's bundled script (drf-spectacular-sidecar) draws each operation's summary as a button holding "
        "the copy and lock buttons; the page's template (lang, colours) is ours, that markup is not.",
}


def _allowed(rule: str, path: str, target: str) -> bool:
    return any(rule == allowed_rule and path.startswith(prefix) and fragment in target
               for allowed_rule, prefix, fragment in AXE_ALLOWED)


def page_problems(page, *, phone: bool | None = None) -> list[str]:
    """What is wrong with the page as loaded: axe-core violations of impact serious or critical (less the
    allow-list) and horizontal overflow at 1440 px, and at 390 px for brand and creator pages (``phone``
    forces or skips the phone check; by default it follows the path)."""
    from urllib.parse import urlsplit

    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("load")
    path = urlsplit(page.url).path
    problems = []
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            if not _allowed(violation["id"], path, target):
                problems.append(f"{path}: axe {violation['id']} ({violation['impact']}) at {target}: "
                                f"{node.get('failureSummary', '').splitlines()[-1:]} {node['html'][:160]}")
    original = page.viewport_size
    widths = [DESKTOP] + ([PHONE] if (path.startswith(PHONE_PATHS) if phone is None else phone) else [])
    for size in widths:
        if original != size:
            page.set_viewport_size(size)
        overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if overflow[0] > overflow[1]:
            problems.append(f"{path}: {overflow[0]} px wide at a {overflow[1]} px viewport")
    if original and page.viewport_size != original:
        page.set_viewport_size(original)
    return problems


class CheckedPage:
    """The Playwright page, checked (see ``page_problems``) once for every document it loads, after the call
    that loaded it; a problem fails the test at that step."""

    def __init__(self, page) -> None:
        self._page = page
        self._loads = 0
        self._checked = 0
        page.on("load", self._loaded)

    @property
    def unchecked(self):
        """The Playwright page itself, no longer checked: for a test that loads a page meant to fail the checks."""
        self._page.remove_listener("load", self._loaded)
        return self._page

    def _loaded(self, _page) -> None:
        self._loads += 1

    def check_now(self) -> None:
        if self._loads == self._checked:
            return
        self._checked = self._loads
        problems = page_problems(self._page)
        assert not problems, "\n".join(problems)

    def __getattr__(self, name: str):
        attribute = getattr(self._page, name)
        if not callable(attribute) or name in ("on", "once", "remove_listener", "is_closed"):
            return attribute

        def call(*args, **kwargs):
            self.check_now()  # a load that happened through a locator or a script
            result = attribute(*args, **kwargs)
            self.check_now()
            return result
        return call


def checked(page) -> CheckedPage:
    return page if isinstance(page, CheckedPage) else CheckedPage(page)
