"""Every webhook event's body is described in the served OpenAPI document
(``webhooks``): real deliveries, made by real order moves, instance changes,
a transfer and a ping, are validated against it (required keys, types, no
undocumented key), and an order event's ``order`` reads as the API's own
``Order``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.api.orders.serializers import OrderSerializer
from portal.instances.services import operation_order
from portal.instances.transfers import transfer_accept, transfer_offer
from portal.integrations.models import WebhookDelivery
from portal.integrations.webhooks.subscriptions import webhook_ping, webhook_subscribe
from portal.orders.selectors import LEGACY_ORDER_KEYS
from tests.instances import create, play

pytestmark = pytest.mark.django_db

DOCUMENT = "urn:squadron:openapi"
EVENTS = {
    "order.status_changed",
    "instance.created",
    "instance.changed",
    "instance.decommissioned",
    "ping",
}

formats = FormatChecker()


@formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    # RFC 3339 wants a zone: a naive time would be read as the receiver's own.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@formats.checks("uri")
def _is_absolute_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme and urlsplit(value).netloc)


@pytest.fixture
def served(api_for) -> dict[str, Any]:
    answer = api_for(None).get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    document = json.loads(answer.content)
    assert document["openapi"].startswith("3.1")
    return document


def validator_for(document: dict[str, Any], event: str) -> Draft202012Validator:
    """The validator of ``event``'s body, as the document's ``webhooks`` names it."""
    body = document["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]["schema"]
    registry = Registry().with_resource(DOCUMENT, Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator({"$ref": DOCUMENT + body["$ref"]}, registry=registry, format_checker=formats)


def problems(document: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    found = validator_for(document, payload["event"]).iter_errors(payload)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in found]


def sent() -> list[dict[str, Any]]:
    return [
        json.loads(body) for body in WebhookDelivery.objects.order_by("pk").values_list("body", flat=True)
    ]


@pytest.fixture
def deliveries(database, requester, member, outsider, django_capture_on_commit_callbacks) -> list[dict]:
    """The bodies of a life: an instance ordered, run and made, offered and
    handed to someone else, decommissioned by them; and a ping. The owners
    and the squad subscribe, so each event reaches a user's and a squad's
    webhook."""
    for user in (requester, outsider):
        webhook_subscribe(actor=user, url=f"https://{user.username}.example.com/hook")
    squad_hook, _ = webhook_subscribe(
        actor=member, url="https://squad.example.com/hook", squad=database.squad
    )
    with django_capture_on_commit_callbacks(execute=True):
        instance = create(database, requester)
    transfer_offer(actor=requester, instance=instance, to=outsider)
    with django_capture_on_commit_callbacks(execute=True):
        transfer_accept(actor=outsider, instance=instance)
    instance.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        play(operation_order(actor=outsider, instance=instance, operation="drop", inputs={}))
    with django_capture_on_commit_callbacks(execute=True):
        webhook_ping(subscription=squad_hook, actor=member)
    return sent()


def test_the_document_describes_each_event_with_its_headers(served):
    assert set(served["webhooks"]) == EVENTS
    for event, item in served["webhooks"].items():
        operation = item["post"]
        assert operation["summary"].startswith(event) and operation["description"]
        assert {p["name"] for p in operation["parameters"]} >= {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        }
    assert "nullable" not in json.dumps(served), "3.1 schemas are JSON Schema: null is a type"


def test_every_event_sent_follows_the_served_document(served, deliveries):
    assert {body["event"] for body in deliveries} == EVENTS
    transfers = [body for body in deliveries if "transfer" in body]
    assert transfers and {json.dumps(body["transfer"]) for body in transfers} == {
        json.dumps({"from": "rita", "to": "oscar"})
    }
    moves = {(b["from_status"], b["to_status"]) for b in deliveries if b["event"] == "order.status_changed"}
    assert (None, "queued") in moves and ("running", "succeeded") in moves
    for body in deliveries:
        assert problems(served, body) == [], body


def test_an_order_event_carries_the_order_as_the_api_shows_it(served, deliveries, api_for, requester):
    body = next(
        b for b in deliveries if b["event"] == "order.status_changed" and b["to_status"] == "succeeded"
    )
    payload = body["order"]
    shown = api_for(requester).get(f"/api/v1/orders/{payload['id']}/").json()
    for key in OrderSerializer.Meta.fields:
        if key == "url":
            assert payload["url"] == settings.SQUADRON_BASE_URL + urlsplit(shown["url"]).path
        elif key.endswith("_at"):
            assert (payload[key] and datetime.fromisoformat(payload[key])) == (
                shown[key] and datetime.fromisoformat(shown[key])
            ), key
        else:
            assert payload[key] == shown[key], key
    # Kept from the payload's earlier shape, for receivers written against it.
    assert payload["api_path"] == urlsplit(shown["url"]).path
    for key in set(LEGACY_ORDER_KEYS) - {"api_path"}:
        assert payload[key] == shown["result"][key], key
    assert payload["created_at"].endswith("Z"), "times in UTC, whoever's zone"


def test_the_validation_fails_on_what_the_document_does_not_say(served, deliveries):
    """The check above could not pass on a drifted payload."""
    order_event = next(b for b in deliveries if b["event"] == "order.status_changed")
    without_url = {**order_event, "order": {k: v for k, v in order_event["order"].items() if k != "url"}}
    assert any("'url' is a required property" in problem for problem in problems(served, without_url))
    without_legacy = {
        **order_event,
        "order": {k: v for k, v in order_event["order"].items() if k != "api_path"},
    }
    assert any("'api_path' is a required property" in p for p in problems(served, without_legacy))
    assert problems(served, {**order_event, "order": {**order_event["order"], "extra": 1}})
    assert problems(
        served, {**order_event, "order": {**order_event["order"], "created_at": "2026-01-01T10:00"}}
    )
    instance_event = next(b for b in deliveries if b["event"] == "instance.created")
    assert problems(served, {**instance_event, "surprise": True})
    assert problems(served, {**instance_event, "instance": {**instance_event["instance"], "state": "asleep"}})
    with pytest.raises(ValidationError):
        validator_for(served, "ping").validate(
            {"event": "ping", "event_id": "not-a-uuid", "occurred_at": None}
        )
