"""Webhook subscriptions: create, change, pause, delete, rotate the secret,
and the events sent by hand (pings, redeliveries).

One person has at most ``SQUADRON_WEBHOOKS_PER_USER`` webhooks and sends at
most ``SQUADRON_WEBHOOK_PINGS_PER_MINUTE`` events by hand a minute: each can
hold the webhooks' worker for a timeout.
"""

from __future__ import annotations

import logging
import math
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks.delivery import (
    EVENT_PING,
    create_deliveries,
    enqueue,
    generate_secret,
    iso,
    secret_problem,
)
from portal.integrations.webhooks.ssrf import url_problem
from runbooks.crypto import encrypt_json
from squads.audit import record, secret_changed
from squads.models import Squad
from squads.selectors import AnyUser, can_curate

logger = logging.getLogger(__name__)


class WebhookError(Exception):
    """A refused change to a subscription; ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(message for messages in errors.values() for message in messages))
        self.errors = errors


class WebhookNotAllowed(Exception):
    """The actor may not manage this subscription."""


class WebhookRateLimited(Exception):
    """Too many events sent by hand (pings, redeliveries) this minute: try
    again in ``retry_after`` seconds. Nothing was sent."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def can_manage(user: AnyUser, subscription: WebhookSubscription) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if subscription.user_id is not None:
        return subscription.user_id == user.pk or bool(user.is_superuser)
    return can_curate(user, subscription.squad_id)


def webhook_subscribe(
    *,
    actor: User,
    url: str,
    description: str = "",
    squad: Squad | None = None,
    secret: str | None = None,
) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` to the actor's own orders, or to every order of
    ``squad`` (members only). Returns the subscription and its secret, which
    is shown this once."""
    errors: dict[str, list[str]] = {}
    problem = url_problem(url)
    if problem:
        errors["url"] = [problem]
    if squad is not None and not can_curate(actor, squad.pk):
        errors["squad"] = [f"Only members of {squad.name} subscribe to its orders."]
    if secret is not None and (problem := secret_problem(secret)):
        errors["secret"] = [f"{problem} Or leave it out to have one generated."]
    if len(description) > 200:
        errors["description"] = ["A description has at most 200 characters."]
    if errors:
        raise WebhookError(errors)
    secret = secret or generate_secret()
    with transaction.atomic():
        # The actor's row is locked first, so two requests at once cannot
        # both take the last place under the cap.
        list(get_user_model().objects.select_for_update().filter(pk=actor.pk).values_list("pk"))
        if too_many := _webhook_cap_reached(actor):
            raise WebhookError({"non_field_errors": [too_many]})
        if taken := _receiver_taken(url, user=None if squad else actor, squad=squad):
            raise WebhookError({"url": [taken]})
        subscription = WebhookSubscription.objects.create(
            user=None if squad else actor,
            squad=squad,
            url=url,
            description=description.strip(),
            secret_ciphertext=encrypt_json(secret),
            created_by=actor,
        )
    logger.info("webhook %s subscribed by %s for %s", subscription.pk, actor, squad or "own orders")
    return subscription, secret


def _webhook_cap_reached(actor: User) -> str | None:
    """Why ``actor`` may add no more webhooks: every one a person owns or
    added for a squad counts (``SQUADRON_WEBHOOKS_PER_USER``), as each
    multiplies the deliveries one order change sends."""
    limit = settings.SQUADRON_WEBHOOKS_PER_USER
    held = WebhookSubscription.objects.filter(Q(user=actor) | Q(created_by=actor)).count()
    if held < limit:
        return None
    return (
        f"You have {held} webhooks and one person may have at most {limit}: "
        "delete one you no longer need to add another."
    )


def _count_sent_by_hand(*, actor: User) -> None:
    """Count one event sent by hand (a ping or a redelivery) by ``actor``,
    or refuse it past ``SQUADRON_WEBHOOK_PINGS_PER_MINUTE`` in this minute.

    Each of them can hold the webhooks' worker for the receiver's whole
    timeout. The count lives in Django's cache (an integer, which the JSON
    cache stores and Redis increments atomically): ``add`` then ``incr`` are
    atomic in every backend, so concurrent requests cannot both take the
    last place. Shared by every web process once ``CACHE_URL`` is set."""
    limit = settings.SQUADRON_WEBHOOK_PINGS_PER_MINUTE
    now = time.time()
    minute = int(now // 60)
    key = f"webhooks:hand-sent:{actor.pk}:{minute}"
    sent = 0
    for _ in range(2):  # the key may expire between add and incr: once more
        cache.add(key, 0, timeout=120)
        try:
            sent = cache.incr(key)
            break
        except ValueError:
            continue
    if sent <= limit:
        return
    retry_after = max(1, math.ceil((minute + 1) * 60 - now))
    raise WebhookRateLimited(
        f"You have sent {limit} events by hand this minute (test events and redeliveries), "
        f"the most one person may: try again in {retry_after} second{'s' if retry_after != 1 else ''}.",
        retry_after=retry_after,
    )


def _receiver_taken(
    url: str, *, user: User | None, squad: Squad | None, other_than: int | None = None
) -> str | None:
    """Why ``url`` cannot receive these events again: a subscription of the
    same owner already sends them there (each would arrive twice)."""
    same = WebhookSubscription.objects.filter(url=url, user=user, squad=squad)
    if other_than is not None:
        same = same.exclude(pk=other_than)
    first = same.order_by("pk").values_list("pk", flat=True).first()
    if first is None:
        return None
    return f"This URL already receives these events (webhook #{first}); every event would arrive twice."


def webhook_update(
    *,
    subscription: WebhookSubscription,
    actor: User,
    url: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookSubscription:
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot change this webhook.")
    errors: dict[str, list[str]] = {}
    if url is not None and (problem := url_problem(url)):
        errors["url"] = [problem]
    elif url is not None and (
        taken := _receiver_taken(
            url, user=subscription.user, squad=subscription.squad, other_than=subscription.pk
        )
    ):
        errors["url"] = [taken]
    if description is not None and len(description) > 200:
        errors["description"] = ["A description has at most 200 characters."]
    if errors:
        raise WebhookError(errors)
    if url is not None:
        subscription.url = url
    if description is not None:
        subscription.description = description.strip()
    if is_active is not None:
        subscription.is_active = is_active
    subscription.save()
    return subscription


def webhook_rotate_secret(*, subscription: WebhookSubscription, actor: User) -> str:
    """A new secret from now on (pending retries are signed with it too)."""
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot change this webhook.")
    secret = generate_secret()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        secret_ciphertext=encrypt_json(secret), updated_at=timezone.now()
    )
    record(action="changed", target=subscription, changes=secret_changed("secret"))
    return secret


def webhook_delete(*, subscription: WebhookSubscription, actor: User) -> None:
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot delete this webhook.")
    subscription.delete()


def webhook_ping(*, subscription: WebhookSubscription, actor: User) -> WebhookDelivery:
    """Send a ``ping`` event now, so the owner can check their receiver."""
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot test this webhook.")
    if not subscription.is_active:
        raise WebhookError({"is_active": ["The webhook is paused: resume it to send a test event."]})
    _count_sent_by_hand(actor=actor)
    payload = {"event": EVENT_PING, "event_id": str(uuid.uuid4()), "occurred_at": iso(timezone.now())}
    (delivery,) = create_deliveries([subscription], payload, order_id=None)
    transaction.on_commit(lambda: enqueue(delivery.pk))
    return delivery


def webhook_redeliver(*, delivery: WebhookDelivery, actor: User) -> WebhookDelivery:
    """Send the same event again as a new delivery (a new id, the same body)."""
    if not can_manage(actor, delivery.subscription):
        raise WebhookNotAllowed("You cannot redeliver this event.")
    _count_sent_by_hand(actor=actor)
    copy = WebhookDelivery.objects.create(
        subscription=delivery.subscription,
        delivery_id=uuid.uuid4(),
        event=delivery.event,
        order_id=delivery.order_id,
        body=delivery.body,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue(copy.pk))
    return copy
