"""Who may read the audit trail, and its entries filtered."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from portal.audit.models import AuditEntry
from squads.choices import Role
from squads.selectors import AnyUser, roles_of


def can_read_audit(user: AnyUser) -> bool:
    """Platform leads and superusers: the trail shows every squad's changes
    and everyone's logins, from where."""
    if not user.is_authenticated or not user.is_active:
        return False
    # roles_of() is cached for the request: the navigation asked it already.
    return bool(user.is_superuser) or any(role == Role.PLATFORM_LEAD for _, role in roles_of(user))


def entries_about(obj: object) -> QuerySet[AuditEntry]:
    """The trail of one object, newest first (its admin page's history)."""
    meta = obj._meta  # type: ignore[attr-defined]
    return AuditEntry.objects.filter(object_type=meta.label_lower, object_id=str(obj.pk))  # type: ignore[attr-defined]


def object_types() -> list[str]:
    return list(AuditEntry.objects.order_by("object_type").values_list("object_type", flat=True).distinct())


class AuditEntryFilter(django_filters.FilterSet):
    """The filters of ``/audit/`` and ``GET /api/v1/audit/`` (the same)."""

    actor = django_filters.CharFilter(
        field_name="actor",
        lookup_expr="iexact",
        label="Actor",
        help_text="A username, command or task, exactly.",
    )
    object_type = django_filters.CharFilter(
        field_name="object_type",
        lookup_expr="iexact",
        label="Object type",
        help_text="app_label.model, e.g. catalogue.product.",
    )
    object_id = django_filters.CharFilter(
        field_name="object_id", label="Object id", help_text="With object_type: one object's trail."
    )
    action = django_filters.ChoiceFilter(choices=AuditEntry.Action.choices, label="Action", empty_label="any")
    since = django_filters.IsoDateTimeFilter(
        field_name="at",
        lookup_expr="gte",
        label="Since",
        help_text="From this ISO date-time on.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="at",
        lookup_expr="lt",
        label="Until",
        help_text="Before this ISO date-time.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    q = django_filters.CharFilter(
        method="search", label="Text", help_text="In the object's name, the actor, the address and the note."
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def search(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(object_repr__icontains=text)
            | Q(actor__icontains=text)
            | Q(note__icontains=text)
            | Q(address__startswith=text)
        )


def entries_filtered(params: object) -> tuple[QuerySet[AuditEntry], AuditEntryFilter]:
    """The entries ``params`` (a query string) asks for, newest first, and the
    filter (its form shows the errors of a wrong value, which then filters nothing out)."""
    found = AuditEntryFilter(params, queryset=AuditEntry.objects.order_by("-at", "-id"))
    return (found.qs if found.is_valid() else AuditEntry.objects.none()), found
