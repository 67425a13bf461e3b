"""What every API serializer shares: date-times rendered as DRF renders them,
collection URLs computed once per request, the error body, and request
bodies that refuse what they do not know."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.reverse import reverse

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
    # A declared field, which DRF's metaclass takes out of the class: Serializer.errors stays.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        required=False,
        help_text="Validation errors by field: a list of messages, or an object for nested "
        "fields such as `inputs`.",
    )


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
