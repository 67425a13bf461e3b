"""Placing an order: ``order_submit`` checks the product and the inputs and
creates the order in its first status.

Idempotent placement: the same ``Idempotency-Key`` and body from the same
user places one order, however often (and however concurrently) the client
sends it. The unique (user, key) constraint of ``IdempotencyRecord`` is the
lock: the record is inserted in the same transaction as the order, so of two
racing requests the second waits on the first's uncommitted row (PostgreSQL)
or on the write lock (SQLite), then fails to insert and answers with what the
first stored.

The review step of the order form: what the user confirms travels sealed.
Between "Review order" and "Place order" the inputs must survive a round trip
through the browser, secrets included, without a secret ever being written
into the page in clear or into the session table. They go as one token
encrypted and authenticated with the credential key (``runbooks.crypto``):
the browser holds it but can neither read nor alter it. The token is bound
to the user and the product and expires, so it cannot be replayed by someone
else or much later; ``order_submit`` validates the inputs again in any case.
Each review carries a random nonce: placing the same review twice (Back, then
"Place order" again) finds the order it already placed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.dynamic_choices import live_schema
from catalogue.inputs import split_secrets, validate_inputs
from catalogue.models import Operation, Product
from portal.orders import approval_steps
from portal.orders.choices import OrderStatus
from portal.orders.errors import InvalidInputs, ProductNotOrderable
from portal.orders.execution import dispatch_on_commit
from portal.orders.hooks import Placement, order_admitted
from portal.orders.models import IdempotencyRecord, Order, OrderEvent
from portal.orders.transitions import order_changed
from runbooks.crypto import DecryptionError, decrypt_json, encrypt_json
from runbooks.models import Runbook, RunbookVersion

logger = logging.getLogger(__name__)


def order_submit(
    *,
    requester: User,
    product: Product,
    inputs: object,
    operation: Operation | None = None,
    instance_id: int | None = None,
    business_unit: str | None = None,
    system_note: str = "",
    form_schema: dict | None = None,
) -> Order:
    """Place an order. Refuses an unpublished product or inputs that do not fit
    its form (``InvalidInputs`` with per-field messages) and then creates nothing.

    With ``operation`` and ``instance_id`` it orders that day-2 operation of
    ``product`` against one of its instances: the operation's runbook, form
    and approval policy apply, and the instance domain (told of the placement
    through ``portal.orders.hooks``) refuses it, creating nothing, when the
    instance is busy or past operating. A retired product's instances can
    still be operated on (given back, above all). ``system_note`` says why
    Squadron itself places the order (an instance expired): it is recorded
    with no actor, the requester being whom it is placed for. ``form_schema``
    replaces the form (an operation's, its fields defaulting from the
    instance's attributes): it is the one the order pins.

    ``business_unit`` is the slug of the unit the requester orders for, when
    they chose one. The admission checks (``portal.orders.hooks``: the
    consumption domain) settle the order's unit and its quotas inside the
    placement's transaction: they refuse it, or send it to approval with
    the excess stated (``quota_excess``) even when its policy needs none."""
    source, automated, runbook, runbook_version = _orderable(product, operation, instance_id)
    schema = form_schema or source.form_schema or {"type": "object", "properties": {}}
    # Dynamic choices are checked against what they are now, for the
    # requester; the order pins the form as curated.
    completed, errors = validate_inputs(live_schema(schema, requester), inputs)
    if errors:
        raise InvalidInputs(errors)
    masked, secret_values = split_secrets(schema, completed)
    steps = approval_steps.steps_for(product, operation)
    if source.approval_policy == ApprovalPolicy.STEPS and not steps:
        raise ProductNotOrderable(f"{source.name} has no approval steps yet; its squad must add them.")
    with transaction.atomic():
        admission = order_admitted(
            Placement(
                requester=requester,
                product=product,
                operation=operation,
                instance_id=instance_id,
                inputs=masked,
                business_unit=business_unit,
            )
        )
        if business_unit is not None and admission.business_unit_id is None:
            # Fail closed: a unit was named, and no domain took it.
            raise RuntimeError("a business unit was named, but no domain settles it")
        policy = source.approval_policy
        if admission.approval_reason and not steps:
            # Over quota: the owning squad decides, whatever the policy says.
            steps, policy = (
                approval_steps.steps_for_policy(product, ApprovalPolicy.SQUAD),
                ApprovalPolicy.SQUAD,
            )
        status = _first_status(steps=steps, automated=automated)
        now = timezone.now()
        order = Order.objects.create(
            created_at=now,
            requester=requester,
            product=product,
            product_version=product.version,
            operation=operation,
            instance_id=instance_id,
            business_unit_id=admission.business_unit_id,
            runbook_version=runbook_version,
            squad_id=product.squad_id,
            fulfilment=Fulfilment.AUTOMATED if automated else product.fulfilment,
            approval_policy=policy,
            form_schema=schema,
            inputs=masked,
            secret_inputs_ciphertext=encrypt_json(secret_values) if secret_values else "",
            status=status,
            quota_excess=admission.approval_reason,
            queued_at=now if status == OrderStatus.QUEUED else None,
            approval_steps=steps,
            approval_step=0,
            approval_step_opened_at=now if steps else None,
            approval_remind_after_hours=source.approval_remind_after_hours,
            approval_escalate_after_hours=source.approval_escalate_after_hours,
            **approval_steps.open_step_fields(steps, 0),
        )
        actor, note = (None, system_note) if system_note else (requester, "Submitted")
        if admission.approval_reason:
            note = f"{note} over quota: {admission.approval_reason}"
        OrderEvent.objects.create(order=order, actor=actor, from_status="", to_status=status, note=note)
        order_changed(order, from_status="", to_status=status, actor=actor, note=note)
        if status == OrderStatus.QUEUED:
            dispatch_on_commit(order.pk, runbook)  # the version's runbook, in hand
    logger.info("order %s submitted for %s by %s: %s", order.pk, product.slug, requester, status)
    return order


def _orderable(
    product: Product, operation: Operation | None, instance_id: int | None
) -> tuple[Product | Operation, bool, Runbook | None, RunbookVersion | None]:
    """What the order is for (the product or its operation), whether a
    runbook fulfils it and which version; refused when it cannot be ordered."""
    if (operation is None) != (instance_id is None):
        raise ProductNotOrderable("An operation is ordered against an instance, and only then.")
    if operation is not None and operation.product_id != product.pk:
        raise ProductNotOrderable(f"{operation.name} is not an operation of {product.name}.")
    if operation is None and product.status != ProductStatus.PUBLISHED:
        raise ProductNotOrderable(f"{product.name} is not available for ordering ({product.status}).")
    source: Product | Operation = operation or product
    automated = operation is not None or product.fulfilment == Fulfilment.AUTOMATED
    runbook = operation.runbook if operation is not None else product.runbook
    runbook_version = runbook.current_version if automated and runbook else None
    if automated and runbook_version is None:
        raise ProductNotOrderable(f"{source.name} has no runbook to run yet.")
    return source, automated, runbook, runbook_version


def _first_status(*, steps: list[approval_steps.StepSpec], automated: bool) -> str:
    if steps:
        return OrderStatus.PENDING_APPROVAL
    return OrderStatus.QUEUED if automated else OrderStatus.AWAITING_FULFILMENT


# --- Idempotent placement ---


MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(Exception):
    """The key was used before by this user with a different request body."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool


def record_lifetime() -> timedelta:
    return timedelta(hours=settings.SQUADRON_IDEMPOTENCY_KEY_HOURS)


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an idempotency key, or None if it can."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return f"An Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters."
    if not all(0x21 <= ord(char) <= 0x7E for char in key):
        return "An Idempotency-Key uses printable ASCII characters without spaces (a UUID is ideal)."
    return None


def fingerprint(payload: object) -> str:
    """A keyed hash of the request's meaning (the canonical JSON of its
    validated body): equal for equal requests whatever their key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hmac.new(settings.SECRET_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def order_submit_once(
    *,
    requester: User,
    key: str,
    request_hash: str,
    submit: Callable[[], Order],
    render: Callable[[Order], dict],
) -> Answer:
    """Place the order with ``submit`` unless this key already placed one;
    answer 201 with ``render(order)`` the first time and 200 with the very
    same body on every repetition. A refused submission (invalid inputs…)
    stores nothing, so the client may correct the body and reuse the key."""
    IdempotencyRecord.objects.filter(
        user=requester, key=key, created_at__lt=timezone.now() - record_lifetime()
    ).delete()
    existing = IdempotencyRecord.objects.filter(user=requester, key=key).first()
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with transaction.atomic():
            # The key first: a second request with it waits here, then finds
            # it and answers with this order, whatever placing a second order
            # would have said (over quota, a name taken by this one).
            record = IdempotencyRecord.objects.create(
                user=requester, key=key, request_hash=request_hash, response_status=201
            )
            order = submit()
            body = render(order)
            IdempotencyRecord.objects.filter(pk=record.pk).update(order=order, response_body=body)
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(user=requester, key=key).first()
        if existing is None:
            raise
        return _replay(existing, request_hash)
    return Answer(status=201, body=body, replayed=False)


def _replay(record: IdempotencyRecord, request_hash: str) -> Answer:
    if not hmac.compare_digest(record.request_hash, request_hash):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new order."
        )
    return Answer(status=200, body=record.response_body, replayed=True)


def idempotency_records_purge() -> int:
    """Forget keys older than their lifetime (run daily by beat)."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - record_lifetime()).delete()
    return deleted


# --- The sealed review ---


#: A review left open longer than this must be filled in again.
REVIEW_TTL_SECONDS = 3600


class ReviewExpired(Exception):
    """The token is unreadable, someone else's, for another product or too old."""


@dataclass(frozen=True)
class Review:
    inputs: dict[str, Any]
    product_version: int
    nonce: str
    # The business unit chosen on the form (a slug), if one was.
    business_unit: str | None = None


def seal_review(
    *,
    user_id: int,
    product_id: int,
    product_version: int,
    inputs: dict[str, Any],
    business_unit: str | None = None,
) -> str:
    return encrypt_json(
        {
            "u": user_id,
            "p": product_id,
            "v": product_version,
            "t": int(time.time()),
            "n": secrets.token_urlsafe(18),
            "b": business_unit,
            "inputs": inputs,
        }
    )


def open_review(token: str, *, user_id: int, product_id: int) -> Review:
    try:
        payload = decrypt_json(token)
    except (DecryptionError, ValueError, TypeError):
        raise ReviewExpired from None
    if (
        not isinstance(payload, dict)
        or payload.get("u") != user_id
        or payload.get("p") != product_id
        or not isinstance(payload.get("inputs"), dict)
        or not isinstance(payload.get("t"), int)
        or not isinstance(payload.get("n"), str)
        or time.time() - payload["t"] > REVIEW_TTL_SECONDS
    ):
        raise ReviewExpired
    chosen = payload.get("b")
    return Review(
        inputs=payload["inputs"],
        product_version=int(payload.get("v") or 0),
        nonce=payload["n"],
        business_unit=chosen if isinstance(chosen, str) else None,
    )
