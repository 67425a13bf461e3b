"""Every webhook event's body is described in the served OpenAPI document
(``webhooks``): real deliveries, made by real order moves, instance changes,
a transfer and a ping, are validated against it (required keys, types, no
undocumented key), and an order event's ``order`` reads as the API's own
``Order``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.api.instances.serializers import InstanceSerializer
from portal.api.orders.serializers import OrderSerializer
from portal.instances.lifecycle import LEGACY_INSTANCE_KEYS
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


def test_an_instance_event_carries_the_instance_as_the_api_shows_it(deliveries, api_for, outsider):
    body = next(b for b in deliveries if b["event"] == "instance.decommissioned")
    payload = body["instance"]
    shown = api_for(outsider).get(f"/api/v1/instances/{payload['id']}/").json()
    for key in InstanceSerializer.Meta.fields:
        if key == "url":
            assert payload["url"] == settings.SQUADRON_BASE_URL + urlsplit(shown["url"]).path
        elif key.endswith("_at") and payload[key]:
            assert datetime.fromisoformat(payload[key]) == datetime.fromisoformat(shown[key]), key
        else:
            assert payload[key] == shown[key], key
    assert payload["api_path"] == urlsplit(shown["url"]).path
    assert set(payload) == set(InstanceSerializer.Meta.fields) | set(LEGACY_INSTANCE_KEYS)


def generated_client(document: dict[str, Any], where: Path):  # type: ignore[no-untyped-def]
    """The models of a client that openapi-python-client generates from ``document``."""
    (where / "openapi.json").write_text(json.dumps(document))
    # No post hooks: they run ruff on the generated code, which the test need not format.
    (where / "config.yaml").write_text("post_hooks: []\npackage_name_override: squadron_generated\n")
    generated = subprocess.run(
        [
            Path(sys.executable).parent / "openapi-python-client",
            "generate",
            "--path",
            where / "openapi.json",
            "--meta",
            "none",
            "--config",
            where / "config.yaml",
            "--output-path",
            where / "squadron_generated",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("squadron_generated.models")
    finally:
        sys.path.remove(str(where))


def test_a_client_generated_from_the_document_reads_every_payload_with_the_apis_models(
    served, deliveries, tmp_path
):
    """What integrators do: generate a client from /api/schema/ and read each
    delivery with its models, the event's and the API's own ``Order`` and
    ``Instance`` (which a payload of another shape failed with KeyError 'url')."""
    models = generated_client(served, tmp_path)
    try:
        events = {
            "order.status_changed": models.OrderStatusChangedEvent,
            "instance.created": models.InstanceCreatedEvent,
            "instance.changed": models.InstanceChangedEvent,
            "instance.decommissioned": models.InstanceDecommissionedEvent,
            "ping": models.PingEvent,
        }
        read = {"order": 0, "instance": 0}
        for body in deliveries:
            event = events[body["event"]].from_dict(body)
            assert str(event.event_id) == body["event_id"]
            if "order" in body:
                order = models.Order.from_dict(body["order"])
                assert (order.id, order.url, order.status.value) == (
                    body["order"]["id"],
                    body["order"]["url"],
                    body["order"]["status"],
                )
                assert order.created_at.tzinfo is not None
                # The deprecated keys are all a generated model does not know.
                assert set(order.additional_properties) == set(LEGACY_ORDER_KEYS)
                read["order"] += 1
            if "instance" in body:
                instance = models.Instance.from_dict(body["instance"])
                assert (instance.id, instance.url, instance.state.value) == (
                    body["instance"]["id"],
                    body["instance"]["url"],
                    body["instance"]["state"],
                )
                assert set(instance.additional_properties) == set(LEGACY_INSTANCE_KEYS)
                read["instance"] += 1
        assert read["order"] >= 4 and read["instance"] >= 4, read

        # The same models refuse the payloads' earlier shapes: the check can fail.
        order_event = next(b for b in deliveries if "order" in b)
        with pytest.raises(KeyError, match="url"):
            models.Order.from_dict({k: v for k, v in order_event["order"].items() if k != "url"})
        instance_event = next(b for b in deliveries if "instance" in b)
        with pytest.raises(KeyError, match="busy_with"):
            models.Instance.from_dict(
                {k: v for k, v in instance_event["instance"].items() if k != "busy_with"}
            )
    finally:
        for name in [name for name in sys.modules if name.startswith("squadron_generated")]:
            del sys.modules[name]
