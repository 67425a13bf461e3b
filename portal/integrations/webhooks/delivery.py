"""Delivering webhook events: signing, the fan-out after an order moves,
sending each delivery from a worker, retries with backoff and the sweep.

``webhooks_order_changed`` is called by every status transition; after the
transaction commits it stores one delivery per matching subscription and
hands each to a Celery worker on the webhooks' own queue. ``webhook_deliver``
(the worker) POSTs the stored body, signed as Standard Webhooks prescribe
(see "Signing" below), records the attempt for the owner, and schedules a
retry with exponential backoff until ``SQUADRON_WEBHOOK_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.celery import send_or_leave_for_sweep
from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks.ssrf import address_allowed, url_problem
from runbooks.crypto import decrypt_json

logger = logging.getLogger(__name__)

DELIVER_TASK = "portal.deliver_webhook"
EVENT_STATUS_CHANGED = "order.status_changed"
EVENT_PING = "ping"
LEGACY_SIGNATURE_HEADER = "X-Squadron-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks marker, which makes leaked secrets recognisable
# What the Standard Webhooks libraries accept (Svix's refuse shorter keys).
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
USER_AGENT = "Squadron-Webhooks/1"
#: A pending delivery whose retry is this late was lost by the broker: send it again.
SWEEP_GRACE = timedelta(minutes=2)


# --- Signing ------------------------------------------------------------------------------
#
# Deliveries follow the Standard Webhooks specification, so its libraries (and
# Svix's) verify them: ``webhook-id`` (the delivery's id, the same on every
# retry), ``webhook-timestamp`` (when this attempt was sent) and
# ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed
# with the bytes a ``whsec_<base64>`` secret encodes. Because the timestamp is
# signed, a receiver that refuses old timestamps refuses a replayed capture.
#
# During the transition the old ``X-Squadron-Signature`` (hex HMAC of the body
# alone, keyed with the same bytes) is sent too while
# ``SQUADRON_WEBHOOK_LEGACY_SIGNATURE`` is on. Secrets made before Squadron
# spoke the standard were re-encoded by a migration as ``whsec_`` + the
# base64 of the whole old string: their key bytes, and so the old signature,
# did not change.


def signing_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_<base64>`` secret encodes; ValueError for
    anything else (the standard's libraries would read it differently)."""
    problem = secret_problem(secret)
    if problem:
        raise ValueError(problem)
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is not a Standard Webhooks secret, or None."""
    shape = (
        f"A secret is {SECRET_PREFIX} followed by the base64 of "
        f"{MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes"
    )
    if not secret.startswith(SECRET_PREFIX):
        return f"{shape}: it starts with {SECRET_PREFIX}."
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        return f"{shape}: what follows {SECRET_PREFIX} is not base64 (A-Z, a-z, 0-9, +, / and = padding)."
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        return f"{shape}: this one encodes {len(key)}."
    return None


def sign(secret: str, *, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value of one attempt."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_legacy(secret: str, body: bytes) -> str:
    """The deprecated ``X-Squadron-Signature``: ``sha256=`` and the hex
    HMAC-SHA256 of the body alone (no timestamp: a capture replays)."""
    return "sha256=" + hmac.new(signing_key(secret), body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, *, delivery_id: str, body: bytes, now: float) -> dict[str, str]:
    """Every header that lets a receiver check an attempt: the standard ones,
    and the old set while ``SQUADRON_WEBHOOK_LEGACY_SIGNATURE`` is on."""
    timestamp = int(now)
    headers = {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery_id=delivery_id, timestamp=timestamp, body=body),
    }
    if settings.SQUADRON_WEBHOOK_LEGACY_SIGNATURE:
        headers.update(
            {
                "X-Squadron-Delivery": delivery_id,
                "X-Squadron-Timestamp": str(timestamp),
                LEGACY_SIGNATURE_HEADER: sign_legacy(secret, body),
            }
        )
    return headers


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def subscription_secret(subscription: WebhookSubscription) -> str:
    value = decrypt_json(subscription.secret_ciphertext)
    return str(value)


# --- The hook: order status changes --------------------------------------------------------


def webhooks_order_changed(
    *, order_id: int, from_status: str, to_status: str, payload_of: Callable[[int], dict | None]
) -> None:
    """Tell the order's subscribers, once the transaction that moved it commits
    (nothing is sent for a move that rolls back). Never raises into the caller.

    ``payload_of`` gives what a receiver learns of the order, read when the
    deliveries are made (the order domain owns that; this module knows orders
    only by id)."""
    occurred_at = timezone.now()

    def notify_subscribers() -> None:
        _fan_out(
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            occurred_at=occurred_at,
            payload_of=payload_of,
        )

    transaction.on_commit(notify_subscribers, robust=True)


def _fan_out(
    *,
    order_id: int,
    from_status: str,
    to_status: str,
    occurred_at: datetime,
    payload_of: Callable[[int], dict | None],
) -> None:
    subscriptions = list(
        WebhookSubscription.objects.filter(is_active=True).filter(
            Q(user__orders=order_id, user__is_active=True) | Q(squad__orders=order_id)
        )
    )
    if not subscriptions:
        return
    order = payload_of(order_id)
    if order is None:
        return
    payload = {
        "event": EVENT_STATUS_CHANGED,
        "event_id": str(uuid.uuid4()),
        "occurred_at": iso(occurred_at),
        "from_status": from_status or None,
        "to_status": to_status,
        "order": order,
    }
    deliveries = create_deliveries(subscriptions, payload, order_id=order_id)
    for delivery in deliveries:
        enqueue(delivery.pk)


# --- The hook: instances change -----------------------------------------------------------


def webhooks_instance_changed(
    *,
    instance_id: int,
    owner_id: int,
    squad_id: int,
    event: str,
    order_id: int | None,
    payload_of: Callable[[int], dict | None],
    previous_owner_id: int | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """Tell the subscribers of the instance's owner and of its product's
    squad that it was created, changed or decommissioned (``event``), once
    the transaction commits. ``payload_of`` gives what a receiver learns of
    the instance (the instance domain owns that). When it changed hands,
    the subscribers of its ``previous_owner_id`` are told too (it leaves
    their lists); ``details`` adds what else the event says (``transfer``)."""
    occurred_at = timezone.now()
    owners = {owner_id} if previous_owner_id is None else {owner_id, previous_owner_id}

    def notify_subscribers() -> None:
        subscriptions = list(
            WebhookSubscription.objects.filter(is_active=True).filter(
                Q(user_id__in=owners, user__is_active=True) | Q(squad_id=squad_id)
            )
        )
        instance = payload_of(instance_id) if subscriptions else None
        if instance is None:
            return
        payload = {
            "event": event,
            "event_id": str(uuid.uuid4()),
            "occurred_at": iso(occurred_at),
            "order_id": order_id,
            "instance": instance,
            **(details or {}),
        }
        for delivery in create_deliveries(subscriptions, payload, order_id=order_id):
            enqueue(delivery.pk)

    transaction.on_commit(notify_subscribers, robust=True)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def create_deliveries(
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


def enqueue(delivery_id: int, countdown: float = 0) -> bool:
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


def claim_lease() -> timedelta:
    """How long a claimed attempt may take: the delivery task's hard time
    limit (three timeouts bound a receiver that drips its answer, and a
    margin). The claim sets the next attempt this far ahead, so an attempt
    whose task died (killed worker, time limit) is found by the sweep once no
    task can still be working on it."""
    return timedelta(seconds=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS * 3 + 30)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make the next attempt at a pending delivery, if it is due.

    The attempt is claimed with a conditional UPDATE on the attempt count, so
    a task delivered twice by the broker sends once, and the claim is a lease
    (``claim_lease``): until it ends a duplicate waits, after it the sweep
    sends the delivery again.
    """
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    now = timezone.now()
    if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
        return None  # an early duplicate, or an attempt still under way: the scheduled task will come
    if delivery.attempts >= settings.SQUADRON_WEBHOOK_MAX_ATTEMPTS:
        return _give_up_after_unfinished_attempt(delivery)
    subscription = delivery.subscription
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=delivery.attempts + 1, last_attempt_at=now, next_attempt_at=now + claim_lease())
    if not claimed:
        return None
    attempts = delivery.attempts + 1
    if not subscription.is_active:
        attempt = Attempt(None, "Not sent: the webhook is paused.")
    else:
        attempt = _send(subscription, delivery)
    fields: dict[str, object] = {"last_status_code": attempt.status_code, "last_error": attempt.error[:1000]}
    if attempt.ok:
        fields.update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            last_error="",
            next_attempt_at=None,
        )
    elif attempts >= settings.SQUADRON_WEBHOOK_MAX_ATTEMPTS or not subscription.is_active:
        fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        wait = backoff(attempts)
        fields.update(next_attempt_at=timezone.now() + wait)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if fields.get("status") is None:
        enqueue(delivery.pk, countdown=backoff(attempts).total_seconds())
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


def _give_up_after_unfinished_attempt(delivery: WebhookDelivery) -> WebhookDelivery | None:
    """The last attempt was claimed and never finished (its task died): no
    attempt is left, so the delivery fails rather than sending one too many."""
    given_up = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        last_error=f"Attempt {delivery.attempts} did not finish (its worker stopped or ran out of time).",
    )
    if not given_up:
        return None
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_sweep() -> list[int]:
    """Send again the pending deliveries whose retry the broker lost, or
    whose attempt's lease ended without an answer (the task died)."""
    late = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=timezone.now() - SWEEP_GRACE
    ).values_list("pk", flat=True)[:1000]
    sent = [pk for pk in late if enqueue(pk)]
    if sent:
        logger.warning("webhook sweep: re-sent %s lost deliveries", len(sent))
    return sent


def _send(subscription: WebhookSubscription, delivery: WebhookDelivery) -> Attempt:
    body = delivery.body.encode()
    try:
        secret = subscription_secret(subscription)
    except Exception:  # noqa: BLE001 - an unreadable secret must not crash the worker
        return Attempt(None, "Not sent: the webhook's secret cannot be decrypted (credential key changed?).")
    try:
        signed = signature_headers(secret, delivery_id=str(delivery.delivery_id), body=body, now=time.time())
    except ValueError as problem:
        return Attempt(None, f"Not sent: the webhook's secret is unusable ({problem}); replace it.")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Squadron-Event": delivery.event,
        **signed,
    }
    return post(subscription.url, body, headers, timeout=settings.SQUADRON_WEBHOOK_TIMEOUT_SECONDS)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Attempt:
    """POST without following redirects, to an address checked against the
    SSRF policy and then used as is."""
    pinned = pinned_connection(url, timeout=timeout)
    if isinstance(pinned, str):
        return Attempt(None, pinned)
    connection, path = pinned
    host, port = connection.host, connection.port
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


def pinned_connection(url: str, *, timeout: float) -> tuple[http.client.HTTPConnection, str] | str:
    """A connection to ``url``'s host at an address the SSRF policy allows,
    pinned to that address (a DNS answer that changes after the check cannot
    move it), and the path to ask; or why there is none ("Not sent: ...")."""
    problem = url_problem(url)
    if problem:
        return f"Not sent: {problem}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        # An IP address, as text for TCP (typeshed allows an int for other families).
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError) as error:
        return f"Cannot resolve {host}: {error}"
    allowed = [address for address in addresses if address_allowed(address)]
    if not allowed:
        return f"Not sent: {host} resolves to a private, loopback or link-local address."
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return connection_class(host, port, address=allowed[0], timeout=timeout), path


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        # Kept by name: http.client's own ``_context`` is private (and untyped).
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Reachable while the handshake runs, for a caller that cuts the
        # connection off at a deadline (outbound.ChoicesUrlGuard).
        self.sock = sock
        # Certificate and SNI are checked against the host name, not the address.
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
