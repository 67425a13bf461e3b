"""Portal pages where people manage their own API tokens."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from portal.integrations.tokens import MAX_NAME_LENGTH, TokenError, token_create, token_revoke, tokens_of
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.web.confirm import ask_first, confirmed
from portal.web.reveal import reveal_next, revealed

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    # No max_length: the browser would cut a pasted name without a word; the
    # service refuses a long one and says so.
    name = forms.CharField(
        help_text=f"What uses it, e.g. “CMDB sync”, so you can tell your tokens apart "
        f"(at most {MAX_NAME_LENGTH} characters).",
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False, label="Expires"
    )
    required_names = frozenset({"name"})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's tokens and a form for a new one. A new token's key is shown
    once, on the page the form redirects to (a reload creates nothing)."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"].strip()
        days = form.cleaned_data["expires_in_days"]
        if tokens_of(request.user).filter(name=name).exists():
            form.add_error("name", f"You already have a token named “{name}”: give this one another name.")
        else:
            try:
                issued = token_create(
                    user=request.user, name=name, expires_in=timedelta(days=days) if days else None
                )
            except TokenError as error:
                form.add_error("name", str(error))
            else:
                reveal_next(request, "token", issued.token.pk, issued.key)
                return redirect("token-list")
    tokens = tokens_of(request.user)
    issued_token = issued_key = None
    if request.method == "GET" and (kept := revealed(request, "token")):
        issued_token = next((token for token in tokens if token.pk == kept[0]), None)
        issued_key = kept[1] if issued_token else None
    return render(
        request,
        "portal/tokens/list.html",
        {
            "form": form,
            "issued_token": issued_token,
            "issued_key": issued_key,
            "tokens": tokens,
            "now": timezone.now(),
        },
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    """Revoking asks first: an integration that uses the token stops at once."""
    token = tokens_of(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    if not confirmed(request):
        return ask_first(
            request,
            section="tokens",
            title=f"Revoke the token “{token.name}”?",
            consequence=f"Whatever uses it ({token.prefix}…) is refused from the next request on. "
            "A revoked token cannot be restored; you can create a new one.",
            button="Revoke the token",
            action=reverse("token-revoke", args=[token.pk]),
            cancel=reverse("token-list"),
        )
    token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked; it no longer works.")
    return redirect("token-list")
