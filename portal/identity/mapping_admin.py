"""Group mappings and the record of what they granted, in the admin: for
platform leads and superusers (``portal.identity.permissions``), whatever
Django's model permissions say. A mapping is checked by the model (exactly
one of a squad with a role, a chapter, a business unit; only existing ones
can be chosen) before it is saved; the record is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest

from portal.identity.mapping import group_mapping_save
from portal.identity.models import GroupMapping, MembershipChange
from portal.identity.permissions import can_curate_group_mappings


class _CuratedByPlatformLeads:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_curate_group_mappings(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_curate_group_mappings(request.user)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return can_curate_group_mappings(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_curate_group_mappings(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_curate_group_mappings(request.user)


@admin.register(GroupMapping)
class GroupMappingAdmin(_CuratedByPlatformLeads, admin.ModelAdmin):
    list_display = ("group", "squad", "role", "chapter", "business_unit", "updated_at")
    list_filter = ("squad", "chapter", "business_unit")
    search_fields = ("group",)
    list_select_related = ("squad", "chapter", "business_unit")
    fields = ("group", "squad", "role", "chapter", "business_unit")

    def save_model(self, request: HttpRequest, obj: GroupMapping, form: ModelForm, change: bool) -> None:
        group_mapping_save(
            mapping=obj,
            group=obj.group,
            role=obj.role,
            squad=obj.squad,
            chapter=obj.chapter,
            business_unit=obj.business_unit,
        )


@admin.register(MembershipChange)
class MembershipChangeAdmin(_CuratedByPlatformLeads, admin.ModelAdmin):
    """What mappings granted, changed and withdrew at logins: read-only."""

    list_display = ("at", "username", "action", "kind", "target", "role", "source", "groups")
    list_filter = ("action", "kind", "source")
    search_fields = ("username", "target", "groups")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
