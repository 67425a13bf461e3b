"""The webhook events in the OpenAPI document (its ``webhooks`` section):
what each delivery's JSON body holds, so receivers (and generated clients)
know every payload without reading our code.

The schemas are written here by hand, next to nothing that builds the
payloads (``portal.orders.selectors.order_payload``,
``portal.instances.lifecycle.instance_payload``, the envelopes in
``portal.integrations.webhooks``); ``tests/api/test_webhook_payloads.py``
holds every event the real code sends to them, required keys, types and no
undocumented key, so neither side drifts alone.

An order event's ``order`` is the API's own ``Order`` (``$ref``: a client
reads it with the model it reads ``GET /api/v1/orders/{id}/`` with) plus the
keys the payload carried before it had that shape, kept and marked
deprecated; an instance event's ``instance`` likewise is the API's
``Instance`` plus its deprecated ``api_path``.
"""

from __future__ import annotations

from typing import Any

from portal.instances.lifecycle import (
    EVENT_CHANGED,
    EVENT_CREATED,
    EVENT_DECOMMISSIONED,
    LEGACY_INSTANCE_KEYS,
)
from portal.integrations.webhooks.delivery import EVENT_PING, EVENT_STATUS_CHANGED
from portal.orders.selectors import LEGACY_ORDER_KEYS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _event(name: str, description: str) -> dict[str, Any]:
    return {"type": "string", "const": name, "description": description}


_TIME = {"type": "string", "format": "date-time"}
_ENVELOPE = {
    "event_id": {
        "type": "string",
        "format": "uuid",
        "description": "This event's id. A redelivery sends the same body, so the same id: "
        "receivers can use it to do their work once. (Each delivery's own id is the "
        "`webhook-id` header.)",
    },
    "occurred_at": {**_TIME, "description": "When it happened (UTC)."},
}

_LEGACY_ORDER = {
    "api_path": {
        "type": "string",
        "deprecated": True,
        "description": "Deprecated: the order's API path relative to the site; use `url`.",
    },
    "return_code": {
        "type": ["integer", "null"],
        "deprecated": True,
        "description": "Deprecated: `result.return_code`.",
    },
    "failure_reason": {
        "type": "string",
        "deprecated": True,
        "description": "Deprecated: `result.failure_reason`.",
    },
    "resolution_note": {
        "type": "string",
        "deprecated": True,
        "description": "Deprecated: `result.resolution_note`.",
    },
}
assert set(_LEGACY_ORDER) == set(LEGACY_ORDER_KEYS)  # the builder and this page name the same keys

COMPONENTS: dict[str, Any] = {
    "WebhookOrder": {
        "description": "The order as the API's `Order` shows it (`url` absolute, times in UTC, "
        "secret inputs masked), plus keys kept from the payload's earlier shape, deprecated.",
        "allOf": [
            _ref("Order"),
            {"type": "object", "properties": _LEGACY_ORDER, "required": list(LEGACY_ORDER_KEYS)},
        ],
        "unevaluatedProperties": False,
    },
    "WebhookInstance": {
        "description": "The instance as the API's `Instance` shows it (`url` absolute, times in UTC, "
        "secret attributes masked), plus keys kept from the payload's earlier shape, deprecated.",
        "allOf": [
            _ref("Instance"),
            {
                "type": "object",
                "properties": {
                    "api_path": {
                        "type": "string",
                        "deprecated": True,
                        "description": "Deprecated: the instance's API path relative to the site; use `url`.",
                    }
                },
                "required": list(LEGACY_INSTANCE_KEYS),
            },
        ],
        "unevaluatedProperties": False,
    },
    "OrderStatusChangedEvent": {
        "type": "object",
        "properties": {
            "event": _event(EVENT_STATUS_CHANGED, "An order moved from one status to another."),
            **_ENVELOPE,
            "from_status": {
                **_nullable(_ref("OrderStatusEnum")),
                "description": "Its status before; null when the order was just placed.",
            },
            "to_status": _ref("OrderStatusEnum"),
            "order": _ref("WebhookOrder"),
        },
        "required": ["event", "event_id", "occurred_at", "from_status", "to_status", "order"],
        "additionalProperties": False,
    },
    "PingEvent": {
        "type": "object",
        "properties": {"event": _event(EVENT_PING, "A test event sent by hand."), **_ENVELOPE},
        "required": ["event", "event_id", "occurred_at"],
        "additionalProperties": False,
    },
}

_INSTANCE_EVENTS = {
    EVENT_CREATED: (
        "InstanceCreatedEvent",
        "An instance was made: its creating order succeeded (or was fulfilled by hand).",
    ),
    EVENT_CHANGED: (
        "InstanceChangedEvent",
        "An instance changed: its state moved (a day-2 operation started, ended or failed), "
        "or it changed hands (then `transfer` says between whom).",
    ),
    EVENT_DECOMMISSIONED: ("InstanceDecommissionedEvent", "An instance was decommissioned."),
}
for _name, (_component, _description) in _INSTANCE_EVENTS.items():
    _properties: dict[str, Any] = {
        "event": _event(_name, _description),
        **_ENVELOPE,
        "order_id": {
            "type": ["integer", "null"],
            "description": "The order that made the change, if one did (none for a transfer).",
        },
        "instance": _ref("WebhookInstance"),
    }
    if _name == EVENT_CHANGED:
        _properties["transfer"] = {
            "type": "object",
            "description": "Only when the instance changed hands: the usernames of its "
            "previous and its new owner (both are told).",
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
            "required": ["from", "to"],
            "additionalProperties": False,
        }
    COMPONENTS[_component] = {
        "type": "object",
        "properties": _properties,
        "required": ["event", "event_id", "occurred_at", "order_id", "instance"],
        "additionalProperties": False,
    }

#: Event name -> the component its body follows (the test reads this too).
EVENT_SCHEMAS = {
    EVENT_STATUS_CHANGED: "OrderStatusChangedEvent",
    **{name: component for name, (component, _) in _INSTANCE_EVENTS.items()},
    EVENT_PING: "PingEvent",
}

_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "The delivery's id, the same on each retry of it (Standard Webhooks).",
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "When this attempt was sent, in Unix seconds; refuse old ones to refuse replays.",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "`v1,` and the base64 HMAC-SHA256 of `webhook-id.webhook-timestamp.body`, "
        "keyed with the bytes of the webhook's `whsec_` secret: any Standard Webhooks library "
        "verifies it.",
    },
    {
        "name": "X-Squadron-Event",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "The event's name, as the body's `event`.",
    },
]


def _operation(event: str, component: str) -> dict[str, Any]:
    description = COMPONENTS[component]["properties"]["event"]["description"]
    return {
        "post": {
            "operationId": f"webhook_{event.replace('.', '_')}",
            "summary": f"{event}: {description}",
            "description": f"{description} Sent to each active webhook that hears of it, "
            "as JSON, signed as Standard Webhooks prescribe.",
            "parameters": _HEADERS,
            # Squadron calls the receiver: no security scheme of this API
            # applies; the receiver authenticates the call by its signature.
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(component)}},
            },
            "responses": {
                "2XX": {
                    "description": "Received. Any other answer (or none in time) is retried with backoff."
                }
            },
        }
    }


def webhook_events(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular postprocessing hook: the ``webhooks`` section, one
    operation per event, and the components their bodies use. (A hook
    rather than ``SPECTACULAR_SETTINGS["WEBHOOKS"]``: the components are
    raw JSON Schema that settings could only reach by importing models.)"""
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    result["webhooks"] = {event: _operation(event, component) for event, component in EVENT_SCHEMAS.items()}
    return result
