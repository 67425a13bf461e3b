"""Idempotent order placement: the same ``Idempotency-Key`` and body from the
same user places one order, however often (and however concurrently) the
client sends it.

The unique (user, key) constraint of ``IdempotencyRecord`` is the lock: the
record is inserted in the same transaction as the order, so of two racing
requests the second waits on the first's uncommitted row (PostgreSQL) or on
the write lock (SQLite), then fails to insert and answers with what the
first stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.orders.models import IdempotencyRecord, Order

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
    requester: AbstractBaseUser,
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
