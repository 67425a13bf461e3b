"""The admin site where squads curate what they own.

Django's admin admits only ``is_staff`` users and checks model permissions.
Squadron's rule is ownership instead: every active squad member may enter and
curate *their squads'* products, runbooks and credentials; each ModelAdmin
narrows what they see and may change (see ``squads.admin_mixins``).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from squads.selectors import is_any_squad_member


class SquadronAdminSite(admin.AdminSite):
    site_header = "Squadron administration"
    site_title = "Squadron admin"
    index_title = "Curate your squad's products and runbooks"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_active:
            return False
        return bool(user.is_staff or user.is_superuser or is_any_squad_member(user))
