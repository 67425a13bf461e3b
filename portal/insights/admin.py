"""The debt register in the admin, curated by the squad that owns the product."""

from __future__ import annotations

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from portal.insights.models import DebtItem
from portal.insights.services import debt_item_save
from squads.admin_mixins import SquadOwnedAdmin, signed_in_user


@admin.register(DebtItem)
class DebtItemAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """A squad records, re-rates and closes debt on its own products; the
    squad dashboard lists it, worst first."""

    scoped_relations = {"squad": "pk", "product": "squad"}
    list_display = ("title", "product", "squad", "severity", "estimated_effort_days", "status", "updated_at")
    list_filter = ("status", "severity", "squad")
    search_fields = ("title", "description", "product__name", "product__slug")
    list_select_related = ("product", "squad")
    fields = (
        "squad",
        "product",
        "title",
        "description",
        "severity",
        "estimated_effort_days",
        "status",
        "created_by",
        "created_at",
        "updated_at",
        "resolved_at",
    )
    readonly_fields = ("created_by", "created_at", "updated_at", "resolved_at")

    def save_model(self, request: HttpRequest, obj: DebtItem, form: ModelForm, change: bool) -> None:
        debt_item_save(item=obj, actor=signed_in_user(request))
