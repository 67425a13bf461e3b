"""The browser tests' own rule: without Chromium they skip on a laptop and
fail in CI, never silently pass."""

from __future__ import annotations

from tests.browser.conftest import missing_browser_verdict


def test_a_missing_browser_skips_unless_it_is_required():
    assert missing_browser_verdict({})[0] == "skip"
    assert missing_browser_verdict({"SQUADRON_REQUIRE_BROWSER": "0"})[0] == "skip"
    verdict, message = missing_browser_verdict({"SQUADRON_REQUIRE_BROWSER": "1"})
    assert verdict == "fail" and "SQUADRON_REQUIRE_BROWSER=1" in message
