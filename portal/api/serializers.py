"""What the API reads and writes. Serializers only shape data: every change
goes through a service (portal/services.py, portal/webhooks.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from catalogue.models import Category, Product
from portal.models import WebhookDelivery, WebhookSubscription
from portal.orders.approval_steps import step_progress, steps_described, steps_for
from portal.orders.choices import OrderStatus
from portal.orders.commands import COMMAND_NAMES, order_actions
from portal.orders.models import Order, OrderDryRun, OrderEvent
from portal.runlog import plain_text
from runbooks.models import Runbook, RunbookVersion, RunEvent
from runbooks.selectors import run_events_page
from squads.choices import Role
from squads.models import Membership, Squad

MAX_TEXT = 2000


# Lists of products and orders are what integrations poll most. Their
# serializers declare their fields for validation of the shape and for the
# OpenAPI schema, but build the dictionaries by hand: DRF's per-field
# machinery costs about ten times more per row (docs/benchmarks.md). A test
# holds the hand-built keys equal to the declared fields.


def iso(moment: datetime | None, zone: tzinfo | None = None) -> str | None:
    """A date-time exactly as DRF's DateTimeField renders it (in the current
    time zone, UTC as ``Z``); pass ``zone`` to skip looking it up per value."""
    if moment is None:
        return None
    text = moment.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def current_zone(context: dict) -> tzinfo:
    """The request's time zone, looked up once per request."""
    if "_zone" not in context:
        context["_zone"] = timezone.get_current_timezone()
    return context["_zone"]


def list_url(context: dict, view_name: str) -> str:
    """The absolute URL of a collection, computed once per request: an item's
    URL is this plus its key and a slash."""
    cache = context.setdefault("_list_urls", {})
    if view_name not in cache:
        cache[view_name] = reverse(view_name, request=context.get("request"))
    return cache[view_name]


#: Events of a dry run whose output an order's detail carries.
DRY_RUN_OUTPUT_EVENTS = 200


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. `not_found`.")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Validation errors by field: a list of messages, or an object for nested "
        "fields such as `inputs`.",
    )


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_superuser = serializers.BooleanField()
    token = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        allow_null=True,
        help_text="The token this request authenticated with (name, prefix, expires_at), "
        "or null for a browser session.",
    )


# --- Catalogue -------------------------------------------------------------------


class SquadRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Squad
        fields = ["slug", "name"]


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["slug", "name"]


class ProductRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["slug", "name"]


class ProductSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:product-detail", lookup_field="slug")
    category = CategoryRefSerializer()
    squad = SquadRefSerializer()
    tags = serializers.ListField(child=serializers.CharField(), source="tag_list")
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)

    class Meta:
        model = Product
        fields = [
            "slug",
            "url",
            "name",
            "summary",
            "category",
            "squad",
            "fulfilment",
            "approval_policy",
            "sla_minutes",
            "unit_cost",
            "tags",
            "version",
            "updated_at",
        ]

    def to_representation(self, product: Product) -> dict[str, Any]:
        category, squad = product.category, product.squad
        return {
            "slug": product.slug,
            "url": f"{list_url(self.context, 'api:product-list')}{product.slug}/",
            "name": product.name,
            "summary": product.summary,
            "category": {"slug": category.slug, "name": category.name},
            "squad": {"slug": squad.slug, "name": squad.name},
            "fulfilment": product.fulfilment,
            "approval_policy": product.approval_policy,
            "sla_minutes": product.sla_minutes,
            "unit_cost": None if product.unit_cost is None else f"{product.unit_cost:.2f}",
            "tags": product.tag_list,
            "version": product.version,
            "updated_at": iso(product.updated_at, current_zone(self.context)),
        }


class ApprovalStepSpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    approvers = serializers.CharField(help_text="Who decides this step, in words.")
    required = serializers.IntegerField(help_text="Distinct approvals the step needs.")


class ProductDetailSerializer(ProductSerializer):
    depends_on = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    approval_steps = serializers.SerializerMethodField()
    form_schema = serializers.JSONField(
        help_text="JSON Schema (type object) of the inputs an order of this product takes. "
        "Properties marked `x-secret` are secrets: they are never shown back."
    )

    class Meta(ProductSerializer.Meta):
        fields = [
            *ProductSerializer.Meta.fields,
            "description",
            "depends_on",
            "approval_steps",
            "form_schema",
        ]

    def to_representation(self, product: Product) -> dict[str, Any]:
        return {
            **super().to_representation(product),
            "description": product.description,
            "depends_on": [dependency.slug for dependency in product.depends_on.all()],
            "approval_steps": self.get_approval_steps(product),
            "form_schema": product.form_schema,
        }

    @extend_schema_field(ApprovalStepSpecSerializer(many=True))
    def get_approval_steps(self, product: Product) -> list[dict[str, Any]]:
        """The steps an order placed now goes through, in order (empty: none)."""
        steps = steps_for(product)
        described = steps_described(steps)
        return [
            {"name": item["name"], "approvers": item["who"], "required": step["required"]}
            for step, item in zip(steps, described, strict=True)
        ]


# --- Squads and runbooks ----------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["username", "role"]


class SquadSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:squad-detail", lookup_field="slug")
    members = MemberSerializer(source="memberships", many=True)

    class Meta:
        model = Squad
        fields = ["slug", "url", "name", "mission", "members"]


class RunbookVersionRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunbookVersion
        fields = ["number", "checksum", "created_at"]


class RunbookSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:runbook-detail", lookup_field="slug")
    squad = SquadRefSerializer()
    current_version = RunbookVersionRefSerializer(allow_null=True)
    queue = serializers.CharField(help_text="Celery queue its runs go to; empty for the default queue.")

    class Meta:
        model = Runbook
        fields = ["slug", "url", "name", "squad", "description", "timeout", "queue", "current_version"]


# --- Orders -------------------------------------------------------------------------


#: The columns an order's list entry shows, as ``QuerySet.values()`` names them.
ORDER_ROW = (
    "id",
    "status",
    "product_version",
    "fulfilment",
    "approval_policy",
    "inputs",
    "attempts",
    "created_at",
    "updated_at",
    "approved_at",
    "queued_at",
    "started_at",
    "claimed_at",
    "finished_at",
    "return_code",
    "host_summary",
    "failure_reason",
    "resolution_note",
    "product__slug",
    "product__name",
    "squad__slug",
    "squad__name",
    "requester__username",
    "claimed_by__username",
)


def order_row(order: Order) -> dict[str, Any]:
    """An order instance (related rows loaded) as the row ``ORDER_ROW`` reads."""
    row: dict[str, Any] = {}
    for name in ORDER_ROW:
        value: Any = order
        for part in name.split("__"):
            value = getattr(value, part) if value is not None else None
        row[name] = value
    return row


class OrderResultSerializer(serializers.Serializer):
    return_code = serializers.IntegerField(allow_null=True)
    host_summary = serializers.DictField(child=serializers.JSONField())
    failure_reason = serializers.CharField(allow_blank=True)
    resolution_note = serializers.CharField(allow_blank=True)


class OrderSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:order-detail")
    product = ProductRefSerializer()
    squad = SquadRefSerializer()
    requester = serializers.CharField(source="requester.username")
    claimed_by = serializers.CharField(source="claimed_by.username", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    inputs = serializers.DictField(
        child=serializers.JSONField(), help_text="As submitted; secret values are masked."
    )
    result = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "url",
            "status",
            "product",
            "product_version",
            "squad",
            "requester",
            "fulfilment",
            "approval_policy",
            "inputs",
            "attempts",
            "claimed_by",
            "created_at",
            "updated_at",
            "approved_at",
            "queued_at",
            "started_at",
            "claimed_at",
            "finished_at",
            "result",
        ]

    def to_representation(self, order: Order | dict) -> dict[str, Any]:
        """From an ``Order`` or from a row of ``ORDER_ROW`` values (the list
        reads rows: no model instances to build)."""
        row = order if isinstance(order, dict) else order_row(order)
        zone = current_zone(self.context)
        claimed_by = row["claimed_by__username"]
        return {
            "id": row["id"],
            "url": f"{list_url(self.context, 'api:order-list')}{row['id']}/",
            "status": row["status"],
            "product": {"slug": row["product__slug"], "name": row["product__name"]},
            "product_version": row["product_version"],
            "squad": {"slug": row["squad__slug"], "name": row["squad__name"]},
            "requester": row["requester__username"],
            "fulfilment": row["fulfilment"],
            "approval_policy": row["approval_policy"],
            "inputs": row["inputs"],
            "attempts": row["attempts"],
            "claimed_by": claimed_by,
            "created_at": iso(row["created_at"], zone),
            "updated_at": iso(row["updated_at"], zone),
            "approved_at": iso(row["approved_at"], zone),
            "queued_at": iso(row["queued_at"], zone),
            "started_at": iso(row["started_at"], zone),
            "claimed_at": iso(row["claimed_at"], zone),
            "finished_at": iso(row["finished_at"], zone),
            "result": {
                "return_code": row["return_code"],
                "host_summary": row["host_summary"] or {},
                "failure_reason": row["failure_reason"],
                "resolution_note": row["resolution_note"],
            },
        }

    @extend_schema_field(OrderResultSerializer)
    def get_result(self, order: Order) -> dict[str, Any]:
        return {
            "return_code": order.return_code,
            "host_summary": order.host_summary or {},
            "failure_reason": order.failure_reason,
            "resolution_note": order.resolution_note,
        }


class OrderHistorySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = OrderEvent
        fields = ["created_at", "actor", "from_status", "to_status", "note"]


class OrderDetailSerializer(OrderSerializer):
    events_url = serializers.SerializerMethodField()
    runbook_version = serializers.SerializerMethodField()
    history = OrderHistorySerializer(source="events", many=True)
    actions = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()
    dry_run = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [
            *OrderSerializer.Meta.fields,
            "runbook_version",
            "events_url",
            "history",
            "approval",
            "dry_run",
            "actions",
        ]

    def to_representation(self, order: Order) -> dict[str, Any]:
        return {
            **super().to_representation(order),
            "runbook_version": self.get_runbook_version(order),
            "events_url": self.get_events_url(order),
            "history": [
                {
                    "created_at": iso(event.created_at, current_zone(self.context)),
                    "actor": event.actor.get_username() if event.actor else None,
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "note": event.note,
                }
                for event in order.events.all()
            ],
            "approval": self.get_approval(order),
            "dry_run": self.get_dry_run(order),
            "actions": self.get_actions(order),
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "The latest check-mode preview of the order, if an approver asked for one.",
            "properties": {
                "run": {"type": "integer"},
                "status": {"type": "string"},
                "requested_by": {"type": "string", "nullable": True},
                "created_at": {"type": "string", "format": "date-time"},
                "would_change": {"type": "object", "additionalProperties": {"type": "integer"}},
                "failure_reason": {"type": "string"},
                "output_tail": {"type": "string"},
            },
            "required": [
                "run",
                "status",
                "requested_by",
                "created_at",
                "would_change",
                "failure_reason",
                "output_tail",
            ],
        }
    )
    def get_dry_run(self, order: Order) -> dict[str, Any] | None:
        dry_run = OrderDryRun.objects.filter(order_id=order.pk).select_related("run", "requested_by").first()
        if dry_run is None:
            return None
        run = dry_run.run
        events, _ = run_events_page(run_id=run.pk, limit=DRY_RUN_OUTPUT_EVENTS)
        changes = {host: (counts or {}).get("changed", 0) for host, counts in (run.stats or {}).items()}
        return {
            "run": run.pk,
            "status": run.status,
            "requested_by": dry_run.requested_by.get_username() if dry_run.requested_by else None,
            "created_at": iso(dry_run.created_at, current_zone(self.context)),
            "would_change": changes,
            "failure_reason": run.failure_reason,
            "output_tail": "".join(plain_text(events)),
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "The approval steps copied onto the order when it was placed, in the "
            "order they open, with who decides each and the decisions so far.",
            "properties": {
                "current_step": {"type": "integer", "nullable": True},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "approvers": {"type": "string"},
                            "required": {"type": "integer"},
                            "approved": {"type": "integer"},
                            "state": {"type": "string", "enum": ["done", "open", "rejected", "waiting"]},
                            "decisions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "approver": {"type": "string"},
                                        "decision": {"type": "string", "enum": ["approved", "rejected"]},
                                        "comment": {"type": "string"},
                                        "created_at": {"type": "string", "format": "date-time"},
                                    },
                                    "required": ["approver", "decision", "comment", "created_at"],
                                },
                            },
                        },
                        "required": ["name", "approvers", "required", "approved", "state", "decisions"],
                    },
                },
            },
            "required": ["current_step", "steps"],
        }
    )
    def get_approval(self, order: Order) -> dict[str, Any] | None:
        if not order.approval_steps:
            return None
        zone = current_zone(self.context)
        open_step = order.approval_step if order.status == OrderStatus.PENDING_APPROVAL else None
        return {
            "current_step": open_step,
            "steps": [
                {
                    "name": item["step"]["name"],
                    "approvers": item["who"],
                    "required": item["step"]["required"],
                    "approved": item["approved"],
                    "state": item["state"],
                    "decisions": [
                        {
                            "approver": decision.approver.get_username(),
                            "decision": decision.decision,
                            "comment": decision.comment,
                            "created_at": iso(decision.created_at, zone),
                        }
                        for decision in item["decisions"]
                    ],
                }
                for item in step_progress(order)
            ],
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_events_url(self, order: Order) -> str:
        return reverse("api:order-events", kwargs={"pk": order.pk}, request=self.context.get("request"))

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"runbook": {"type": "string"}, "number": {"type": "integer"}},
            "required": ["runbook", "number"],
        }
    )
    def get_runbook_version(self, order: Order) -> dict[str, Any] | None:
        version = order.runbook_version
        return {"runbook": version.runbook.slug, "number": version.number} if version else None

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=COMMAND_NAMES)))
    def get_actions(self, order: Order) -> list[str]:
        """What the caller may do to the order now (``POST {url}{action}/``)."""
        request = self.context.get("request")
        return order_actions(request.user, order) if request else []


# Text that must be sent as text: DRF would turn 5 into "5".
class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false``, not the strings DRF also takes ("false", "0")."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# A request body that names only fields it knows: a typo ("input" for
# "inputs") is refused by name instead of passing as if left out. The schema
# says so too (additionalProperties: false). No docstring: the OpenAPI schema
# would show it as the description of every request body.
class StrictSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in set(data) - set(self.fields))
            if unknown:
                known = f"takes: {', '.join(self.fields)}" if self.fields else "takes no body"
                raise serializers.ValidationError(
                    {name: [f"Unknown field (this request {known})."] for name in unknown},
                    code="unknown_field",
                )
        return super().to_internal_value(data)


class NoBodySerializer(StrictSerializer):
    """What a command without parameters accepts: nothing, or ``{}``."""


class OrderCreateSerializer(StrictSerializer):
    product = serializers.SlugField(max_length=64, help_text="Slug of a published product.")
    inputs = serializers.DictField(
        child=serializers.JSONField(),
        default=dict,
        help_text="Values for the product's form (see the product's `form_schema`).",
    )


class ReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=MAX_TEXT, help_text="Shown to the requester.")


class OptionalReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")


class NoteSerializer(StrictSerializer):
    note = StrictCharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")


class RunEventSerializer(serializers.ModelSerializer):
    attempt = serializers.IntegerField(read_only=True, help_text="1 for the first run, 2 after a retry…")

    class Meta:
        model = RunEvent
        fields = ["attempt", "counter", "event", "host", "task", "stdout", "failed", "created_at"]


# --- Webhooks -------------------------------------------------------------------------


class WebhookSerializer(serializers.ModelSerializer):
    squad = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    owner = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "description",
            "owner",
            "squad",
            "is_active",
            "created_by",
            "created_at",
            "updated_at",
            "deliveries_url",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["user", "squad"]))
    def get_owner(self, subscription: WebhookSubscription) -> str:
        """``user``: your own orders' events; ``squad``: every order of the squad."""
        return "squad" if subscription.squad_id else "user"

    @extend_schema_field(OpenApiTypes.URI)
    def get_deliveries_url(self, subscription: WebhookSubscription) -> str:
        return reverse(
            "api:webhook-deliveries", kwargs={"pk": subscription.pk}, request=self.context.get("request")
        )


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.SerializerMethodField()

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]

    @extend_schema_field(serializers.CharField(help_text="Shown this once: store it to verify signatures."))
    def get_secret(self, subscription: WebhookSubscription) -> str:
        return self.context["secret"]


class WebhookCreateSerializer(StrictSerializer):
    url = StrictCharField(max_length=500, help_text="https:// URL that receives the events.")
    description = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    squad = serializers.SlugField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text="Slug of your squad to receive every order of its products; leave out for your own orders.",
    )
    secret = StrictCharField(
        # Kept exactly as sent: a trimmed secret would not verify what the
        # client signs with.
        trim_whitespace=False,
        min_length=16,
        max_length=200,
        required=False,
        allow_null=True,
        default=None,
        help_text="Your own signing secret; leave out to have one generated.",
    )


class WebhookUpdateSerializer(StrictSerializer):
    url = StrictCharField(max_length=500, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    is_active = StrictBooleanField(required=False, help_text="false pauses deliveries.")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id", allow_null=True)
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "delivery_id",
            "event",
            "order",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "payload",
        ]

    @extend_schema_field(serializers.DictField(child=serializers.JSONField()))
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        """The JSON body exactly as signed and sent."""
        return json.loads(delivery.body)
