"""Changes to a person's two-step login: enrol an authenticator app, check a
code, replace the recovery codes, turn it off.

Each refusal raises ``TwoStepError`` with a message fit for the person, and
has changed nothing but django-otp's count of wrong codes in a row (which
makes the next try wait: 1, 2, 4, ... seconds).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.oath import TOTP

from portal.identity.models import EncryptedTOTPDevice, RecoveryCode, RecoveryCodeDevice, recovery_code_hash
from portal.identity.selectors import two_step_required_for

RECOVERY_CODE_COUNT = 10
#: A recovery code's characters: lowercase letters and digits without the
#: look-alikes (0/o, 1/l/i), 12 of them (60 bits), written in groups of four.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 12
#: TOTP as every authenticator app does it by default: 6 digits every 30 s,
#: and a code of the step before or after is accepted (clocks differ).
TOTP_TOLERANCE = 1


class TwoStepError(Exception):
    """A code was refused, or a change of a two-step login is not allowed;
    the message says why, fit for the person."""


def totp_key_new() -> str:
    """A new TOTP secret, hex-encoded as django-otp keeps it (20 bytes, as RFC 4226 advises)."""
    return secrets.token_hex(20)


def totp_key_base32(key: str) -> str:
    """The secret as authenticator apps take it when typed, in groups of four."""
    encoded = base64.b32encode(binascii.unhexlify(key)).decode("ascii").rstrip("=")
    return " ".join(encoded[index : index + 4] for index in range(0, len(encoded), 4))


def totp_setup_url(*, user: User, key: str) -> str:
    """The ``otpauth://`` URL an authenticator app reads from the QR code."""
    return str(EncryptedTOTPDevice(user=user, key=key).config_url)


def _digits(code: str) -> str | None:
    compact = "".join(code.split())
    return compact if compact.isdigit() and len(compact) == 6 else None


@dataclass(frozen=True)
class Enrolment:
    """A two-step login just turned on: the app's device, and the recovery
    codes in clear text, the only time they exist outside the person's hands."""

    device: EncryptedTOTPDevice
    recovery_codes: list[str]


def totp_enrol(*, user: User, key: str, code: str) -> Enrolment:
    """Turn on the two-step login of ``user`` with the app that holds ``key``,
    once it proves so with a current ``code``."""
    digits = _digits(code)
    try:
        totp = TOTP(binascii.unhexlify(key))
    except (binascii.Error, ValueError):
        raise TwoStepError("This setup has expired: start again.") from None
    totp.time = time.time()
    if digits is None or not totp.verify(int(digits), tolerance=TOTP_TOLERANCE):
        raise TwoStepError(
            "That is not the app's current code: type the 6 digits it shows now "
            "(and check that your phone's clock is right)."
        )
    with transaction.atomic():
        # One app per person: the row lock makes two enrolments at once meet here.
        User.objects.select_for_update().filter(pk=user.pk).first()
        if EncryptedTOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise TwoStepError("Two-step login is already on for your account.")
        EncryptedTOTPDevice.objects.filter(user=user).delete()
        device = EncryptedTOTPDevice.objects.create(
            user=user,
            name="Authenticator app",
            key=key,
            confirmed=True,
            tolerance=TOTP_TOLERANCE,
            drift=totp.drift,
            # The code that confirmed it cannot log in as well.
            last_t=totp.t(),
        )
        return Enrolment(device=device, recovery_codes=_recovery_codes_replace(user))


def _recovery_codes_replace(user: User) -> list[str]:
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[index : index + 4] for index in range(0, RECOVERY_CODE_LENGTH, 4)))
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, code_hash=recovery_code_hash(code)) for code in codes
    )
    return codes


def two_step_verify(*, user: User, code: str) -> Device:
    """The device that accepts ``code`` for ``user``: their app (6 digits) or
    one of their recovery codes (used up by this). Refused: ``TwoStepError``."""
    digits = _digits(code)
    model: type[Device] = EncryptedTOTPDevice if digits is not None else RecoveryCodeDevice
    with transaction.atomic():
        if not EncryptedTOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise TwoStepError("Two-step login is not on for this account.")
        device = model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        if device is None:
            raise TwoStepError("That code is not right.")
        allowed, details = device.verify_is_allowed()
        if not allowed:
            until = timezone.localtime(details["locked_until"])
            raise TwoStepError(
                f"Too many wrong codes in a row: the next one is checked from {until:%H:%M:%S %Z}."
            )
        if device.verify_token(digits if digits is not None else code):
            return device
    raise TwoStepError(
        "That code is not right."
        if digits is not None
        else "That recovery code is not right, or it was used already."
    )


def recovery_codes_renew(*, user: User, code: str) -> list[str]:
    """New recovery codes for ``user`` (the old ones stop working), once a
    current code proves it is them; returned in clear text, once."""
    two_step_verify(user=user, code=code)
    with transaction.atomic():
        return _recovery_codes_replace(user)


def two_step_disable(*, user: User, code: str) -> None:
    """Turn off the two-step login of ``user``, once a current code proves it
    is them; not for whom ``SQUADRON_REQUIRE_MFA`` requires one."""
    if two_step_required_for(user):
        raise TwoStepError("Your role requires two-step login: it cannot be turned off.")
    two_step_verify(user=user, code=code)
    with transaction.atomic():
        EncryptedTOTPDevice.objects.filter(user=user).delete()
        RecoveryCodeDevice.objects.filter(user=user).delete()
