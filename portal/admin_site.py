"""The admin site where squads curate what they own.

Django's admin admits only ``is_staff`` users and checks model permissions.
Squadron's rule is ownership instead: every active squad member may enter and
curate *their squads'* products, runbooks and credentials; each ModelAdmin
narrows what they see and may change (see ``squads.admin_mixins``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

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

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # Imported here: the admin site is built before the apps are ready.
        from portal.pages.form_preview import form_preview

        designer = [
            path(
                "catalogue/form-preview/",
                self.admin_view(form_preview),
                name="catalogue_form_preview",
            )
        ]
        return designer + super().get_urls()

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's admin login, run by the portal's login view: the same
        throttle, and a two-step login asks for its code here too (on the
        portal's code page, which then comes back to the admin)."""
        # Imported here: the admin site is built before the apps are ready.
        from portal.pages.login import LoginView

        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context: dict[str, Any] = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        view = LoginView.as_view(
            extra_context=context,
            authentication_form=self.login_form,
            template_name=self.login_template or "admin/login.html",
            # The admin's own rule: a logged-in person who may not curate
            # sees the form (to log in as someone else), not a redirect loop.
            redirect_authenticated_user=False,
        )
        response = view(request)
        assert isinstance(response, HttpResponse)  # a page or a redirect, never streamed
        return response
