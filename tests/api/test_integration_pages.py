"""The portal pages for API tokens and webhooks: shown-once secrets, the
lists an owner needs, refusals that change nothing, accessible markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from portal.models import ApiToken, WebhookDelivery, WebhookSubscription
from portal.tokens import token_authenticate, token_create
from portal.webhooks import webhook_ping, webhook_subscribe

pytestmark = pytest.mark.django_db


class Outline(HTMLParser):
    """Headings, form controls and the labels that point at them."""

    def __init__(self) -> None:
        super().__init__()
        self.h1 = 0
        self.controls: list[str] = []
        self.labelled: set[str] = set()
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "h1":
            self.h1 += 1
        if tag == "label" and attributes.get("for"):
            self.labelled.add(attributes["for"])
        if tag in ("input", "select", "textarea") and attributes.get("type") not in ("hidden", "submit"):
            self.controls.append(attributes.get("id") or "")
        if tag == "script" and not attributes.get("src"):
            self.inline_scripts += 1


def assert_accessible(html: str) -> None:
    outline = Outline()
    outline.feed(html)
    assert outline.h1 == 1, "one h1 per page"
    unlabelled = [control for control in outline.controls if control not in outline.labelled]
    assert not unlabelled, f"controls without a label: {unlabelled}"
    assert outline.inline_scripts == 0


@pytest.fixture
def browser(requester) -> Client:
    client = Client()
    client.force_login(requester)
    return client


def test_a_new_token_is_shown_once_and_works(browser, requester):
    page = browser.post("/integrations/tokens/", {"name": "CMDB sync", "expires_in_days": "30"})
    assert page.status_code == 200
    html = page.content.decode()
    key = re.search(r'value="(sqd_[^"]+)"', html).group(1)
    assert token_authenticate(key).user == requester
    assert_accessible(html)
    again = browser.get("/integrations/tokens/").content.decode()
    assert key not in again
    token = ApiToken.objects.get()
    assert "CMDB sync" in again and token.prefix in again
    assert key not in str(list(ApiToken.objects.values()))


def test_the_token_list_shows_name_prefix_dates_and_last_use_of_own_tokens_only(browser, requester, outsider):
    mine = token_create(user=requester, name="chat bot")
    token_authenticate(mine.key)
    token_create(user=outsider, name="not yours")
    html = browser.get("/integrations/tokens/").content.decode()
    assert "chat bot" in html and mine.token.prefix in html and "not yours" not in html
    assert html.count("never") >= 1  # no expiry
    assert_accessible(html)


def test_a_nameless_token_is_refused_with_the_field_marked(browser):
    page = browser.post("/integrations/tokens/", {"name": "  ", "expires_in_days": ""})
    assert page.status_code == 400
    assert 'aria-invalid="true"' in page.content.decode()
    assert ApiToken.objects.count() == 0


def test_revoking_a_token_stops_it_and_another_users_token_is_a_404(browser, requester, outsider):
    mine = token_create(user=requester, name="old")
    theirs = token_create(user=outsider, name="theirs")
    response = browser.post(f"/integrations/tokens/{theirs.token.pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=theirs.token.pk).revoked_at is None
    response = browser.post(f"/integrations/tokens/{mine.token.pk}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert ApiToken.objects.get(pk=mine.token.pk).revoked_at is not None


def test_token_pages_need_csrf_and_a_login(requester):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(requester)
    assert strict.post("/integrations/tokens/", {"name": "x"}).status_code == 403
    assert Client().get("/integrations/tokens/").status_code == 302
    assert ApiToken.objects.count() == 0


def test_a_webhook_is_created_with_its_secret_shown_once(browser, requester, member):
    page = browser.post(
        "/integrations/webhooks/",
        {"url": "https://cmdb.example.com/in", "description": "CMDB", "owner": "mine"},
    )
    assert page.status_code == 200
    html = page.content.decode()
    secret = re.search(r'value="(whsec_[^"]+)"', html).group(1)
    assert_accessible(html)
    subscription = WebhookSubscription.objects.get()
    assert subscription.user == requester and secret not in subscription.secret_ciphertext
    assert secret not in browser.get(f"/integrations/webhooks/{subscription.pk}/").content.decode()


def test_a_member_may_subscribe_their_squad_but_not_another(member, squad, other_squad):
    client = Client()
    client.force_login(member)
    refused = client.post(
        "/integrations/webhooks/", {"url": "https://x.example.com/", "owner": other_squad.slug}
    )
    assert refused.status_code == 400 and WebhookSubscription.objects.count() == 0
    client.post("/integrations/webhooks/", {"url": "https://x.example.com/", "owner": squad.slug})
    assert WebhookSubscription.objects.get().squad == squad


def test_a_forbidden_url_is_refused_on_the_page(browser, settings):
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = False
    page = browser.post("/integrations/webhooks/", {"url": "http://10.0.0.8/hook", "owner": "mine"})
    assert page.status_code == 400
    assert "private, loopback or link-local" in page.content.decode()
    assert WebhookSubscription.objects.count() == 0


def test_the_delivery_log_shows_outcome_status_code_and_attempts(browser, requester):
    subscription, _ = webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    delivery = webhook_ping(subscription=subscription, actor=requester)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=3, last_status_code=502, last_error="HTTP 502: bad gateway", status="failed"
    )
    html = browser.get(f"/integrations/webhooks/{subscription.pk}/").content.decode()
    assert "HTTP 502" in html and "bad gateway" in html and "Failed (gave up)" in html
    assert_accessible(html)


def test_webhook_commands_work_for_the_owner_and_are_404_for_others(browser, requester, outsider):
    subscription, _ = webhook_subscribe(actor=outsider, url="https://theirs.example.com/in")
    for command in ("ping", "pause", "rotate", "delete"):
        assert browser.post(f"/integrations/webhooks/{subscription.pk}/{command}/").status_code == 404
    assert browser.get(f"/integrations/webhooks/{subscription.pk}/").status_code == 404
    assert WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).exists()
    assert WebhookDelivery.objects.count() == 0

    mine, _ = webhook_subscribe(actor=requester, url="https://mine.example.com/in")
    browser.post(f"/integrations/webhooks/{mine.pk}/pause/")
    assert WebhookSubscription.objects.get(pk=mine.pk).is_active is False
    browser.post(f"/integrations/webhooks/{mine.pk}/ping/")
    assert WebhookDelivery.objects.filter(subscription=mine).count() == 1
    rotated = browser.post(f"/integrations/webhooks/{mine.pk}/rotate/").content.decode()
    assert "whsec_" in rotated
    browser.post(f"/integrations/webhooks/{mine.pk}/delete/")
    assert not WebhookSubscription.objects.filter(pk=mine.pk).exists()


def test_the_navigation_links_to_the_integrations_pages(browser):
    assert 'href="/integrations/tokens/"' in browser.get("/integrations/webhooks/").content.decode()
