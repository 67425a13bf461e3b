"""Logging in: the password, then (for whoever has a two-step login) the
code, and the page that says when a locked-out login may try again.

The admin's login page runs the same view (``portal.admin_site``), so one
throttle and one two-step login guard both doors.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from portal.identity.directory import directory_trouble
from portal.identity.oidc_config import oidc_config
from portal.identity.selectors import has_two_step_login
from portal.identity.services import TwoStepError, two_step_verify
from portal.identity.session import login_pending, login_pending_finish, login_pending_start
from portal.identity.throttling import lockout_ends_at, login_allowed, login_failed


class LoginView(auth_views.LoginView):
    """Django's login view, except that a person with a two-step login is not
    logged in by the password: they are sent on to give their code."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # "Sign in with ..." only when single sign-on is set up.
        return {**super().get_context_data(**kwargs), "single_sign_on": oidc_config()}

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if has_two_step_login(user):
            login_pending_start(self.request, user=user, next_url=self.get_success_url())
            return redirect("login-code")
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        trouble = directory_trouble(self.request)
        if trouble is None:
            return super().form_invalid(form)
        # Not "wrong password": the directory never said so (the admin's
        # login page shows the form's errors, the portal's this one).
        form.errors[NON_FIELD_ERRORS] = form.error_class([trouble], error_class="nonfield")
        return self.render_to_response(self.get_context_data(form=form, directory_trouble=trouble))


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        help_text="The 6 digits your authenticator app shows for Squadron, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )
    required_names = frozenset({"code"})


@never_cache
@csrf_protect
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: the code of whoever gave their password in this
    session. A wrong code counts as a failed login, like a wrong password."""
    pending = login_pending(request)
    if pending is None:
        return redirect("login")
    username = pending.user.get_username()
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if not login_allowed(request, username=username):
            return locked_out(request, None, {"username": username})
        if form.is_valid():
            try:
                device = two_step_verify(user=pending.user, code=form.cleaned_data["code"])
            except TwoStepError as error:
                form.add_error("code", str(error))
                # May lock the account out: axes' middleware then answers
                # with the lock-out page instead of this one.
                login_failed(request, username=username)
            else:
                login_pending_finish(request, pending=pending, device=device)
                return redirect(pending.next_url or "home")
    return render(
        request,
        "registration/login_code.html",
        {"form": form, "username": username},
        status=400 if form.errors else 200,
    )


def locked_out(request: HttpRequest, response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """The answer to a login refused by a lock-out (axes' ``AXES_LOCKOUT_CALLABLE``):
    the portal's page, saying when the next try will be checked."""
    ends = lockout_ends_at(request, credentials)
    seconds = max(1, math.ceil((ends - timezone.now()).total_seconds()))
    context: dict[str, Any] = {"retry_at": ends, "minutes": math.ceil(seconds / 60)}
    reply = render(request, "registration/locked_out.html", context, status=429)
    reply["Retry-After"] = str(seconds)
    return reply
