"""The instance API's representations and request bodies."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from portal.api.base_serializers import StrictSerializer, current_zone, iso, list_url
from portal.api.catalogue import ProductRefSerializer
from portal.instances.choices import InstanceState
from portal.instances.models import InstanceEvent, ServiceInstance
from portal.instances.selectors import monthly_cost

#: The columns an instance's list entry shows, as ``QuerySet.values()`` names them.
INSTANCE_ROW = (
    "id",
    "name",
    "state",
    "attributes",
    "links",
    "expires_at",
    "created_at",
    "updated_at",
    "decommissioned_at",
    "busy_with_id",
    "product__slug",
    "product__name",
    "product__unit_cost",
    "owner__username",
    "business_unit__slug",
)


class LinkSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.URLField()


class InstanceSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:instance-detail")
    product = ProductRefSerializer()
    owner = serializers.CharField(source="owner.username")
    state = serializers.ChoiceField(choices=InstanceState.choices)
    attributes = serializers.DictField(
        child=serializers.JSONField(), help_text="What its runbooks reported; secret values are masked."
    )
    links = LinkSerializer(many=True)
    busy_with = serializers.IntegerField(
        source="busy_with_id", allow_null=True, help_text="The order working on it now (id), if any."
    )
    business_unit = serializers.CharField(
        source="business_unit.slug",
        allow_null=True,
        default=None,
        help_text="Slug of the business unit it is charged to (its creating order's), or null.",
    )
    monthly_cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="The product's unit cost while it lives."
    )

    class Meta:
        model = ServiceInstance
        fields = [
            "id",
            "url",
            "name",
            "state",
            "product",
            "owner",
            "attributes",
            "links",
            "busy_with",
            "business_unit",
            "monthly_cost",
            "expires_at",
            "created_at",
            "updated_at",
            "decommissioned_at",
        ]

    def to_representation(self, instance: ServiceInstance | dict) -> dict[str, Any]:
        """From an instance or a row of ``INSTANCE_ROW`` values (lists read rows)."""
        row = instance if isinstance(instance, dict) else _row(instance)
        zone = current_zone(self.context)
        live = row["state"] != InstanceState.DECOMMISSIONED
        cost = row["product__unit_cost"] if live else None
        return {
            "id": row["id"],
            "url": f"{list_url(self.context, 'api:instance-list')}{row['id']}/",
            "name": row["name"],
            "state": row["state"],
            "product": {"slug": row["product__slug"], "name": row["product__name"]},
            "owner": row["owner__username"],
            "attributes": row["attributes"],
            "links": row["links"],
            "busy_with": row["busy_with_id"],
            "business_unit": row["business_unit__slug"],
            "monthly_cost": f"{cost:.2f}" if cost is not None else None,
            "expires_at": iso(row["expires_at"], zone),
            "created_at": iso(row["created_at"], zone),
            "updated_at": iso(row["updated_at"], zone),
            "decommissioned_at": iso(row["decommissioned_at"], zone),
        }


def _row(instance: ServiceInstance) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in INSTANCE_ROW:
        value: Any = instance
        for part in name.split("__"):
            value = getattr(value, part) if value is not None else None
        row[name] = value
    row["product__unit_cost"] = (
        monthly_cost(instance) if instance.state != InstanceState.DECOMMISSIONED else None
    )
    return row


class InstanceHistorySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor.username", allow_null=True, default=None, help_text="Null when Squadron itself acted."
    )
    order = serializers.IntegerField(source="order_id", allow_null=True)

    class Meta:
        model = InstanceEvent
        fields = ["created_at", "from_state", "to_state", "order", "actor", "message"]


class OperationOfferSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    kind = serializers.CharField()
    form_schema = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Its form, each field defaulting from the instance's attribute.",
    )


class InstanceDetailSerializer(InstanceSerializer):
    history = InstanceHistorySerializer(many=True, source="events")
    operations = OperationOfferSerializer(many=True, help_text="What you may order for it now.")

    class Meta(InstanceSerializer.Meta):
        fields = [*InstanceSerializer.Meta.fields, "history", "operations"]

    def to_representation(self, instance: ServiceInstance | dict) -> dict[str, Any]:
        zone = current_zone(self.context)
        return {
            **super().to_representation(instance),
            "history": [
                {
                    "created_at": iso(event.created_at, zone),
                    "from_state": event.from_state,
                    "to_state": event.to_state,
                    "order": event.order_id,
                    "actor": event.actor.get_username() if event.actor else None,
                    "message": event.message,
                }
                for event in self.context["history"]
            ],
            "operations": self.context["operations"],
        }


class OperationOrderSerializer(StrictSerializer):
    operation = serializers.SlugField(max_length=64, help_text="Slug of one of the product's operations.")
    business_unit = serializers.SlugField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text="An operation counts against the business unit its instance is charged to; "
        "naming another is refused (400). Optional.",
    )
    inputs = serializers.DictField(
        child=serializers.JSONField(),
        default=dict,
        help_text="Values for the operation's form; a field left out takes the instance's attribute "
        "of its name.",
    )
