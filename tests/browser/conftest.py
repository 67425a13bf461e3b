"""Browser tests: Playwright driving Debian's Chromium against a live server.

Playwright's own browser download cannot work on our machines, so the tests
launch the system's ``chromium``. Without it they skip, unless
``SQUADRON_REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.

Every page a test visits is checked for Content-Security-Policy violations and
JavaScript errors; ``check_accessibility`` runs axe-core (vendored, injected
from here: the pages never load it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
AXE_SOURCE = ROOT / "portal" / "static" / "vendor" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def missing_browser_verdict(environ) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """What a missing Chromium means: a skip on a laptop, a failure in CI."""
    message = "chromium is not installed (apt-get install chromium, or `make browser` as root)"
    if environ.get("SQUADRON_REQUIRE_BROWSER") == "1":
        return "fail", f"SQUADRON_REQUIRE_BROWSER=1 but {message}"
    return "skip", message


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            # One worker drives the one Chromium; the other core runs the rest of the suite.
            item.add_marker(pytest.mark.xdist_group("browser"))
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    executable = chromium_path()
    if executable is None:
        verdict, message = missing_browser_verdict(os.environ)
        (pytest.fail if verdict == "fail" else pytest.skip)(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread for as long
    # as the browser lives, and Django then refuses ORM calls, thinking it
    # runs inside async code. The tests' own code is synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageProblems:
    """What went wrong in the browser while a test ran."""

    def __init__(self) -> None:
        self.csp: list[str] = []
        self.errors: list[str] = []

    def on_console(self, message) -> None:  # type: ignore[no-untyped-def]
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.csp.append(text)
        elif message.type == "error" and not any(
            f"status of {expected}" in text
            for expected in (404, 422, 429)  # 429: a login lock-out
        ):
            self.errors.append(text)


@pytest.fixture
def page(browser, live_server) -> Iterator:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    problems = PageProblems()
    new_page.on("console", problems.on_console)
    new_page.on("pageerror", lambda error: problems.errors.append(f"pageerror: {error}"))
    new_page.problems = problems
    new_page.base_url = live_server.url
    yield new_page
    context.close()
    assert problems.csp == [], f"Content-Security-Policy violations: {problems.csp}"
    assert problems.errors == [], f"errors in the browser: {problems.errors}"


def log_in(page, user) -> None:  # type: ignore[no-untyped-def]
    """Give the page a session of ``user`` without going through the form."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": page.base_url}]
    )


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_accessibility(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """axe-core finds no serious or critical violation on the page as shown.

    The script is evaluated through the DevTools protocol, which a page's
    Content-Security-Policy does not govern, so the page needs no exception.
    """
    page.evaluate(AXE_SOURCE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    assert result == [], f"accessibility violations on {name}: {result}"


def main_nav(page):  # type: ignore[no-untyped-def]
    """The main navigation, unfolded first where it sits behind the Menu button
    (below about 1,500 px)."""
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    return page.get_by_role("navigation", name="Main")


def log_out(page) -> None:  # type: ignore[no-untyped-def]
    main_nav(page)
    page.get_by_role("button", name="Log out").click()
