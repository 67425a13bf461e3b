"""Business units in the admin: their members and quotas inline, curated by
platform leads and superusers (units, and the quotas they hold on every
squad's products, span squads). Saved through ``portal.consumption.services``,
the path the catalogue import takes too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Model, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from portal.consumption.models import BusinessUnit, BusinessUnitMembership, Quota
from portal.consumption.permissions import can_curate_business_units
from portal.consumption.services import (
    QuotaLimit,
    business_unit_add_members,
    business_unit_create,
    business_unit_update,
    quota_set,
)


class _CuratedByPlatformLeads:
    """Permissions of the units' admin pages: platform leads and superusers
    see and change everything here; nobody else sees it at all."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_curate_business_units(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_curate_business_units(request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return can_curate_business_units(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_curate_business_units(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_curate_business_units(request.user)


class MembershipInline(_CuratedByPlatformLeads, admin.TabularInline):
    """Who belongs to the unit (orders for it, sees its usage)."""

    model = BusinessUnitMembership
    extra = 0
    fields = ("user", "granted_by_mapping", "joined_at")
    # One added here is curated by hand; one a group mapping granted says so.
    readonly_fields = ("granted_by_mapping", "joined_at")


class QuotaInline(_CuratedByPlatformLeads, admin.TabularInline):
    """The unit's limits per product: a count, or an attribute's total."""

    model = Quota
    extra = 0
    fields = ("product", "max_instances", "attribute", "max_total")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Quota]:
        return super().get_queryset(request).select_related("product")


@admin.register(BusinessUnit)
class BusinessUnitAdmin(_CuratedByPlatformLeads, admin.ModelAdmin):
    list_display = ("name", "slug", "cost_centre", "member_count", "quota_count")
    search_fields = ("name", "slug", "cost_centre")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "cost_centre", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")
    inlines = (MembershipInline, QuotaInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BusinessUnit]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Count("memberships", distinct=True), quota_total=Count("quotas", distinct=True)
            )
        )

    @admin.display(description="members", ordering="member_total")
    def member_count(self, unit: Any) -> int:
        return unit.member_total

    @admin.display(description="quotas", ordering="quota_total")
    def quota_count(self, unit: Any) -> int:
        return unit.quota_total

    def save_model(self, request: HttpRequest, obj: BusinessUnit, form: ModelForm, change: bool) -> None:
        if change:
            business_unit_update(unit=obj, slug=obj.slug, name=obj.name, cost_centre=obj.cost_centre)
        else:
            saved = business_unit_create(slug=obj.slug, name=obj.name, cost_centre=obj.cost_centre)
            # Django's add view goes on with ``obj`` (inlines, log, redirect).
            obj.__dict__.update(saved.__dict__)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        rows = formset.save(commit=False)
        for row in formset.deleted_objects:
            row.delete()
        unit = form.instance
        for row in rows:
            if isinstance(row, BusinessUnitMembership):
                if row.pk is None:
                    business_unit_add_members(unit=unit, users=[row.user])
                else:
                    row.save()  # the same person, or another in their place
            elif isinstance(row, Quota):
                if (
                    row.pk is not None
                    and Quota.objects.filter(pk=row.pk)
                    .exclude(product_id=row.product_id, attribute=row.attribute)
                    .exists()
                ):
                    # Its product or attribute changed: it is another quota now.
                    Quota.objects.filter(pk=row.pk).delete()
                quota_set(
                    unit=unit,
                    limit=QuotaLimit(
                        product=row.product,
                        max_instances=row.max_instances,
                        attribute=row.attribute,
                        max_total=row.max_total,
                    ),
                )
