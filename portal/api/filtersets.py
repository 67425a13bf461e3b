"""Query-string filters of the list endpoints."""

from __future__ import annotations

import django_filters
from django import forms

from catalogue.choices import ApprovalPolicy, Fulfilment
from catalogue.models import Product
from portal.choices import OrderStatus
from portal.models import Order
from runbooks.models import Runbook, RunEvent

MAX_INT = 2**31 - 1


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


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
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601 date-time, inclusive."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601 date-time, exclusive."
    )
    updated_after = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601 date-time, inclusive."
    )

    class Meta:
        model = Order
        fields = ["status", "product", "squad", "requester", "created_after", "created_before"]


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
