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
from portal.orders.approval_steps import steps_described, steps_for
from runbooks.models import Runbook, RunbookVersion
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
