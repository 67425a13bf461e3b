"""Instances in the admin, read-mostly: their state moves only with the
orders against them and their owner only with an accepted transfer, so the
admin shows them (their history, their transfers) and lets nothing change
but the name."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from portal.instances.models import InstanceDependency, InstanceEvent, InstanceTransfer, ServiceInstance
from squads.admin_mixins import SquadOwnedAdmin


class InstanceEventInline(admin.TabularInline):
    model = InstanceEvent
    extra = 0
    fields = ("created_at", "from_state", "to_state", "order", "actor", "message")
    readonly_fields = fields
    ordering = ("created_at", "id")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class InstanceDependencyInline(admin.TabularInline):
    """What the instance depends on, as its runbooks reported it (they alone
    change it)."""

    model = InstanceDependency
    fk_name = "instance"
    extra = 0
    fields = ("depends_on", "source", "created_at")
    readonly_fields = fields
    can_delete = False
    verbose_name = "dependency"
    verbose_name_plural = "what it depends on"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class InstanceTransferInline(admin.TabularInline):
    """Every offer of the instance to someone else and what became of it
    (decided in the portal or the API, never here)."""

    model = InstanceTransfer
    extra = 0
    fields = ("created_at", "from_user", "to_user", "state", "decided_at", "note")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    can_delete = False
    verbose_name = "transfer"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ServiceInstance)
class ServiceInstanceAdmin(SquadOwnedAdmin, admin.ModelAdmin):
    """The instances of a squad's products, for its members (superusers: all)."""

    squad_lookup = "product__squad"
    list_display = ("name", "product", "owner", "state", "expires_at", "created_at")
    list_filter = ("state", ("product", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("product", "owner")
    search_fields = ("name", "product__name", "owner__username")
    fields = (
        "name",
        "product",
        "owner",
        "state",
        "busy_with",
        "attributes",
        "links",
        "expires_at",
        "created_by_order",
        "created_at",
        "updated_at",
        "decommissioned_at",
    )
    readonly_fields = tuple(name for name in fields if name != "name")
    inlines = (InstanceDependencyInline, InstanceTransferInline, InstanceEventInline)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # an instance is made by its order

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
