"""An entry of the audit trail: append-only."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AuditTrailIsAppendOnly(Exception):
    """An attempt to change or delete what the audit trail recorded."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Entries can be added and read, never updated or deleted in bulk."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditTrailIsAppendOnly("Audit entries cannot be changed.")

    def delete(self) -> NoReturn:
        raise AuditTrailIsAppendOnly("Audit entries cannot be deleted.")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise AuditTrailIsAppendOnly("Audit entries cannot be changed.")


class AuditEntry(models.Model):
    """One change of something audited (a product, runbook, credential,
    squad, membership, business unit, quota, webhook, token, group mapping,
    account) or one login event: who, when, from where, what, before and after.

    Nothing points at the object or the actor with a foreign key: an entry
    outlives both, and deleting them must not cascade into the trail."""

    class Action(models.TextChoices):
        CREATED = "created"
        CHANGED = "changed"
        DELETED = "deleted"
        LOGGED_IN = "logged_in", "logged in"
        LOGIN_FAILED = "login_failed", "login failed"
        LOCKED_OUT = "locked_out", "locked out"
        LOCKOUT_LIFTED = "lockout_lifted", "lock-out lifted"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.IntegerField(null=True, blank=True, help_text="The acting user's id, if a user acted.")
    actor = models.CharField(
        max_length=150, help_text="The acting user's username, or the command, task or 'system'."
    )
    via = models.CharField(max_length=16, help_text="web, admin, api, task, command or system.")
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The client's address.")
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=100, help_text="app_label.model of what changed.")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> {before, after}.")
    note = models.TextField(blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
            models.Index(fields=["actor", "-at"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditTrailIsAppendOnly("Audit entries cannot be deleted.")
