"""The authenticator app of a two-step login, its secret encrypted at rest.

django-otp's own ``TOTPDevice`` keeps the TOTP seed in clear text: whoever
reads the database (a backup, a replica, a support dump) could compute every
person's codes. This device is django-otp's TOTP device field for field,
with the seed encrypted by the credential key (``runbooks.crypto``, so
``SQUADRON_CREDENTIAL_KEY`` rotation covers it too); django-otp still
verifies the codes, with its own TOTP code (throttling, drift, replay).
"""

from __future__ import annotations

from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from runbooks.crypto import decrypt_json, encrypt_json


class EncryptedTOTPDevice(TimestampMixin, ThrottlingMixin, Device):
    """A person's authenticator app (one per person): the secret it shares
    with Squadron, encrypted, and django-otp's TOTP settings and counters."""

    # django-otp ships no types: the fields say theirs.

    key_ciphertext: models.TextField[str, str] = models.TextField(
        help_text="The hex-encoded secret, encrypted with the credential key."
    )
    step: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(
        default=30, help_text="The time step in seconds."
    )
    t0: models.BigIntegerField[int, int] = models.BigIntegerField(
        default=0, help_text="The Unix time at which to begin counting steps."
    )
    digits: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(
        choices=[(6, 6), (8, 8)], default=6, help_text="The number of digits to expect in a token."
    )
    tolerance: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(
        default=1, help_text="The number of time steps in the past or future to allow."
    )
    drift: models.SmallIntegerField[int, int] = models.SmallIntegerField(
        default=0, help_text="The number of time steps the prover is known to deviate from our clock."
    )
    last_t: models.BigIntegerField[int, int] = models.BigIntegerField(
        default=-1, help_text="The time step of the last verified code: the next must be later."
    )

    class Meta(Device.Meta):
        verbose_name = "TOTP device"

    @property
    def key(self) -> str:
        """The secret, hex-encoded as django-otp's TOTP device has it."""
        return str(decrypt_json(self.key_ciphertext))

    @key.setter
    def key(self, value: str) -> None:
        self.key_ciphertext = encrypt_json(value)

    # django-otp's TOTP device reads the secret only through ``bin_key``
    # (from ``key``): its code checks, throttling and otpauth:// URL work
    # unchanged on the decrypted secret, with nothing copied that could drift.
    bin_key = TOTPDevice.bin_key
    verify_token = TOTPDevice.verify_token
    get_throttle_factor = TOTPDevice.get_throttle_factor
    config_url = TOTPDevice.config_url
    _read_str_from_settings = TOTPDevice._read_str_from_settings
