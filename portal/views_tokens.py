"""Portal pages where people manage their own API tokens."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.tokens import MAX_NAME_LENGTH, TokenError, token_create, token_revoke, tokens_of

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=MAX_NAME_LENGTH,
        help_text="What uses it, e.g. “CMDB sync”, so you can tell your tokens apart.",
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False, label="Expires"
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's tokens and a form for a new one. A new key is rendered in
    this very response and never again: it is not kept anywhere."""
    form = TokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            issued = token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_in=timedelta(days=days) if days else None,
            )
        except TokenError as error:
            form.add_error("name", str(error))
        else:
            form = TokenForm()
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "portal/tokens/list.html",
        {"form": form, "issued": issued, "tokens": tokens_of(request.user), "now": timezone.now()},
        status=status,
    )


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = tokens_of(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked; it no longer works.")
    return redirect("token-list")
