"""Caps that keep one person from flooding the webhooks' worker: at most
``SQUADRON_WEBHOOKS_PER_USER`` webhooks, and ``SQUADRON_WEBHOOK_PINGS_PER_MINUTE``
events sent by hand (test events, redeliveries) a minute. A refusal says
why (and when to try again) in the API and on the page; nothing is created
or sent."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks import subscriptions

pytestmark = pytest.mark.django_db


def subscribe(client, url, **fields):
    return client.post(
        "/api/v1/webhooks/", data=json.dumps({"url": url, **fields}), content_type="application/json"
    )


@pytest.fixture
def browser(requester) -> Client:
    client = Client()
    client.force_login(requester)
    return client


@pytest.fixture
def clear_of_a_new_minute():
    """Events sent by hand are counted per minute of the clock: a test that
    fills the minute starts early enough in one to finish within it."""
    while time.time() % 60 > 45:
        time.sleep(0.2)


# --- Webhooks per person -----------------------------------------------------------------


def test_one_webhook_past_the_cap_is_refused_by_the_api_naming_the_limit(
    api_for, requester, member, squad, settings
):
    settings.SQUADRON_WEBHOOKS_PER_USER = 3
    client = api_for(member)
    # Webhooks a person added for their squad count too.
    assert subscribe(client, "https://a.example.com/in").status_code == 201
    assert subscribe(client, "https://b.example.com/in", squad="network").status_code == 201
    assert subscribe(client, "https://c.example.com/in").status_code == 201
    before = list(WebhookSubscription.objects.values_list("pk", "url"))

    for fields in ({}, {"squad": "network"}):
        response = subscribe(client, "https://d.example.com/in", **fields)
        assert response.status_code == 400
        body = response.json()
        message = "You have 3 webhooks and one person may have at most 3"
        assert message in body["detail"]
        assert message in body["errors"]["non_field_errors"][0]
    assert list(WebhookSubscription.objects.values_list("pk", "url")) == before

    # Someone else still has all their places.
    assert subscribe(api_for(requester), "https://d.example.com/in").status_code == 201


def test_a_deleted_webhook_frees_its_place(api_for, requester, settings):
    settings.SQUADRON_WEBHOOKS_PER_USER = 1
    client = api_for(requester)
    first = subscribe(client, "https://a.example.com/in").json()
    assert subscribe(client, "https://b.example.com/in").status_code == 400
    assert client.delete(f"/api/v1/webhooks/{first['id']}/").status_code == 204
    assert subscribe(client, "https://b.example.com/in").status_code == 201


def test_the_default_cap_is_twenty(api_for, requester):
    client = api_for(requester)
    for n in range(20):
        assert subscribe(client, f"https://h{n}.example.com/in").status_code == 201
    response = subscribe(client, "https://h20.example.com/in")
    assert response.status_code == 400
    assert "at most 20" in response.json()["detail"]
    assert WebhookSubscription.objects.count() == 20


def test_one_webhook_past_the_cap_is_refused_on_the_page(browser, requester, settings):
    settings.SQUADRON_WEBHOOKS_PER_USER = 1
    subscriptions.webhook_subscribe(actor=requester, url="https://a.example.com/in")
    page = browser.post("/integrations/webhooks/", {"url": "https://b.example.com/in", "owner": "mine"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "You have 1 webhooks and one person may have at most 1" in html
    assert "The webhook was not added" in html
    assert "Each person may add up to 1 webhooks" in html, "the page tells the limit before one meets it"
    assert list(WebhookSubscription.objects.values_list("url", flat=True)) == ["https://a.example.com/in"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_people_adding_webhooks_at_once_never_pass_the_cap(requester, settings, attempt):
    settings.SQUADRON_WEBHOOKS_PER_USER = 2
    subscriptions.webhook_subscribe(actor=requester, url="https://first.example.com/in")
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def add(n: int) -> None:
        try:
            barrier.wait()
            outcomes.append(
                subscriptions.webhook_subscribe(actor=requester, url=f"https://r{n}.example.com/in")
            )
        except Exception as error:  # noqa: BLE001 - collected for the assertions
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [o for o in outcomes if isinstance(o, subscriptions.WebhookError)]
    assert len(outcomes) == 4 and len(refused) == 3, outcomes
    assert WebhookSubscription.objects.count() == 2


# --- Events sent by hand per minute --------------------------------------------------------


def test_a_ping_past_the_cap_answers_429_with_retry_after_and_sends_nothing(
    api_for, requester, outsider, settings, clear_of_a_new_minute, django_capture_on_commit_callbacks
):
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 3
    client = api_for(requester)
    first = subscribe(client, "https://a.example.com/in").json()["id"]
    second = subscribe(client, "https://b.example.com/in").json()["id"]
    for webhook in (first, second, first):  # one count for all of a person's webhooks
        assert client.post(f"/api/v1/webhooks/{webhook}/ping/").status_code == 202

    with django_capture_on_commit_callbacks() as sent:
        refused = client.post(f"/api/v1/webhooks/{second}/ping/")
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    body = refused.json()
    assert body["code"] == "throttled"
    assert "the most one person may" in body["detail"]
    assert f"try again in {retry_after} second" in body["detail"]
    assert sent == [] and WebhookDelivery.objects.count() == 3

    # Others are not held back by this person's pings.
    other = api_for(outsider)
    theirs = subscribe(other, "https://c.example.com/in").json()["id"]
    assert other.post(f"/api/v1/webhooks/{theirs}/ping/").status_code == 202


def test_redeliveries_count_with_pings(api_for, requester, settings, clear_of_a_new_minute):
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 2
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://a.example.com/in")
    delivery = subscriptions.webhook_ping(subscription=subscription, actor=requester)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="delivered")
    client = api_for(requester)
    path = f"/api/v1/webhooks/{subscription.pk}/deliveries/{delivery.delivery_id}/redeliver/"
    assert client.post(path).status_code == 202
    refused = client.post(path)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert WebhookDelivery.objects.count() == 2


def test_a_ping_past_the_cap_on_the_page_says_when_to_try_again(
    browser, requester, settings, clear_of_a_new_minute
):
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 2
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://a.example.com/in")
    for _ in range(2):
        browser.post(f"/integrations/webhooks/{subscription.pk}/ping/")
    page = browser.post(f"/integrations/webhooks/{subscription.pk}/ping/", follow=True)
    html = page.content.decode()
    assert page.redirect_chain[-1][0] == f"/integrations/webhooks/{subscription.pk}/"
    assert "message-error" in html and "try again in " in html and " second" in html
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_pings_at_once_never_pass_the_cap(requester, settings, clear_of_a_new_minute):
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 3
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://a.example.com/in")
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def ping() -> None:
        try:
            barrier.wait()
            outcomes.append(subscriptions.webhook_ping(subscription=subscription, actor=requester))
        except Exception as error:  # noqa: BLE001 - collected for the assertions
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ping) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [o for o in outcomes if isinstance(o, subscriptions.WebhookRateLimited)]
    assert len(outcomes) == 8 and len(refused) == 5, outcomes
    assert WebhookDelivery.objects.count() == 3


def test_a_refused_ping_of_a_paused_webhook_costs_no_place(requester, settings, clear_of_a_new_minute):
    settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE = 1
    subscription, _ = subscriptions.webhook_subscribe(actor=requester, url="https://a.example.com/in")
    subscriptions.webhook_update(subscription=subscription, actor=requester, is_active=False)
    with pytest.raises(subscriptions.WebhookError):
        subscriptions.webhook_ping(subscription=subscription, actor=requester)
    subscriptions.webhook_update(subscription=subscription, actor=requester, is_active=True)
    assert subscriptions.webhook_ping(subscription=subscription, actor=requester).event == "ping"
