"""The person's own account page: their two-step login (enrol an
authenticator app, new recovery codes, turn it off)."""

from __future__ import annotations

import segno
from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from portal.identity.selectors import (
    recovery_codes_left,
    totp_device_of,
    two_step_required_for,
)
from portal.identity.services import (
    TwoStepError,
    recovery_codes_renew,
    totp_enrol,
    totp_key_base32,
    totp_key_new,
    totp_setup_url,
    two_step_disable,
)
from portal.identity.session import enrolment_key, enrolment_key_clear, mark_two_step_verified
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.resume import post_only
from portal.web.reveal import reveal_next, revealed


class CurrentCodeForm(forms.Form):
    code = forms.CharField(
        label="Current code",
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    required_names = frozenset({"code"})


class EnrolForm(CurrentCodeForm):
    code = forms.CharField(
        label="Code from the app",
        max_length=40,
        help_text="The 6 digits the app shows for Squadron once it has read the QR code.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


def qr_data_uri(url: str) -> str:
    """The QR code of ``url`` as an SVG ``data:`` URI, drawn here: no script
    draws it in the browser and no other site sees the secret."""
    return str(segno.make(url, error="m").svg_data_uri(scale=5, border=4, dark="#111827", light="#ffffff"))


@never_cache
@login_required
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def account_security(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Two-step login: how it stands, and enrolment while it is off. The
    recovery codes of a new enrolment are shown once, on the page the form
    redirects to."""
    user = request.user
    device = totp_device_of(user)
    context: dict[str, object] = {"required": two_step_required_for(user), "device": device}
    if request.method == "GET" and (kept := revealed(request, "recovery-codes", user.pk)):
        context["recovery_codes"] = kept[1].split()
    if device is not None:
        context.update(
            codes_left=recovery_codes_left(user),
            renew_form=CurrentCodeForm(prefix="renew"),
            disable_form=CurrentCodeForm(prefix="disable"),
        )
        return render(request, "portal/account/security.html", context)
    key = enrolment_key(request, new=totp_key_new())
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = totp_enrol(user=user, key=key, code=form.cleaned_data["code"])
        except TwoStepError as error:
            form.add_error("code", str(error))
        else:
            enrolment_key_clear(request)
            # This session gave the code: it counts as a two-step login.
            mark_two_step_verified(request, enrolment.device)
            reveal_next(request, "recovery-codes", user.pk, " ".join(enrolment.recovery_codes))
            messages.success(
                request, "Two-step login is on: from now on, logging in asks for a code from the app."
            )
            return redirect("account-security")
    context.update(
        form=form,
        qr=qr_data_uri(totp_setup_url(user=user, key=key)),
        manual_key=totp_key_base32(key),
    )
    return render(request, "portal/account/security.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@sensitive_post_parameters("renew-code")
@post_only(lambda request: reverse("account-security"))
def recovery_codes_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """New recovery codes, once a current code proves it is the person."""
    form = CurrentCodeForm(request.POST, prefix="renew")
    if form.is_valid():
        try:
            codes = recovery_codes_renew(user=request.user, code=form.cleaned_data["code"])
        except TwoStepError as error:
            form.add_error("code", str(error))
        else:
            reveal_next(request, "recovery-codes", request.user.pk, " ".join(codes))
            messages.success(request, "New recovery codes: the old ones no longer work.")
            return redirect("account-security")
    return _refused(request, renew_form=form)


@never_cache
@login_required
@sensitive_post_parameters("disable-code")
@post_only(lambda request: reverse("account-security"))
def two_step_off(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Turning two-step login off takes a current code too."""
    form = CurrentCodeForm(request.POST, prefix="disable")
    if form.is_valid():
        try:
            two_step_disable(user=request.user, code=form.cleaned_data["code"])
        except TwoStepError as error:
            form.add_error("code", str(error))
        else:
            messages.success(request, "Two-step login is off: logging in asks only for your password.")
            return redirect("account-security")
    return _refused(request, disable_form=form)


def _refused(request: AuthenticatedHttpRequest, **forms_shown: CurrentCodeForm) -> HttpResponse:
    user = request.user
    device = totp_device_of(user)
    if device is None:
        return redirect("account-security")
    context: dict[str, object] = {
        "required": two_step_required_for(user),
        "device": device,
        "codes_left": recovery_codes_left(user),
        "renew_form": CurrentCodeForm(prefix="renew"),
        "disable_form": CurrentCodeForm(prefix="disable"),
        **forms_shown,
    }
    return render(request, "portal/account/security.html", context, status=400)
