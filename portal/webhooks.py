"""Webhooks: signed HTTP POSTs to a subscriber's URL when an order changes status.

- ``webhooks_order_changed`` is called by every status transition in
  ``portal.services``; after the transaction commits it stores one delivery
  per matching subscription and hands each to a Celery worker on the
  webhooks' own queue (``SQUADRON_WEBHOOK_QUEUE``, routed in settings), so
  a receiver that hangs holds up only that worker, never a playbook. The
  request or run that moved the order never waits for a receiver: with no
  subscription the cost is one indexed query, and a broker that is down
  leaves deliveries pending for the sweep.
- ``webhook_deliver`` (the worker) POSTs the stored body, signed with
  HMAC-SHA256 under the subscription's secret, records the attempt (status
  code, error) for the owner, and schedules a retry with exponential backoff
  until ``SQUADRON_WEBHOOK_MAX_ATTEMPTS``.
- Receivers on private or loopback addresses are refused unless
  ``SQUADRON_WEBHOOK_ALLOW_PRIVATE`` is on, link-local ones (a cloud's
  metadata service) always (SSRF), and so is an IPv6 address that carries
  such an IPv4 address (IPv4-mapped, -compatible or -translated, NAT64,
  6to4, Teredo): the IPv4 address is where the packet ends up. The address
  is checked when the request is sent and the connection goes to that very
  address, so a DNS answer that changes between check and use cannot bypass
  the check.
- One person has at most ``SQUADRON_WEBHOOKS_PER_USER`` webhooks and sends at
  most ``SQUADRON_WEBHOOK_PINGS_PER_MINUTE`` events by hand (pings,
  redeliveries) a minute: each can hold the webhooks' worker for a timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import math
import secrets
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from portal.celery import send_or_leave_for_sweep
from portal.models import WebhookDelivery, WebhookSubscription
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from runbooks.crypto import decrypt_json, encrypt_json
from squads.models import Squad
from squads.selectors import AnyUser, can_curate, squad_ids_of

logger = logging.getLogger(__name__)

DELIVER_TASK = "portal.deliver_webhook"
EVENT_STATUS_CHANGED = "order.status_changed"
EVENT_PING = "ping"
SIGNATURE_HEADER = "X-Squadron-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker that makes leaked secrets recognisable
MIN_SECRET_LENGTH = 16
MAX_URL_LENGTH = 500
USER_AGENT = "Squadron-Webhooks/1"
#: A pending delivery whose retry is this late was lost by the broker: send it again.
SWEEP_GRACE = timedelta(minutes=2)


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


# --- Signing ------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (in Python): compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header or "")


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def subscription_secret(subscription: WebhookSubscription) -> str:
    value = decrypt_json(subscription.secret_ciphertext)
    return str(value)


# --- Where a webhook may point -----------------------------------------------------------


# IPv6 addresses that carry an IPv4 address, which the host's own stack, a
# NAT64 gateway or a 6to4/Teredo relay then reaches: a receiver "at" one of
# them is at that IPv4 address, and is judged by it.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # ::a.b.c.d (deprecated, RFC 4291)
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
# Where RFC 6052 lets a NAT64 prefix end; an operator may cut the local-use
# /48 to any of these, so each reading of the address is judged.
_NAT64_PREFIX_LENGTHS = (48, 56, 64, 96)
_IPV4_BITS = 0xFFFFFFFF


def _nat64_ipv4(ip: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address behind a NAT64 prefix of ``prefix_length`` bits
    (RFC 6052, section 2.2): bits 64-71 are a reserved octet the address
    skips, so drop them first and read the 32 bits after the prefix."""
    bits = int(ip)
    if prefix_length == 96:
        return ipaddress.IPv4Address(bits & _IPV4_BITS)
    without_reserved_octet = ((bits >> 64) << 56) | (bits & ((1 << 56) - 1))
    return ipaddress.IPv4Address((without_reserved_octet >> (120 - prefix_length - 32)) & _IPV4_BITS)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a connection to ``ip`` may end up at (none for a
    plain IPv6 address)."""
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return [ip.teredo[1]]  # the client, inverted in the last 32 bits
    if ip in _NAT64_LOCAL_USE:
        return [_nat64_ipv4(ip, length) for length in _NAT64_PREFIX_LENGTHS]
    # ``::`` and ``::1`` are IPv6's own unspecified and loopback addresses.
    compatible = ip in _IPV4_COMPATIBLE and int(ip) > 1
    if compatible or ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(ip) & _IPV4_BITS)]
    return []


def _one_address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Link-local is refused even where private addresses are allowed (dev):
    # no receiver lives there, but a cloud's metadata service (169.254.169.254,
    # with the machine's credentials) does.
    if ip.is_multicast or ip.is_unspecified or ip.is_link_local:
        return False
    return bool(settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE or ip.is_global)


def address_refused(address: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """What makes ``address`` no place for a receiver: the IPv4 addresses it
    carries that are refused, then itself if refused; empty when allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return [] if _one_address_allowed(ip) else [ip]
    embedded = embedded_ipv4(ip)
    refused: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = list(
        dict.fromkeys(one for one in embedded if not _one_address_allowed(one))
    )
    # A mapped address is the IPv4 host spelled in IPv6 (and its range is
    # "private" as IPv6): only the IPv4 address counts. Every other form must
    # pass both as itself and as the address it carries.
    if not ip.ipv4_mapped and not _one_address_allowed(ip):
        refused.append(ip)
    return refused


def address_allowed(address: str) -> bool:
    return not address_refused(address)


def url_problem(url: object) -> str | None:
    """Why ``url`` cannot receive webhooks, or None. Host names are resolved
    only when sending (they may not resolve from here yet)."""
    if not isinstance(url, str) or not url.strip():
        return "Give the URL that receives the events."
    if len(url) > MAX_URL_LENGTH:
        return f"A webhook URL has at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"This is not a valid URL ({error})."
    if parts.scheme not in ("http", "https"):
        return "A webhook URL starts with https:// (or http://)."
    if not parts.hostname:
        return "A webhook URL names a host."
    if parts.username or parts.password:
        return "Put no credentials in the URL: receivers check the signature instead."
    if port == 0:
        return "Port 0 cannot receive anything."
    if any(char.isspace() or ord(char) < 0x20 for char in url):
        return "A URL has no spaces or control characters."
    host = parts.hostname
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        return "This host name is too long to exist (at most 63 characters between dots, 253 in all)."
    private = "is on a private, loopback or link-local address"
    if host == "localhost" or host.endswith(".localhost"):
        return None if settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE else f"{host} {private}."
    try:
        refused = address_refused(host)
    except ValueError:
        return None  # a host name
    if not refused:
        return None
    carried = [str(one) for one in refused if isinstance(one, ipaddress.IPv4Address)]
    if not carried or ":" not in host:
        return f"{host} {private}."
    leads_to = carried[0] if len(carried) == 1 else ", ".join(carried[:-1]) + f" or {carried[-1]}"
    return (
        f"{host} leads to the IPv4 address {leads_to} (written inside the IPv6 one), "
        "which is a private, loopback or link-local address."
    )


# --- Subscriptions (services) -------------------------------------------------------------


def can_manage(user: AnyUser, subscription: WebhookSubscription) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if subscription.user_id is not None:
        return subscription.user_id == user.pk or bool(user.is_superuser)
    return can_curate(user, subscription.squad_id)


def webhook_subscribe(
    *,
    actor: AbstractBaseUser,
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
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        errors["secret"] = [f"A secret has at least {MIN_SECRET_LENGTH} characters (or leave it out)."]
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


def _webhook_cap_reached(actor: AbstractBaseUser) -> str | None:
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


def _count_sent_by_hand(*, actor: AbstractBaseUser) -> None:
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
    url: str, *, user: AbstractBaseUser | None, squad: Squad | None, other_than: int | None = None
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
    actor: AbstractBaseUser,
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


def webhook_rotate_secret(*, subscription: WebhookSubscription, actor: AbstractBaseUser) -> str:
    """A new secret from now on (pending retries are signed with it too)."""
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot change this webhook.")
    secret = generate_secret()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        secret_ciphertext=encrypt_json(secret), updated_at=timezone.now()
    )
    return secret


def webhook_delete(*, subscription: WebhookSubscription, actor: AbstractBaseUser) -> None:
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot delete this webhook.")
    subscription.delete()


def webhook_ping(*, subscription: WebhookSubscription, actor: AbstractBaseUser) -> WebhookDelivery:
    """Send a ``ping`` event now, so the owner can check their receiver."""
    if not can_manage(actor, subscription):
        raise WebhookNotAllowed("You cannot test this webhook.")
    if not subscription.is_active:
        raise WebhookError({"is_active": ["The webhook is paused: resume it to send a test event."]})
    _count_sent_by_hand(actor=actor)
    payload = {"event": EVENT_PING, "event_id": str(uuid.uuid4()), "occurred_at": _iso(timezone.now())}
    (delivery,) = _create_deliveries([subscription], payload, order_id=None)
    transaction.on_commit(lambda: _enqueue(delivery.pk))
    return delivery


def webhook_redeliver(*, delivery: WebhookDelivery, actor: AbstractBaseUser) -> WebhookDelivery:
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
    transaction.on_commit(lambda: _enqueue(copy.pk))
    return copy


# --- Reads (selectors) -------------------------------------------------------------------


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


def status_change_text(delivery: WebhookDelivery) -> str:
    """What a status-change delivery told, in words ("Queued → Running");
    empty for other events."""
    if delivery.event != EVENT_STATUS_CHANGED:
        return ""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        return ""
    labels = dict(OrderStatus.choices)
    before, after = body.get("from_status"), body.get("to_status")
    if not before:
        return f"placed, {labels.get(after, after)}"
    return f"{labels.get(before, before)} → {labels.get(after, after)}"


def deliveries_of(subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subscription=subscription).order_by("-created_at", "-id")


# --- The hook: order status changes --------------------------------------------------------


def webhooks_order_changed(*, order_id: int, from_status: str, to_status: str) -> None:
    """Tell the order's subscribers, once the transaction that moved it commits
    (nothing is sent for a move that rolls back). Never raises into the caller."""
    occurred_at = timezone.now()

    def notify_subscribers() -> None:
        _fan_out(order_id=order_id, from_status=from_status, to_status=to_status, occurred_at=occurred_at)

    transaction.on_commit(notify_subscribers, robust=True)


def _fan_out(*, order_id: int, from_status: str, to_status: str, occurred_at: datetime) -> None:
    subscriptions = list(
        WebhookSubscription.objects.filter(is_active=True).filter(
            Q(user__orders=order_id, user__is_active=True) | Q(squad__orders=order_id)
        )
    )
    if not subscriptions:
        return
    order = Order.objects.select_related("product", "squad", "requester").filter(pk=order_id).first()
    if order is None:
        return
    payload = {
        "event": EVENT_STATUS_CHANGED,
        "event_id": str(uuid.uuid4()),
        "occurred_at": _iso(occurred_at),
        "from_status": from_status or None,
        "to_status": to_status,
        "order": order_payload(order),
    }
    deliveries = _create_deliveries(subscriptions, payload, order_id=order_id)
    for delivery in deliveries:
        _enqueue(delivery.pk)


def order_payload(order: Order) -> dict:
    """What a receiver learns of the order: the API's fields, secrets masked."""
    return {
        "id": order.pk,
        "api_path": f"/api/v1/orders/{order.pk}/",
        "status": order.status,
        "product": {"slug": order.product.slug, "name": order.product.name},
        "product_version": order.product_version,
        "squad": {"slug": order.squad.slug, "name": order.squad.name},
        "requester": order.requester.get_username(),
        "fulfilment": order.fulfilment,
        "inputs": order.inputs,
        "attempts": order.attempts,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "finished_at": _iso(order.finished_at),
        "return_code": order.return_code,
        "failure_reason": order.failure_reason,
        "resolution_note": order.resolution_note,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _create_deliveries(
    subscriptions: list[WebhookSubscription], payload: dict, *, order_id: int | None
) -> list[WebhookDelivery]:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    now = timezone.now()
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription,
            delivery_id=uuid.uuid4(),
            event=payload["event"],
            order_id=order_id,
            body=body,
            next_attempt_at=now,
        )
        for subscription in subscriptions
    )


def _enqueue(delivery_id: int, countdown: float = 0) -> bool:
    """Hand a delivery to a worker. A broker failure is logged, not raised:
    the delivery stays pending and the sweep sends it later."""
    return send_or_leave_for_sweep(
        DELIVER_TASK, delivery_id, what="webhook delivery", countdown=countdown or None
    )


# --- Delivery (the worker) ------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2 * base, 4 * base... (at most 6 h)."""
    seconds = settings.SQUADRON_WEBHOOK_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, 6 * 3600))


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make the next attempt at a pending delivery, if it is due.

    The attempt is claimed with a conditional UPDATE on the attempt count, so
    a task delivered twice by the broker sends once.
    """
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    now = timezone.now()
    if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
        return None  # an early duplicate: the scheduled task will come
    subscription = delivery.subscription
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=delivery.attempts + 1, last_attempt_at=now, next_attempt_at=None)
    if not claimed:
        return None
    attempts = delivery.attempts + 1
    if not subscription.is_active:
        attempt = Attempt(None, "Not sent: the webhook is paused.")
    else:
        attempt = _send(subscription, delivery)
    fields: dict[str, object] = {"last_status_code": attempt.status_code, "last_error": attempt.error[:1000]}
    if attempt.ok:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=timezone.now(), last_error="")
    elif attempts >= settings.SQUADRON_WEBHOOK_MAX_ATTEMPTS or not subscription.is_active:
        fields.update(status=WebhookDelivery.Status.FAILED)
    else:
        wait = backoff(attempts)
        fields.update(next_attempt_at=timezone.now() + wait)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if fields.get("next_attempt_at"):
        _enqueue(delivery.pk, countdown=backoff(attempts).total_seconds())
    logger.info(
        "webhook delivery %s attempt %s to %s: %s %s",
        delivery.delivery_id,
        attempts,
        subscription.url,
        attempt.status_code,
        attempt.error,
    )
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_sweep() -> list[int]:
    """Send again the pending deliveries whose retry the broker lost."""
    late = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=timezone.now() - SWEEP_GRACE
    ).values_list("pk", flat=True)[:1000]
    sent = [pk for pk in late if _enqueue(pk)]
    if sent:
        logger.warning("webhook sweep: re-sent %s lost deliveries", len(sent))
    return sent


def _send(subscription: WebhookSubscription, delivery: WebhookDelivery) -> Attempt:
    body = delivery.body.encode()
    try:
        secret = subscription_secret(subscription)
    except Exception:  # noqa: BLE001 - an unreadable secret must not crash the worker
        return Attempt(None, "Not sent: the webhook's secret cannot be decrypted (credential key changed?).")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Squadron-Event": delivery.event,
        "X-Squadron-Delivery": str(delivery.delivery_id),
        "X-Squadron-Timestamp": str(int(time.time())),
        SIGNATURE_HEADER: sign(secret, body),
    }
    return post(subscription.url, body, headers, timeout=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Attempt:
    """POST without following redirects, to an address checked against the
    SSRF policy and then used as is."""
    problem = url_problem(url)
    if problem:
        return Attempt(None, f"Not sent: {problem}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError) as error:
        return Attempt(None, f"Cannot resolve {host}: {error}")
    allowed = [address for address in addresses if address_allowed(address)]
    if not allowed:
        return Attempt(None, f"Not sent: {host} resolves to a private, loopback or link-local address.")
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=allowed[0], timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(300).decode("utf-8", "replace").strip()
    except TimeoutError:
        return Attempt(None, f"No answer within {timeout:g} s.")
    except ssl.SSLError as error:
        return Attempt(None, f"TLS error: {error.reason or error}")
    except ConnectionRefusedError:
        return Attempt(None, f"Connection refused by {host}:{port}.")
    except (OSError, http.client.HTTPException) as error:
        return Attempt(None, f"{error.__class__.__name__}: {error}")
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return Attempt(response.status, "")
    if 300 <= response.status < 400:
        return Attempt(
            response.status, f"HTTP {response.status}: redirects are not followed; use the final URL."
        )
    return Attempt(response.status, f"HTTP {response.status}: {excerpt}".strip())


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate and SNI are checked against the host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
