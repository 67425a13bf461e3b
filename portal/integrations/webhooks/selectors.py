"""Reads of webhooks: which a person sees, how each fares, its deliveries."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from portal.integrations.models import WebhookDelivery, WebhookSubscription
from squads.selectors import AnyUser, squad_ids_of


def webhooks_visible_to(user: AnyUser) -> QuerySet[WebhookSubscription]:
    """Your own subscriptions and your squads'; a superuser sees all."""
    if not user.is_authenticated or not user.is_active:
        return WebhookSubscription.objects.none()
    subscriptions = WebhookSubscription.objects.select_related("squad", "user", "created_by")
    if user.is_superuser:
        return subscriptions
    return subscriptions.filter(Q(user=user) | Q(squad_id__in=squad_ids_of(user)))


def webhooks_with_health(subscriptions: QuerySet[WebhookSubscription]) -> QuerySet[WebhookSubscription]:
    """Newest first, each with how its latest delivery went (``last_status``,
    ``last_event_at``), so a failing receiver stands out in a list."""
    latest = WebhookDelivery.objects.filter(subscription=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        subscriptions.select_related("squad", "user")
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_event_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("-created_at", "-id")
    )


def deliveries_of(subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subscription=subscription).order_by("-created_at", "-id")
