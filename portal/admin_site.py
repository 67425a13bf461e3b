"""The admin site where squads curate what they own.

Django's admin admits only ``is_staff`` users and checks model permissions.
Squadron's rule is ownership instead: every active squad member may enter and
curate *their squads'* products, runbooks and credentials; each ModelAdmin
narrows what they see and may change (see ``squads.admin_mixins``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import User
from django.http import HttpRequest

from squads.selectors import AnyUser, is_any_squad_member


def may_curate(user: AnyUser) -> bool:
    return bool(user.is_active and (user.is_staff or user.is_superuser or is_any_squad_member(user)))


class CuratorAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, admitting whoever may curate: Django's own
    admits staff only, so squad members (who are not staff) could not log in
    on the admin's login page although the admin lets them in."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct username and password. Both fields may be case-sensitive.",
        "not_a_curator": "This account is in no squad: the admin is for squads curating their products.",
    }

    def confirm_login_allowed(self, user: User) -> None:
        if not user.is_active:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")
        if not may_curate(user):
            raise forms.ValidationError(self.error_messages["not_a_curator"], code="not_a_curator")


class SquadronAdminSite(admin.AdminSite):
    site_header = "Squadron administration"
    site_title = "Squadron admin"
    index_title = "Curate your squad's products and runbooks"
    login_form = CuratorAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_curate(request.user)
