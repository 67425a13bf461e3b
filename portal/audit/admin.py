"""The audit trail in the admin: read-only, for platform leads and
superusers. Nothing can be added, changed or deleted here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from portal.audit.models import AuditEntry
from portal.audit.selectors import can_read_audit


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "via", "address", "action", "object_type", "object_repr")
    list_filter = ("action", "via", "object_type")
    search_fields = ("actor", "object_repr", "note", "address")
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
    actions = None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_read_audit(request.user)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return can_read_audit(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
