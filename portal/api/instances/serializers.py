"""The instance API's representations and request bodies."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from portal.api.base_serializers import StrictCharField, StrictSerializer, current_zone, iso, list_url
from portal.api.catalogue import ProductRefSerializer
from portal.instances.choices import InstanceState, TransferState
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.selectors import monthly_cost
from portal.instances.transfers import NOTE_MAX_LENGTH

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


class PendingTransferSerializer(serializers.Serializer):
    """An offer of the instance that waits for its recipient's answer."""

    # ``from`` is a Python keyword: the fields are given by name.
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "from": serializers.CharField(help_text="Username of its owner, who offers it."),
            "to": serializers.CharField(help_text="Username of the person it is offered to."),
            "note": serializers.CharField(help_text="What the owner wrote with the offer."),
            "created_at": serializers.DateTimeField(),
        }


def pending_transfer_json(transfer: InstanceTransfer | None, zone: Any) -> dict[str, Any] | None:
    if transfer is None:
        return None
    return {
        "from": transfer.from_user.get_username(),
        "to": transfer.to_user.get_username(),
        "note": transfer.note,
        "created_at": iso(transfer.created_at, zone),
    }


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
    pending_transfer = PendingTransferSerializer(
        allow_null=True,
        help_text="Its owner's offer of it to someone, while that person has not answered; else null.",
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
            "pending_transfer",
            "expires_at",
            "created_at",
            "updated_at",
            "decommissioned_at",
        ]

    def to_representation(self, instance: ServiceInstance | dict) -> dict[str, Any]:
        """From an instance or a row of ``INSTANCE_ROW`` values (lists read
        rows); the pending transfers, by instance id, come in the context."""
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
            "pending_transfer": pending_transfer_json(
                self.context.get("pending_transfers", {}).get(row["id"]), zone
            ),
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
    depends_on = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Ids of the instances it depends on (as its runbooks reported), those you may see.",
    )
    dependents_count = serializers.IntegerField(
        help_text="How many instances that are not decommissioned depend on it, "
        "including those you may not see."
    )

    class Meta(InstanceSerializer.Meta):
        fields = [*InstanceSerializer.Meta.fields, "depends_on", "dependents_count", "history", "operations"]

    def to_representation(self, instance: ServiceInstance | dict) -> dict[str, Any]:
        zone = current_zone(self.context)
        return {
            **super().to_representation(instance),
            "depends_on": self.context["depends_on"],
            "dependents_count": self.context["dependents_count"],
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


class TransferAcceptSerializer(StrictSerializer):
    business_unit = serializers.SlugField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text="The business unit of yours it is charged to from now on. Left out: it stays in its "
        "unit if you belong to it, else goes to your only unit (or none); a member of several units "
        "must name one (400). Taking it over must fit the unit's quotas (400 `quota_exceeded`).",
    )


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


class TransferOfferSerializer(StrictSerializer):
    to = StrictCharField(
        max_length=254, help_text="Username of the person to offer it to (or their email address)."
    )
    note = StrictCharField(
        max_length=NOTE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why you offer it, for them to read before they answer.",
    )


class TransferSerializer(serializers.Serializer):
    """An offer of an instance to another person, and what became of it."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "id": serializers.IntegerField(),
            "instance": serializers.IntegerField(help_text="Id of the instance offered."),
            "state": serializers.ChoiceField(
                choices=TransferState.choices,
                help_text="`pending` until its recipient accepts or declines it, its owner withdraws "
                "it, or the instance is decommissioned (`cancelled`).",
            ),
            "from": serializers.CharField(help_text="Username of the owner who offered it."),
            "to": serializers.CharField(help_text="Username of the person it is offered to."),
            "note": serializers.CharField(),
            "created_at": serializers.DateTimeField(),
            "decided_at": serializers.DateTimeField(allow_null=True),
        }

    def to_representation(self, instance: InstanceTransfer) -> dict[str, Any]:
        zone = current_zone(self.context)
        return {
            "id": instance.pk,
            "instance": instance.instance_id,
            "state": instance.state,
            "from": instance.from_user.get_username(),
            "to": instance.to_user.get_username(),
            "note": instance.note,
            "created_at": iso(instance.created_at, zone),
            "decided_at": iso(instance.decided_at, zone),
        }
