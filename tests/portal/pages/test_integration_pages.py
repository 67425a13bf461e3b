"""The portal pages for API tokens and webhooks: shown-once secrets, the
lists an owner needs, refusals that change nothing, accessible markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from portal.integrations.models import ApiToken, WebhookDelivery, WebhookSubscription
from portal.integrations.tokens import token_authenticate, token_create
from portal.integrations.webhooks.delivery import subscription_secret
from portal.integrations.webhooks.subscriptions import (
    WebhookError,
    webhook_ping,
    webhook_subscribe,
    webhook_update,
)
from portal.orders.submission import order_submit

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


def session_text(client: Client) -> str:
    """Everything the session keeps, as stored."""
    from django.contrib.sessions.models import Session

    return str(Session.objects.get(session_key=client.session.session_key).session_data) + str(
        dict(client.session)
    )


def test_a_new_token_is_shown_once_after_a_redirect_and_works(browser, requester):
    created = browser.post("/integrations/tokens/", {"name": "CMDB sync", "expires_in_days": "30"})
    # A redirect: reloading the page that shows the key creates nothing.
    assert created.status_code == 302 and created["Location"] == "/integrations/tokens/"
    assert "sqd_" not in session_text(browser)  # kept encrypted until shown
    page = browser.get("/integrations/tokens/")
    html = page.content.decode()
    key = re.search(r'value="(sqd_[^"]+)"', html).group(1)
    assert token_authenticate(key).user == requester
    assert "no-store" in page["Cache-Control"]
    assert_accessible(html)
    again = browser.get("/integrations/tokens/").content.decode()
    assert key not in again
    token = ApiToken.objects.get()
    assert "CMDB sync" in again and token.prefix in again
    assert key not in str(list(ApiToken.objects.values()))
    assert key[4:] not in session_text(browser)


def test_a_second_token_of_the_same_name_is_refused(browser, requester):
    token_create(user=requester, name="CMDB sync")
    page = browser.post("/integrations/tokens/", {"name": "CMDB sync", "expires_in_days": ""})
    assert page.status_code == 400
    assert "already have a token named “CMDB sync”" in page.content.decode()
    assert ApiToken.objects.count() == 1


def test_a_token_name_too_long_is_refused_not_cut(browser):
    page = browser.post("/integrations/tokens/", {"name": "n" * 101, "expires_in_days": ""})
    html = page.content.decode()
    assert page.status_code == 400 and "at most 100 characters" in html
    assert 'maxlength="' not in html  # the browser would cut a pasted name without a word
    assert ApiToken.objects.count() == 0


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


def test_revoking_a_token_asks_first_and_another_users_token_is_a_404(browser, requester, outsider):
    mine = token_create(user=requester, name="old")
    theirs = token_create(user=outsider, name="theirs")
    for confirmed in ("", "yes"):
        response = browser.post(f"/integrations/tokens/{theirs.token.pk}/revoke/", {"confirmed": confirmed})
        assert response.status_code == 404
    assert ApiToken.objects.get(pk=theirs.token.pk).revoked_at is None

    question = browser.post(f"/integrations/tokens/{mine.token.pk}/revoke/")
    html = question.content.decode()
    assert question.status_code == 200 and "Revoke the token “old”?" in html and "Cancel" in html
    assert_accessible(html)
    assert browser.get(f"/integrations/tokens/{mine.token.pk}/revoke/").status_code == 200
    assert ApiToken.objects.get(pk=mine.token.pk).revoked_at is None

    response = browser.post(
        f"/integrations/tokens/{mine.token.pk}/revoke/", {"confirmed": "yes"}, follow=True
    )
    assert "is revoked" in response.content.decode()
    assert ApiToken.objects.get(pk=mine.token.pk).revoked_at is not None


def test_token_pages_need_csrf_and_a_login(requester):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(requester)
    assert strict.post("/integrations/tokens/", {"name": "x"}).status_code == 403
    assert Client().get("/integrations/tokens/").status_code == 302
    assert ApiToken.objects.count() == 0


def test_a_webhook_is_created_with_its_secret_shown_once_on_its_page(browser, requester, member):
    created = browser.post(
        "/integrations/webhooks/",
        {"url": "https://cmdb.example.com/in", "description": "CMDB", "owner": "mine"},
    )
    subscription = WebhookSubscription.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/integrations/webhooks/{subscription.pk}/"
    assert "whsec_" not in session_text(browser)
    html = browser.get(created["Location"]).content.decode()
    secret = re.search(r'value="(whsec_[^"]+)"', html).group(1)
    assert_accessible(html)
    assert subscription.user == requester and secret not in subscription.secret_ciphertext
    assert subscription_secret(subscription) == secret
    assert secret not in browser.get(f"/integrations/webhooks/{subscription.pk}/").content.decode()


def test_the_same_receiver_twice_is_refused_on_the_page_and_in_the_api(browser, requester):
    webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    page = browser.post("/integrations/webhooks/", {"url": "https://cmdb.example.com/in", "owner": "mine"})
    assert page.status_code == 400 and "already receives these events" in page.content.decode()
    with pytest.raises(WebhookError):
        webhook_subscribe(actor=requester, url="https://cmdb.example.com/in")
    assert WebhookSubscription.objects.count() == 1


def test_a_url_too_long_is_refused_not_cut(browser):
    url = "https://" + "a" * 70 + ".example.com/"
    page = browser.post("/integrations/webhooks/", {"url": url, "owner": "mine"})
    html = page.content.decode()
    assert page.status_code == 400 and "too long to exist" in html
    long = browser.post(
        "/integrations/webhooks/", {"url": "https://x.example.com/" + "p" * 500, "owner": "mine"}
    )
    assert long.status_code == 400 and "at most 500 characters" in long.content.decode()
    assert 'maxlength="' not in html
    assert WebhookSubscription.objects.count() == 0


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
    assert "HTTP 502: bad gateway" in html and 'badge-failed">failed' in html and "3 attempts" in html
    assert_accessible(html)


def test_webhook_commands_work_for_the_owner_and_are_404_for_others(browser, requester, outsider):
    subscription, _ = webhook_subscribe(actor=outsider, url="https://theirs.example.com/in")
    for command in ("ping", "pause", "rotate", "delete", "redeliver"):
        for confirmed in ("", "yes"):
            response = browser.post(
                f"/integrations/webhooks/{subscription.pk}/{command}/", {"confirmed": confirmed}
            )
            assert response.status_code == 404
    assert browser.get(f"/integrations/webhooks/{subscription.pk}/").status_code == 404
    assert WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).exists()
    assert WebhookDelivery.objects.count() == 0

    mine, first_secret = webhook_subscribe(actor=requester, url="https://mine.example.com/in")
    assert browser.post(f"/integrations/webhooks/{mine.pk}/nonsense/").status_code == 404
    browser.post(f"/integrations/webhooks/{mine.pk}/ping/")
    assert WebhookDelivery.objects.filter(subscription=mine).count() == 1
    browser.post(f"/integrations/webhooks/{mine.pk}/pause/")
    assert WebhookSubscription.objects.get(pk=mine.pk).is_active is False

    # Rotating asks first; a reload of the address lands on the webhook.
    question = browser.post(f"/integrations/webhooks/{mine.pk}/rotate/").content.decode()
    assert "stops working at once" in question and "whsec_" not in question
    assert (
        browser.get(f"/integrations/webhooks/{mine.pk}/rotate/")["Location"]
        == f"/integrations/webhooks/{mine.pk}/"
    )
    mine.refresh_from_db()
    assert subscription_secret(mine) == first_secret
    rotated = browser.post(f"/integrations/webhooks/{mine.pk}/rotate/", {"confirmed": "yes"}, follow=True)
    html = rotated.content.decode()
    new_secret = re.search(r'value="(whsec_[^"]+)"', html).group(1)
    mine.refresh_from_db()
    assert new_secret != first_secret and subscription_secret(mine) == new_secret
    assert "the old one no longer verifies" in html

    browser.post(f"/integrations/webhooks/{mine.pk}/delete/")
    assert WebhookSubscription.objects.filter(pk=mine.pk).exists()
    browser.post(f"/integrations/webhooks/{mine.pk}/delete/", {"confirmed": "yes"})
    assert not WebhookSubscription.objects.filter(pk=mine.pk).exists()


def test_a_paused_webhook_sends_no_test_event_and_says_why(browser, requester, api_for):
    mine, _ = webhook_subscribe(actor=requester, url="https://mine.example.com/in")
    webhook_update(subscription=mine, actor=requester, is_active=False)
    page = browser.get(f"/integrations/webhooks/{mine.pk}/").content.decode()
    assert "Send a test event" not in page and "not sent while it is paused, and not later either" in page
    refused = browser.post(f"/integrations/webhooks/{mine.pk}/ping/", follow=True).content.decode()
    assert "resume it to send a test event" in refused
    answer = api_for(requester).post(f"/api/v1/webhooks/{mine.pk}/ping/")
    assert answer.status_code == 400 and "resume it" in str(answer.json())
    assert WebhookDelivery.objects.count() == 0


def test_a_delivery_is_sent_again_from_the_log_and_a_bad_one_is_a_404(browser, requester, outsider):
    mine, _ = webhook_subscribe(actor=requester, url="https://mine.example.com/in")
    theirs, _ = webhook_subscribe(actor=outsider, url="https://theirs.example.com/in")
    delivery = webhook_ping(subscription=mine, actor=requester)
    other = webhook_ping(subscription=theirs, actor=outsider)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)
    for bad in ("", "x", str(other.pk), "9" * 30):
        response = browser.post(f"/integrations/webhooks/{mine.pk}/redeliver/", {"delivery": bad})
        assert response.status_code == 404
    assert WebhookDelivery.objects.count() == 2
    page = browser.post(
        f"/integrations/webhooks/{mine.pk}/redeliver/", {"delivery": delivery.pk}, follow=True
    )
    assert "sent again as a new delivery" in page.content.decode()
    copy = WebhookDelivery.objects.exclude(pk__in=[delivery.pk, other.pk]).get()
    assert copy.subscription == mine and copy.body == delivery.body


def test_the_log_names_each_status_change_and_links_its_order(
    browser, requester, product, monkeypatch, django_capture_on_commit_callbacks
):
    mine, _ = webhook_subscribe(actor=requester, url="https://mine.example.com/in")
    monkeypatch.setattr("portal.integrations.webhooks.delivery.enqueue", lambda *args, **kwargs: True)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_submit(requester=requester, product=product, inputs={"hostname": "web-1"})
    html = browser.get(f"/integrations/webhooks/{mine.pk}/").content.decode()
    assert f'href="/orders/{order.pk}/"' in html
    assert f"Order #{order.pk}</a>: placed, Queued" in html


def test_a_superuser_sees_whose_personal_webhook_it_is(requester, admin_user):
    webhook_subscribe(actor=requester, url="https://mine.example.com/in")
    client = Client()
    client.force_login(admin_user)
    html = client.get("/integrations/webhooks/").content.decode()
    assert f"orders of {requester.get_username()}" in html and "my orders" not in html


def test_the_navigation_links_to_the_integrations_pages(browser):
    assert 'href="/integrations/tokens/"' in browser.get("/integrations/webhooks/").content.decode()


def test_a_webhook_changes_its_url_and_description_keeping_secret_and_log(browser, requester, outsider):
    mine, secret = webhook_subscribe(actor=requester, url="https://old.example.com/in")
    webhook_subscribe(actor=requester, url="https://taken.example.com/in")
    theirs, _ = webhook_subscribe(actor=outsider, url="https://theirs.example.com/in")
    delivery = webhook_ping(subscription=mine, actor=requester)
    page = f"/integrations/webhooks/{mine.pk}/"

    for url, problem in (
        ("ftp://new.example.com/", "starts with https://"),
        ("https://taken.example.com/in", "already receives these events"),
    ):
        refused = browser.post(page, {"edit-url": url, "edit-description": "CMDB"})
        html = refused.content.decode()
        assert refused.status_code == 400 and problem in html
        assert f'value="{url}"' in html  # what was typed stays in the box
        assert_accessible(html)
    assert (
        browser.post(
            f"/integrations/webhooks/{theirs.pk}/", {"edit-url": "https://x.example.com/"}
        ).status_code
        == 404
    )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.url, mine.description, theirs.url) == (
        "https://old.example.com/in",
        "",
        "https://theirs.example.com/in",
    )

    changed = browser.post(page, {"edit-url": "https://new.example.com/in", "edit-description": "CMDB"})
    assert changed.status_code == 302
    mine.refresh_from_db()
    assert (mine.url, mine.description) == ("https://new.example.com/in", "CMDB")
    assert subscription_secret(mine) == secret
    assert list(WebhookDelivery.objects.filter(subscription=mine)) == [delivery]
