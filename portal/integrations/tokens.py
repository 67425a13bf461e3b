"""API tokens: create, look up, revoke.

A token is shown to its owner once, when it is created, and only its SHA-256
hash is stored: whoever reads the database cannot use the tokens in it. The
key carries a short prefix that is stored in clear (it identifies the token
in lists, like the first characters of a card number) and narrows the lookup
to a row or two whose hash is then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.integrations.models import ApiToken
from squads.audit import record

#: Every key starts with this, so a key that leaked into a log or a repository
#: is recognisable (secret scanners match on it).
KEY_PREFIX = "sqd_"
#: Characters of the key stored in clear: ``sqd_`` plus 8 random characters.
PREFIX_LENGTH = len(KEY_PREFIX) + 8
#: ``last_used_at`` is written at most this often per token: recording every
#: request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME_LENGTH = 100


class TokenError(Exception):
    """A token cannot be used; the message says why, fit for the caller."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its clear key: the only moment the key exists outside
    the client that receives it."""

    token: ApiToken
    key: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def token_create(*, user: User, name: str, expires_in: timedelta | None = None) -> IssuedToken:
    """Issue a token for ``user``. The clear key is in the returned value only."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Give the token a name, so you can tell it apart later.")
    if len(name) > MAX_NAME_LENGTH:
        raise TokenError(f"A token name has at most {MAX_NAME_LENGTH} characters.")
    if expires_in is not None and expires_in <= timedelta(0):
        raise TokenError("A token must expire in the future.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=hash_key(key),
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )
    return IssuedToken(token=token, key=key)


def token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a token for good. Only its owner (or a superuser) may; revoking
    twice is harmless. The row stays, so "who had access when" is answerable."""
    if token.user_id != actor.pk and not actor.is_superuser:
        raise TokenError("You can only revoke your own tokens.")
    if token.revoked_at is None:
        now = timezone.now()
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            record(
                action="changed",
                target=token,
                changes={"revoked_at": {"before": None, "after": now.isoformat()}},
            )
        token.refresh_from_db(fields=["revoked_at"])
    return token


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's tokens that have not been revoked (expired ones included, so
    the owner sees why an integration stopped working)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at", "-id")


def token_authenticate(key: str) -> ApiToken:
    """The live token for ``key`` with its user, or ``TokenError`` saying why not.

    The hash comparison is constant-time so response timing tells nothing
    about how close a guessed key was.
    """
    if not key.startswith(KEY_PREFIX) or len(key) <= PREFIX_LENGTH or len(key) > 200:
        raise TokenError("Invalid token.")
    digest = hash_key(key)
    candidates = ApiToken.objects.select_related("user").filter(prefix=key[:PREFIX_LENGTH])
    token = next((c for c in candidates if hmac.compare_digest(c.key_hash, digest)), None)
    if token is None:
        raise TokenError("Invalid token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenError("This token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError("This token has expired; create a new one.")
    if not token.user.is_active:
        raise TokenError("The token's user is inactive.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional so that concurrent requests write once, not once each.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
