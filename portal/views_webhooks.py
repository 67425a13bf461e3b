"""Portal pages where people manage webhooks and read their delivery log."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.models import WebhookSubscription
from portal.webhooks import (
    MAX_URL_LENGTH,
    WebhookError,
    deliveries_of,
    webhook_delete,
    webhook_ping,
    webhook_rotate_secret,
    webhook_subscribe,
    webhook_update,
    webhooks_visible_to,
)
from squads.selectors import squads_of

MINE = "mine"
LOG_LENGTH = 50


class WebhookForm(forms.Form):
    url = forms.CharField(
        max_length=MAX_URL_LENGTH,
        label="Receiver URL",
        help_text="Where Squadron POSTs the events (https://…).",
    )
    description = forms.CharField(max_length=200, required=False)
    owner = forms.ChoiceField(label="Events of", choices=[])

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.squads = {squad.slug: squad for squad in squads_of(user).order_by("name")}
        self.fields["owner"].choices = [(MINE, "My own orders")] + [
            (slug, f"Every order of {squad.name}") for slug, squad in self.squads.items()
        ]


def _visible_or_404(request: HttpRequest, webhook_id: int) -> WebhookSubscription:
    subscription = webhooks_visible_to(request.user).filter(pk=webhook_id).first()
    if subscription is None:
        raise Http404("No such webhook.")
    return subscription


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None, user=request.user)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        owner = form.cleaned_data["owner"]
        try:
            created, secret = webhook_subscribe(
                actor=request.user,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                squad=None if owner == MINE else form.squads[owner],
            )
        except WebhookError as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            form = WebhookForm(user=request.user)
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "portal/webhooks/list.html",
        {
            "form": form,
            "created": created,
            "secret": secret,
            "webhooks": webhooks_visible_to(request.user).order_by("-created_at", "-id"),
        },
        status=status,
    )


@never_cache
@login_required
def webhook_detail(request: HttpRequest, webhook_id: int) -> HttpResponse:
    subscription = _visible_or_404(request, webhook_id)
    deliveries = deliveries_of(subscription).select_related("order")[:LOG_LENGTH]
    return render(
        request,
        "portal/webhooks/detail.html",
        {"webhook": subscription, "deliveries": deliveries, "log_length": LOG_LENGTH},
    )


@login_required
@require_POST
def webhook_command(request: HttpRequest, webhook_id: int, command: str) -> HttpResponse:
    """Ping, pause, resume, rotate the secret or delete; every refusal is a 404
    (the webhook is not one of yours or your squads')."""
    subscription = _visible_or_404(request, webhook_id)
    if command == "ping":
        webhook_ping(subscription=subscription, actor=request.user)
        messages.success(request, "A test event is on its way; its delivery appears below.")
    elif command in ("pause", "resume"):
        webhook_update(subscription=subscription, actor=request.user, is_active=command == "resume")
        messages.success(request, "Deliveries resumed." if command == "resume" else "Deliveries paused.")
    elif command == "rotate":
        secret = webhook_rotate_secret(subscription=subscription, actor=request.user)
        subscription.refresh_from_db()
        return render(
            request,
            "portal/webhooks/detail.html",
            {
                "webhook": subscription,
                "deliveries": deliveries_of(subscription).select_related("order")[:LOG_LENGTH],
                "log_length": LOG_LENGTH,
                "secret": secret,
            },
        )
    elif command == "delete":
        webhook_delete(subscription=subscription, actor=request.user)
        messages.success(request, f"Webhook to {subscription.url} deleted.")
        return redirect("webhook-list")
    else:
        raise Http404("No such command.")
    return redirect("webhook-detail", webhook_id=subscription.pk)
