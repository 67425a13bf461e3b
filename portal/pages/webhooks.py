"""Portal pages where people manage webhooks and read their delivery log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from portal.integrations.models import WebhookSubscription
from portal.integrations.webhooks.selectors import (
    deliveries_of,
    webhooks_visible_to,
    webhooks_with_health,
)
from portal.integrations.webhooks.subscriptions import (
    WebhookError,
    WebhookNotAllowed,
    WebhookRateLimited,
    webhook_delete,
    webhook_ping,
    webhook_redeliver,
    webhook_rotate_secret,
    webhook_subscribe,
    webhook_update,
)
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.web.confirm import ask_first, confirmed, id_from_text
from portal.web.reveal import reveal_next, revealed
from portal.web.wording import status_change_text
from squads.selectors import squads_of

MINE = "mine"
LOG_LENGTH = 50


class WebhookForm(forms.Form):
    # No max_length: the browser would cut a pasted URL without a word (and
    # leave a different, still valid-looking URL); the service says why.
    url = forms.CharField(
        label="Receiver URL",
        help_text="Where Squadron POSTs the events (https://…).",
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "url", "spellcheck": "false"}),
    )
    description = forms.CharField(
        required=False, help_text="What receives them, for whoever reads this list."
    )
    owner = forms.ChoiceField(label="Events of", choices=[])
    required_names = frozenset({"url", "owner"})

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.squads = {squad.slug: squad for squad in squads_of(user).order_by("name")}
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [(MINE, "My own orders")] + [
            (slug, f"Every order of {squad.name}") for slug, squad in self.squads.items()
        ]


def _visible_or_404(request: AuthenticatedHttpRequest, webhook_id: int) -> WebhookSubscription:
    subscription = webhooks_visible_to(request.user).filter(pk=webhook_id).first()
    if subscription is None:
        raise Http404("No such webhook.")
    return subscription


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Your webhooks and your squads', and a form for a new one; a new one's
    secret is shown once, on its page, which the form redirects to."""
    form = WebhookForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        owner = form.cleaned_data["owner"]
        try:
            created, secret = webhook_subscribe(
                actor=request.user,
                url=form.cleaned_data["url"].strip(),
                description=form.cleaned_data["description"],
                squad=None if owner == MINE else form.squads[owner],
            )
        except WebhookError as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            reveal_next(request, "webhook", created.pk, secret)
            messages.success(request, "Webhook added: copy its signing secret below.")
            return redirect("webhook-detail", webhook_id=created.pk)
    return render(
        request,
        "portal/webhooks/list.html",
        {
            "form": form,
            "webhooks": webhooks_with_health(webhooks_visible_to(request.user)),
            "webhooks_per_user": settings.SQUADRON_WEBHOOKS_PER_USER,
            "pings_per_minute": settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE,
        },
        status=400 if form.errors else 200,
    )


class WebhookEditForm(forms.Form):
    url = WebhookForm.base_fields["url"]
    description = WebhookForm.base_fields["description"]
    required_names = frozenset({"url"})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request: AuthenticatedHttpRequest, webhook_id: int) -> HttpResponse:
    """A webhook's settings, its delivery log and its commands; a POST changes
    its URL or description (its secret and log stay)."""
    subscription = _visible_or_404(request, webhook_id)
    initial = {"url": subscription.url, "description": subscription.description}
    form = WebhookEditForm(request.POST or None, initial=initial, prefix="edit")
    if request.method == "POST" and form.is_valid():
        try:
            webhook_update(
                subscription=subscription,
                actor=request.user,
                url=form.cleaned_data["url"].strip(),
                description=form.cleaned_data["description"],
            )
        except WebhookError as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        except WebhookNotAllowed as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Webhook changed: the next events go to its new address.")
            return redirect("webhook-detail", webhook_id=subscription.pk)
        subscription.refresh_from_db()
    kept = revealed(request, "webhook", subscription.pk) if request.method == "GET" else None
    deliveries = [
        (delivery, status_change_text(delivery)) for delivery in deliveries_of(subscription)[:LOG_LENGTH]
    ]
    return render(
        request,
        "portal/webhooks/detail.html",
        {
            "webhook": subscription,
            "deliveries": deliveries,
            "log_length": LOG_LENGTH,
            "secret": kept[1] if kept else None,
            "form": form,
        },
        status=400 if form.errors else 200,
    )


#: What asks for a confirmation first: (question, consequence, button).
CONFIRM = {
    "rotate": (
        "Replace the signing secret of the webhook to {url}?",
        "The current secret stops working at once: until your receiver has the new one, it refuses "
        "every delivery (they are retried for a while). The new secret is shown once.",
        "Replace the secret",
    ),
    "delete": (
        "Delete the webhook to {url}?",
        "No more events are sent to it and its delivery log is deleted with it. This cannot be undone.",
        "Delete the webhook",
    ),
}


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_command(request: AuthenticatedHttpRequest, webhook_id: int, command: str) -> HttpResponse:
    """Ping, pause, resume, redeliver, rotate the secret or delete (the last
    two ask first); every refusal is a 404 (the webhook is not one of yours
    or your squads'). A GET (a reload, a bookmark) lands on the webhook."""
    subscription = _visible_or_404(request, webhook_id)
    if command not in {"ping", "pause", "resume", "redeliver", *CONFIRM}:
        raise Http404("No such command.")
    if request.method == "GET":
        return redirect("webhook-detail", webhook_id=subscription.pk)
    if command in CONFIRM and not confirmed(request):
        question, consequence, button = CONFIRM[command]
        return ask_first(
            request,
            section="webhooks",
            title=question.format(url=subscription.url),
            consequence=consequence,
            button=button,
            action=reverse("webhook-command", args=[subscription.pk, command]),
            cancel=reverse("webhook-detail", args=[subscription.pk]),
        )
    try:
        if command == "ping":
            webhook_ping(subscription=subscription, actor=request.user)
            messages.success(request, "A test event is on its way; its delivery appears below.")
        elif command in ("pause", "resume"):
            webhook_update(subscription=subscription, actor=request.user, is_active=command == "resume")
            messages.success(
                request,
                "Deliveries resumed: the next order change is sent."
                if command == "resume"
                else "Deliveries paused: order changes from now on are not sent, even after you resume.",
            )
        elif command == "redeliver":
            delivery_id = id_from_text(request.POST.get("delivery", ""))
            delivery = deliveries_of(subscription).filter(pk=delivery_id).first() if delivery_id else None
            if delivery is None:
                raise Http404("No such delivery.")
            webhook_redeliver(delivery=delivery, actor=request.user)
            messages.success(request, "The event is sent again as a new delivery; it appears below.")
        elif command == "rotate":
            secret = webhook_rotate_secret(subscription=subscription, actor=request.user)
            reveal_next(request, "webhook", subscription.pk, secret)
            messages.success(request, "Signing secret replaced: the old one no longer verifies.")
        else:
            webhook_delete(subscription=subscription, actor=request.user)
            messages.success(request, f"Webhook to {subscription.url} deleted.")
            return redirect("webhook-list")
    except WebhookError as error:
        messages.error(
            request, " ".join(problem for problems in error.errors.values() for problem in problems)
        )
    except (WebhookNotAllowed, WebhookRateLimited) as error:
        # A rate limit's message says when to try again; nothing was sent.
        messages.error(request, str(error))
    return redirect("webhook-detail", webhook_id=subscription.pk)
