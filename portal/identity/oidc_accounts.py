"""Accounts of people who sign in through the OpenID provider: created from
the claims of their first login, found again by the provider's subject,
kept up to date from the claims of each login, deactivated when the
provider says they are gone.

Every refusal raises ``SignInRefused`` with a message fit for the person and
has changed nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.identity.models import OidcIdentity
from portal.identity.oidc_config import OidcConfig
from runbooks.crypto import encrypt_json
from squads.audit import record

logger = logging.getLogger(__name__)

#: Names longer than Django's columns are cut, not refused: they are only shown.
NAME_MAX = 150
GROUP_MAX = 255
GROUPS_MAX = 1000


class SignInRefused(Exception):
    """A single sign-on that Squadron refuses; ``reason`` is a short code for
    the log and the record of failed logins, the message is for the person."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignInClaims:
    """What a login takes from the provider's claims, checked."""

    subject: str
    username: str
    email: str
    first_name: str
    last_name: str
    groups: list[str]


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip()[:NAME_MAX] if isinstance(value, str) else ""


def sign_in_claims(claims: dict[str, Any], *, config: OidcConfig) -> SignInClaims:
    """The claims of a login, or ``SignInRefused`` when the provider's answer
    lacks what an account needs or has it in a shape no provider sends."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SignInRefused("The identity provider did not say who you are.", reason="claims")
    username = claims.get(config.username_claim)
    try:
        if not isinstance(username, str) or not username or len(username) > 150:
            raise ValidationError("not a username")
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise SignInRefused(
            f"The identity provider gave no usable username (claim {config.username_claim!r}): "
            "ask its administrators to send one of letters, digits and @ . + - _ only.",
            reason="claims",
        ) from None
    # An address that is none is dropped, not refused: it is only shown.
    email = claims.get("email")
    try:
        # Longer than the column would fail on PostgreSQL.
        if not isinstance(email, str) or len(email) > 254:
            raise ValidationError("not an email")
        EmailValidator()(email)
    except ValidationError:
        email = ""
    first_name, last_name = _text(claims, "given_name"), _text(claims, "family_name")
    if not first_name and not last_name:
        first_name = _text(claims, "name")
    return SignInClaims(
        subject=subject,
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        groups=_groups(claims, config=config),
    )


def _groups(claims: dict[str, Any], *, config: OidcConfig) -> list[str]:
    groups = claims.get(config.groups_claim)
    if groups is None:
        return []
    if isinstance(groups, str):  # some providers send a lone group as a string
        groups = [groups]
    if (
        not isinstance(groups, list)
        or len(groups) > GROUPS_MAX
        or not all(isinstance(group, str) and 0 < len(group) <= GROUP_MAX for group in groups)
    ):
        raise SignInRefused(
            f"The identity provider's groups (claim {config.groups_claim!r}) are not a list of names.",
            reason="claims",
        )
    return sorted(set(groups))


def oidc_user_sign_in(*, issuer: str, claims: SignInClaims, refresh_token: str | None) -> User:
    """The account of whoever the provider vouches for: found by issuer and
    subject, else created from the claims. Never an existing account found by
    its username or email: a provider (or anyone who can register there with
    a chosen email) could otherwise take over a local account."""
    try:
        with transaction.atomic():
            return _sign_in(issuer=issuer, claims=claims, refresh_token=refresh_token)
    except IntegrityError:
        # Two first logins of one person at once: the other one created it.
        with transaction.atomic():
            return _sign_in(issuer=issuer, claims=claims, refresh_token=refresh_token)


def _sign_in(*, issuer: str, claims: SignInClaims, refresh_token: str | None) -> User:
    identity = (
        OidcIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=claims.subject)
        .first()
    )
    if identity is None:
        if User.objects.filter(username__iexact=claims.username).exists():
            raise SignInRefused(
                f"An account named {claims.username} already exists in Squadron and is not linked to "
                "your single sign-on. Log in with its password, or ask an administrator to link it "
                "(Logins, Single sign-on identities).",
                reason="username-taken",
            )
        user = User.objects.create_user(
            claims.username,
            email=claims.email,
            first_name=claims.first_name,
            last_name=claims.last_name,
        )
        identity = OidcIdentity(user=user, issuer=issuer, subject=claims.subject)
        logger.info("Created the account %s for the subject %s of %s", user.username, claims.subject, issuer)
    user = identity.user
    if not user.is_active:
        raise SignInRefused("Your Squadron account is deactivated: ask an administrator.", reason="inactive")
    changed = []
    for field in ("email", "first_name", "last_name"):
        value = getattr(claims, field)
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if changed:
        user.save(update_fields=changed)
    identity.last_login_at = timezone.now()
    if refresh_token:
        identity.refresh_token = encrypt_json(refresh_token)
    identity.save()
    return user


def oidc_account_deactivate(*, identity: OidcIdentity, why: str) -> None:
    """The provider says this person is gone (disabled, deleted, their
    access withdrawn): their account is deactivated, which ends its sessions
    at their next request and stops its API tokens. An administrator
    reactivates it."""
    with transaction.atomic():
        updated = User.objects.filter(pk=identity.user_id, is_active=True).update(is_active=False)
        OidcIdentity.objects.filter(pk=identity.pk).update(refresh_token="", last_checked_at=timezone.now())
        if updated:
            record(
                action="changed",
                target=identity.user,
                changes={"is_active": {"before": True, "after": False}},
                note=f"deactivated: its identity provider {identity.issuer} says {why}",
            )
    if updated:
        logger.warning(
            "Deactivated the account %s: its identity provider %s says %s",
            identity.user.username,
            identity.issuer,
            why,
        )


def oidc_identity_checked(*, identity: OidcIdentity, refresh_token: str | None) -> None:
    """The provider still lets this person in: note when, and keep the
    refresh token it gave in place of the one used (providers rotate them)."""
    fields: dict[str, Any] = {"last_checked_at": timezone.now()}
    if refresh_token:
        fields["refresh_token"] = encrypt_json(refresh_token)
    OidcIdentity.objects.filter(pk=identity.pk).update(**fields)
