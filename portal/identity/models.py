"""What a two-step login keeps besides django-otp's TOTP device (recovery
codes), and the group mappings with the record of what they granted."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

# The authenticator app's device, encrypted at rest, lives in its own module.
from portal.identity.totp import EncryptedTOTPDevice  # noqa: F401
from squads.choices import Role


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


class OidcIdentity(models.Model):
    """Who a person is at an OpenID provider: the provider's issuer and the
    subject it gives them, which never changes and is never reused (unlike an
    email address or a username, which the provider lets people change).
    A single sign-on finds its account by this alone, so an account created
    here, or someone else's, is never taken over because a claim matches it.

    ``refresh_token`` (encrypted, ``runbooks.crypto``) is how Squadron asks
    the provider, between logins, whether the person is still allowed in."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    refresh_token = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_once")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class GroupMapping(models.Model):
    """What belonging to a group at the identity provider (OpenID Connect's
    groups claim, LDAP's group search) grants in Squadron: a seat in a squad
    with a role, a chapter, or a business unit. Curated by platform leads
    and superusers in the admin and in the catalogue file (``group_mappings``);
    applied at each login (``portal.identity.mapping``)."""

    group = models.CharField(
        max_length=255, help_text="The group's name as the identity provider sends it (any case)."
    )
    squad = models.ForeignKey(
        "squads.Squad", on_delete=models.CASCADE, null=True, blank=True, related_name="group_mappings"
    )
    role = models.CharField(
        max_length=32,
        choices=Role.choices,
        blank=True,
        help_text="The role in the squad (a squad needs one).",
    )
    chapter = models.ForeignKey(
        "squads.Chapter", on_delete=models.CASCADE, null=True, blank=True, related_name="group_mappings"
    )
    business_unit = models.ForeignKey(
        "portal.BusinessUnit", on_delete=models.CASCADE, null=True, blank=True, related_name="group_mappings"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group", "id"]
        constraints = [
            models.CheckConstraint(
                name="group_mapping_one_target",
                condition=(
                    Q(squad__isnull=False, chapter__isnull=True, business_unit__isnull=True)
                    | Q(squad__isnull=True, chapter__isnull=False, business_unit__isnull=True)
                    | Q(squad__isnull=True, chapter__isnull=True, business_unit__isnull=False)
                ),
            ),
            models.CheckConstraint(
                name="group_mapping_role_with_squad",
                condition=Q(squad__isnull=True, role="") | (Q(squad__isnull=False) & ~Q(role="")),
            ),
            models.UniqueConstraint(fields=["group", "squad"], name="group_mapping_unique_squad"),
            models.UniqueConstraint(fields=["group", "chapter"], name="group_mapping_unique_chapter"),
            models.UniqueConstraint(fields=["group", "business_unit"], name="group_mapping_unique_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.target_label()}"

    def target_label(self) -> str:
        if self.squad_id is not None:
            return f"squad {self.squad} as {self.get_role_display()}"
        if self.chapter_id is not None:
            return f"chapter {self.chapter}"
        return f"business unit {self.business_unit}"

    def clean(self) -> None:
        targets = [self.squad_id, self.chapter_id, self.business_unit_id]
        if sum(target is not None for target in targets) != 1:
            raise ValidationError(
                "A mapping grants exactly one of: a squad (with a role), a chapter, a business unit."
            )
        if self.squad_id is not None and not self.role:
            raise ValidationError({"role": "A squad's mapping names the role its members get."})
        if self.squad_id is None and self.role:
            raise ValidationError({"role": "Only a squad's mapping has a role."})


class MembershipChange(models.Model):
    """One membership that a group mapping granted, changed or withdrew at
    someone's login: who gained or lost what, when, through which identity
    provider and because of which groups. Kept as text, so the record
    outlives the squad, unit or person it names."""

    class Action(models.TextChoices):
        GRANTED = "granted", "Granted"
        CHANGED = "changed", "Role changed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Kind(models.TextChoices):
        SQUAD = "squad", "Squad"
        CHAPTER = "chapter", "Chapter"
        BUSINESS_UNIT = "business_unit", "Business unit"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    username = models.CharField(max_length=150)
    source = models.CharField(max_length=16, help_text="The identity provider: oidc or ldap.")
    action = models.CharField(max_length=16, choices=Action.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=64, help_text="The squad's, chapter's or unit's slug.")
    role = models.CharField(max_length=32, blank=True)
    groups = models.TextField(blank=True, help_text="The person's groups that map to it (a grant).")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.username}: {self.action} {self.kind} {self.target}"
