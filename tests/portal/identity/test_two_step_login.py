"""Two-step login: enrolling an authenticator app (QR code, first code,
recovery codes shown once), logging in with its code or a recovery code,
and turning it off with a current code."""

from __future__ import annotations

import base64
import binascii
import html
import re

import pytest
from django.test import Client

from portal.identity.models import EncryptedTOTPDevice, RecoveryCode, RecoveryCodeDevice, recovery_code_hash
from portal.identity.services import totp_setup_url
from portal.pages.account import qr_data_uri
from tests.portal.identity.conftest import PASSWORD, app_code, logged_in_as, post_login

PAGE = "/account/security/"


def key_on_the_page(page: str) -> str:
    """The secret as the page gives it to type in an app, back in django-otp's hex."""
    typed = re.search(r'<code class="setup-key" id="setup-key">([A-Z2-7 ]+)</code>', page)
    assert typed is not None, page
    compact = typed.group(1).replace(" ", "")
    return binascii.hexlify(base64.b32decode(compact + "=" * (-len(compact) % 8))).decode()


def wrong_code(key: str) -> str:
    """Six digits that none of the codes around now are."""
    near = {app_code(key, steps_ahead=step) for step in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444") if code not in near)


@pytest.mark.django_db
def test_enrolment_shows_a_qr_code_then_takes_the_apps_code_and_shows_recovery_codes_once(client, requester):
    client.force_login(requester)
    page = client.get(PAGE)
    assert page.status_code == 200
    content = page.content.decode()
    key = key_on_the_page(content)
    # The QR code is an SVG image drawn on the server, of the otpauth URL with that secret.
    qr = re.search(r'<img class="qr-code" src="([^"]+)"', content)
    assert qr is not None
    assert html.unescape(qr.group(1)) == qr_data_uri(totp_setup_url(user=requester, key=key))
    assert qr.group(1).startswith("data:image/svg+xml")
    assert "Content-Security-Policy" in page and "script-src 'self'" in page["Content-Security-Policy"]
    # A reload shows the same secret (the app may have scanned it already).
    assert key_on_the_page(client.get(PAGE).content.decode()) == key

    response = client.post(PAGE, {"code": app_code(key)})
    assert response.status_code == 302 and response["Location"] == PAGE
    device = EncryptedTOTPDevice.objects.get(user=requester)
    assert device.confirmed and device.key == key

    shown = client.get(PAGE).content.decode()
    codes = re.findall(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>", shown)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "Two-step login is on" in shown
    # Shown once; kept only as hashes.
    again = client.get(PAGE).content.decode()
    assert not any(code in again for code in codes)
    stored = set(RecoveryCode.objects.filter(device__user=requester).values_list("code_hash", flat=True))
    assert stored == {recovery_code_hash(code) for code in codes}
    assert not any(code.replace("-", "") in hash_ for code in codes for hash_ in stored)


@pytest.mark.django_db
def test_a_wrong_code_at_enrolment_turns_nothing_on(client, requester):
    client.force_login(requester)
    key = key_on_the_page(client.get(PAGE).content.decode())
    response = client.post(PAGE, {"code": wrong_code(key)})
    assert response.status_code == 400
    assert "That is not the app&#x27;s current code" in response.content.decode()
    assert not EncryptedTOTPDevice.objects.exists() and not RecoveryCodeDevice.objects.exists()
    # The same secret waits for the right code.
    assert key_on_the_page(response.content.decode()) == key


@pytest.mark.django_db
def test_logging_in_asks_for_the_code_after_the_password(client, requester, enrol):
    _, key = enrol(requester)
    response = post_login(client, "rita", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    # The password alone logs nobody in: not the pages, not the API.
    assert logged_in_as(client) is None
    assert client.get("/orders/").status_code == 302
    assert client.get("/api/v1/me/").status_code in (401, 403)

    page = client.get("/login/code/")
    assert page.status_code == 200 and "rita" in page.content.decode()
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert response.status_code == 302 and response["Location"] == "/"
    assert logged_in_as(client) == str(requester.pk)
    assert client.get("/orders/").status_code == 200


@pytest.mark.django_db
def test_the_code_step_keeps_where_the_login_was_going(client, requester, enrol):
    _, key = enrol(requester)
    client.post("/login/", {"username": "rita", "password": PASSWORD, "next": "/orders/"})
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert response["Location"] == "/orders/"


@pytest.mark.django_db
def test_a_wrong_code_is_refused_and_counted_as_a_failed_login(client, requester, enrol):
    from axes.models import AccessAttempt

    _, key = enrol(requester)
    post_login(client, "rita", PASSWORD)
    wrong = wrong_code(key)
    response = client.post("/login/code/", {"code": wrong, "csrfmiddlewaretoken": "csrf-value-1"})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert logged_in_as(client) is None
    attempt = AccessAttempt.objects.get(username="rita")
    assert attempt.failures_since_start == 1 and attempt.path_info == "/login/code/"
    # The record keeps no code (nor the form's CSRF token).
    assert wrong not in attempt.post_data and "code=*" in attempt.post_data
    assert "csrf-value-1" not in attempt.post_data
    # At once, even the right code waits: django-otp's back-off after a wrong one.
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert "Too many wrong codes in a row" in response.content.decode()
    assert logged_in_as(client) is None


@pytest.mark.django_db
def test_ten_wrong_codes_lock_the_account_out(client, requester, enrol):
    _, key = enrol(requester)
    post_login(client, "rita", PASSWORD)
    statuses = [client.post("/login/code/", {"code": wrong_code(key)}).status_code for _ in range(10)]
    assert statuses == [400] * 9 + [429]
    assert client.post("/login/code/", {"code": app_code(key, steps_ahead=1)}).status_code == 429
    assert logged_in_as(client) is None
    assert post_login(client, "rita", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_a_code_step_without_a_password_step_goes_back_to_the_login(client, requester, enrol):
    _, key = enrol(requester)
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert logged_in_as(client) is None


@pytest.mark.django_db
def test_a_recovery_code_logs_in_once(requester, enrol):
    enrolment, _ = enrol(requester)
    code = enrolment.recovery_codes[3]
    first = Client()
    post_login(first, "rita", PASSWORD)
    response = first.post("/login/code/", {"code": code.upper().replace("-", " ")})
    assert response.status_code == 302
    assert logged_in_as(first) == str(requester.pk)
    assert RecoveryCode.objects.filter(device__user=requester).count() == 9

    second = Client()
    post_login(second, "rita", PASSWORD)
    response = second.post("/login/code/", {"code": code})
    assert response.status_code == 400
    assert "used already" in response.content.decode()
    assert logged_in_as(second) is None
    assert RecoveryCode.objects.filter(device__user=requester).count() == 9


@pytest.mark.django_db
def test_the_admin_login_asks_for_the_code_too(client, member, enrol):
    _, key = enrol(member)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "nora", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    assert logged_in_as(client) is None
    assert client.get("/admin/").status_code == 302
    response = client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_turning_it_off_refuses_a_wrong_code(client, requester, enrol):
    _, key = enrol(requester)
    client.force_login(requester)
    refused = client.post("/account/security/off/", {"disable-code": wrong_code(key)})
    assert refused.status_code == 400
    assert "That code is not right" in refused.content.decode()
    assert EncryptedTOTPDevice.objects.filter(user=requester).exists()
    assert RecoveryCodeDevice.objects.filter(user=requester).exists()


@pytest.mark.django_db
def test_turning_it_off_with_a_current_code(client, requester, enrol):
    _, key = enrol(requester)
    client.force_login(requester)
    response = client.post("/account/security/off/", {"disable-code": app_code(key, steps_ahead=1)})
    assert response.status_code == 302
    assert not EncryptedTOTPDevice.objects.filter(user=requester).exists()
    assert not RecoveryCodeDevice.objects.filter(user=requester).exists()
    assert post_login(Client(), "rita", PASSWORD)["Location"] == "/"


@pytest.mark.django_db
def test_new_recovery_codes_replace_the_old_ones(client, requester, enrol):
    enrolment, _ = enrol(requester)
    client.force_login(requester)
    response = client.post("/account/security/recovery-codes/", {"renew-code": enrolment.recovery_codes[0]})
    assert response.status_code == 302
    shown = client.get(PAGE).content.decode()
    codes = re.findall(r"<li><code>([a-z2-9-]{14})</code></li>", shown)
    assert len(codes) == 10
    stored = set(RecoveryCode.objects.filter(device__user=requester).values_list("code_hash", flat=True))
    assert stored == {recovery_code_hash(code) for code in codes}
    assert recovery_code_hash(enrolment.recovery_codes[1]) not in stored


@pytest.mark.django_db
def test_the_admin_shows_no_secret_of_a_two_step_login(client, requester, admin_user, enrol):
    enrolment, key = enrol(requester)
    device = EncryptedTOTPDevice.objects.get(user=requester)
    client.force_login(admin_user)
    pages = [
        client.get(f"/admin/identity/encryptedtotpdevice/{device.pk}/change/"),
        client.get("/admin/identity/encryptedtotpdevice/"),
        client.get(f"/admin/identity/recoverycodedevice/{RecoveryCodeDevice.objects.get().pk}/change/"),
    ]
    for page in pages:
        assert page.status_code == 200
        content = page.content.decode()
        assert key not in content and key.upper() not in content
        assert not any(code in content for code in enrolment.recovery_codes)
    # No QR code of the secret either (the admin takes the path for a missing object).
    qrcode = client.get(f"/admin/identity/encryptedtotpdevice/{device.pk}/qrcode/", follow=True)
    assert not qrcode["Content-Type"].startswith("image/") and key not in qrcode.content.decode()
    assert ">10<" in pages[2].content.decode()  # the codes left, not the codes
    # Deleting the device is how a superuser resets a lost phone.
    client.post(f"/admin/identity/encryptedtotpdevice/{device.pk}/delete/", {"post": "yes"})
    assert post_login(Client(), "rita", PASSWORD)["Location"] == "/"
