"""Reads about a person's two-step login: whether they have one, whether
they must."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User

from portal.identity.models import EncryptedTOTPDevice, RecoveryCodeDevice
from squads.selectors import AnyUser, is_any_squad_member


def totp_device_of(user: User) -> EncryptedTOTPDevice | None:
    """The authenticator app the person enrolled, if any (one per person)."""
    return EncryptedTOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def has_two_step_login(user: User) -> bool:
    """Whether logging in asks this person for a code after the password.
    Recovery codes count only beside an app: they stand in for its code."""
    return EncryptedTOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_of(user: User) -> RecoveryCodeDevice | None:
    return RecoveryCodeDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def recovery_codes_left(user: User) -> int:
    device = recovery_codes_of(user)
    return device.codes.count() if device is not None else 0


def two_step_required_for(user: AnyUser) -> bool:
    """Whether ``SQUADRON_REQUIRE_MFA`` makes a two-step login compulsory for
    this person: ``all``, or ``staff`` for whoever may curate in the admin
    (staff, superusers and squad members, who change products, runbooks and
    credentials there)."""
    policy = settings.SQUADRON_REQUIRE_MFA
    if policy == "none" or not user.is_authenticated:
        return False
    if policy == "all":
        return True
    return bool(user.is_staff or user.is_superuser or is_any_squad_member(user))
