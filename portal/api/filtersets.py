"""Query-string filters of the list endpoints."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import Product
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from portal.web.pagination import MAX_DATETIME, MIN_DATETIME
from runbooks.models import Runbook, RunEvent

MAX_INT = 2**31 - 1


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, turned to UTC here: PostgreSQL refuses offsets
    beyond ±15:59 that Python accepts, and a date near year 1 or 9999 may
    leave the calendar once converted."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:
            parsed = None
        if parsed is None or not (MIN_DATETIME <= parsed <= MAX_DATETIME):
            raise forms.ValidationError("Give a date-time between years 1900 and 9000.", code="invalid")
        return parsed


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class ProductFilter(django_filters.FilterSet):
    squad = django_filters.CharFilter(field_name="squad__slug", help_text="Slug of the owning squad.")
    category = django_filters.CharFilter(field_name="category__slug", help_text="Slug of the category.")
    fulfilment = django_filters.ChoiceFilter(choices=Fulfilment.choices)
    approval_policy = django_filters.ChoiceFilter(choices=ApprovalPolicy.choices)

    class Meta:
        model = Product
        fields = ["squad", "category", "fulfilment", "approval_policy"]


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=OrderStatus.choices, help_text="Repeat to match any of several statuses."
    )
    product = django_filters.CharFilter(field_name="product__slug", help_text="Slug of the product.")
    squad = django_filters.CharFilter(field_name="squad__slug", help_text="Slug of the owning squad.")
    requester = django_filters.CharFilter(field_name="requester__username", help_text="Username.")
    business_unit = django_filters.CharFilter(
        field_name="business_unit__slug", help_text="Slug of the business unit the order is for."
    )
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601 date-time, inclusive."
    )
    created_before = DateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601 date-time, exclusive."
    )
    updated_after = DateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601 date-time, inclusive."
    )

    class Meta:
        model = Order
        fields = [
            "status",
            "product",
            "squad",
            "requester",
            "business_unit",
            "created_after",
            "created_before",
        ]


class InstanceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", help_text="The instance's name, matched exactly.")
    product = django_filters.CharFilter(field_name="product__slug", help_text="Slug of the product.")
    state = django_filters.MultipleChoiceFilter(
        choices=InstanceState.choices, help_text="Repeat to match any of several states."
    )
    owner = django_filters.CharFilter(field_name="owner__username", help_text="Username of the owner.")
    business_unit = django_filters.CharFilter(
        field_name="business_unit__slug", help_text="Slug of the business unit it is charged to."
    )

    class Meta:
        model = ServiceInstance
        fields = ["name", "product", "state", "owner", "business_unit"]


class RunbookFilter(django_filters.FilterSet):
    squad = django_filters.CharFilter(field_name="squad__slug", help_text="Slug of the owning squad.")

    class Meta:
        model = Runbook
        fields = ["squad"]


class RunEventFilter(django_filters.FilterSet):
    attempt = IntegerFilter(
        field_name="run__order_run__attempt",
        min_value=1,
        max_value=MAX_INT,
        help_text="Only this run of the order (1 = first run, 2 = first retry…).",
    )
    after = IntegerFilter(
        field_name="counter",
        lookup_expr="gt",
        min_value=0,
        max_value=MAX_INT,
        help_text="Only events after this counter: poll with the last counter you have.",
    )

    class Meta:
        model = RunEvent
        fields = ["attempt", "after"]
