"""What a two-step login keeps besides django-otp's TOTP device: recovery codes."""

from __future__ import annotations

import hashlib

from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

# The authenticator app's device, encrypted at rest, lives in its own module.
from portal.identity.totp import EncryptedTOTPDevice

__all__ = ["EncryptedTOTPDevice", "RecoveryCode", "RecoveryCodeDevice", "recovery_code_hash"]


def recovery_code_hash(code: str) -> str:
    """The SHA-256 of a recovery code as typed, spaces and dashes aside and
    in any case. A code is 60 random bits (like an API token's key, too many to
    try): a fast hash suffices, and a leaked database gives none away."""
    normalized = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A person's recovery codes, seen by django-otp as one more device: each
    code logs in once in place of the authenticator app's code, for whoever
    lost their phone. django-otp's own static device keeps its codes in clear
    text; this one keeps only their hashes."""

    class Meta(Device.Meta):
        verbose_name = "recovery codes"
        verbose_name_plural = "recovery codes"

    def get_throttle_factor(self) -> int:
        # Wrong codes in a row wait 1, 2, 4, ... seconds, as TOTP's do.
        return 1

    def verify_token(self, token: str) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        # The delete is the check: of two logins racing with one code, one deletes it.
        deleted, _ = self.codes.filter(code_hash=recovery_code_hash(token)).delete()
        if deleted:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment()
        return False


class RecoveryCode(models.Model):
    """One unused recovery code, as its hash; used, it is deleted."""

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "code_hash"], name="recovery_code_once")]

    def __str__(self) -> str:
        return f"recovery code of {self.device_id}"
