"""API tokens, webhooks and the API docs in a real browser: accessible, no
Content-Security-Policy violation, no script error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.integrations.models import ApiToken, WebhookSubscription
from portal.integrations.tokens import token_authenticate
from portal.integrations.webhooks.delivery import subscription_secret
from tests.browser.conftest import check_accessibility, log_in, main_nav
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bea(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="bea", first_name="Bea", last_name="Fischer")


def test_a_person_creates_a_token_sees_it_once_and_revokes_it(page, bea):
    log_in(page, bea)
    page.goto("/")
    main_nav(page).get_by_role("link", name="API").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    page.get_by_label("Name").fill("CMDB sync")
    page.get_by_label("Expires").select_option("30")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_label("Token", exact=True).input_value()
    assert token_authenticate(key).user == bea
    check_accessibility(page, "token created")
    # A reload neither shows the key again nor creates a second token.
    page.reload()
    assert key not in page.content()
    expect(page.get_by_role("cell", name="CMDB sync", exact=True)).to_have_count(1)
    assert ApiToken.objects.count() == 1
    page.get_by_role("button", name="Revoke token CMDB sync").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke the token “CMDB sync”?")
    check_accessibility(page, "revoke asked")
    assert ApiToken.objects.get().revoked_at is None
    page.get_by_role("button", name="Revoke the token").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    assert ApiToken.objects.get().revoked_at is not None


def test_a_new_token_is_copied_with_its_copy_button(page, bea):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.base_url)
    log_in(page, bea)
    page.goto("/integrations/tokens/")
    page.get_by_label("Name").fill("Pipeline")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_label("Token", exact=True).input_value()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#new-token-copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    check_accessibility(page, "token created, copied")


def test_a_person_adds_a_webhook_and_reads_its_log(page, bea):
    log_in(page, bea)
    page.goto("/integrations/webhooks/")
    page.get_by_label("Receiver URL").fill("https://cmdb.example.com/squadron")
    page.get_by_label("Description").fill("CMDB")
    page.get_by_role("button", name="Add webhook").click()
    # The form redirected to the new webhook's page, which shows its secret once.
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook to https://cmdb.example.com/squadron")
    secret = page.get_by_label("Secret", exact=True).input_value()
    assert secret.startswith("whsec_")
    check_accessibility(page, "webhook created")
    page.reload()
    assert secret not in page.content()
    assert WebhookSubscription.objects.count() == 1
    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_role("cell", name="ping")).to_be_visible()
    check_accessibility(page, "webhook log")
    # Its address changes on its page; its secret stays until replaced,
    # which asks first and shows the new one once.
    page.get_by_label("Receiver URL").fill("https://cmdb.example.com/squadron/v2")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Webhook to https://cmdb.example.com/squadron/v2"
    )
    page.get_by_role("button", name="Replace the signing secret").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Replace the signing secret")
    check_accessibility(page, "replace asked")
    page.get_by_role("button", name="Replace the secret").click()
    replaced = page.get_by_label("Secret", exact=True).input_value()
    assert replaced.startswith("whsec_") and replaced != secret
    assert subscription_secret(WebhookSubscription.objects.get()) == replaced
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("link", name="https://cmdb.example.com/squadron/v2")).to_be_visible()
    check_accessibility(page, "webhook list")
    assert WebhookSubscription.objects.get().user == bea


def test_long_names_and_urls_stay_within_the_page(page, bea):
    from portal.integrations.tokens import token_create
    from portal.integrations.webhooks.subscriptions import webhook_subscribe

    token_create(user=bea, name="n" * 100)
    webhook_subscribe(actor=bea, url="https://example.com/" + "segment/" * 55)
    log_in(page, bea)
    for path in ("/integrations/tokens/", "/integrations/webhooks/"):
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a {width}px window"


def test_the_api_docs_load_from_our_own_assets(page, bea):
    log_in(page, bea)
    page.goto("/api/docs/")
    expect(page.get_by_text("Squadron API").first).to_be_visible()
