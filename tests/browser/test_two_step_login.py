"""Two-step login in a real browser: enrolling an authenticator app from the
account page (QR code, first code, recovery codes), then logging in with
the password and a code. No Content-Security-Policy violation, no script error."""

from __future__ import annotations

import base64
import binascii

import pytest
from playwright.sync_api import expect

from portal.identity.models import EncryptedTOTPDevice
from tests.browser.conftest import check_accessibility, log_out, main_nav, screenshot
from tests.factories import UserFactory
from tests.portal.identity.conftest import PASSWORD, app_code

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bea(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bea", first_name="Bea", last_name="Fischer")


def test_a_person_enrols_an_app_and_logs_in_with_its_code(page, bea):
    page.goto("/login/")
    page.get_by_label("Username").fill("bea")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    main_nav(page)
    page.get_by_role("link", name="your account and two-step login").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step login")
    qr = page.get_by_role("img", name="QR code that adds your Squadron account to an authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.complete && image.naturalWidth > 0")
    check_accessibility(page, "two-step enrolment")
    screenshot(page, "two-step-enrolment")
    typed = page.locator("#setup-key").inner_text().replace(" ", "")
    key = binascii.hexlify(base64.b32decode(typed + "=" * (-len(typed) % 8))).decode()

    page.get_by_label("Code from the app").fill(app_code(key))
    page.get_by_role("button", name="Turn on two-step login").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    check_accessibility(page, "two-step on")
    assert EncryptedTOTPDevice.objects.get(user=bea).confirmed

    log_out(page)
    page.get_by_label("Username").fill("bea")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your code", level=1)).to_be_visible()
    check_accessibility(page, "two-step code")
    screenshot(page, "two-step-code")
    page.get_by_label("Code").fill(app_code(key, steps_ahead=1))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Service catalogue", level=1)).to_be_visible()


def test_the_enrolment_page_fits_a_phone(page, bea):
    from tests.browser.conftest import log_in

    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, bea)
    page.goto("/account/security/")
    expect(page.get_by_role("button", name="Turn on two-step login")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "two-step-enrolment-390")


def test_a_locked_out_login_says_when_to_try_again(page, bea):
    for _ in range(10):
        page.goto("/login/")
        page.get_by_label("Username").fill("bea")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Too many failed logins", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again at")
    check_accessibility(page, "locked out")
    screenshot(page, "locked-out")
