"""Saves and deletes of the audited models, recorded with their fields
before and after, whichever path made them: a service, the admin's forms and
inlines, the catalogue import, the API, a shell. Watching the models rather
than each caller means a new path cannot forget the trail.

A change made without ``save()`` (a conditional ``UPDATE``) is recorded by
its service with ``squads.audit.record()``.

The row before a change is read in ``pre_save`` (one query per save of an
audited model: these change at human pace, never in a hot loop).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from squads.audit import SECRET_BEFORE, SECRET_CHANGED, record

#: The models whose every change is on the trail, by label. A label that
#: names no model stops the service at start (``audited_models``): a typo
#: must not quietly leave a model off the trail.
AUDITED = (
    "squads.Squad",
    "squads.Membership",
    "squads.Chapter",
    "squads.ChapterMembership",
    "runbooks.Runbook",
    "runbooks.RunbookVersion",
    "runbooks.Credential",
    "catalogue.Category",
    "catalogue.Product",
    "catalogue.Operation",
    "catalogue.ApprovalStep",
    "catalogue.ChoiceList",
    "catalogue.ChoiceItem",
    "portal.BusinessUnit",
    "portal.BusinessUnitMembership",
    "portal.Quota",
    "portal.ApiToken",
    "portal.WebhookSubscription",
    "identity.GroupMapping",
    # A two-step login turned on or off (its secret never: only that it was set).
    "identity.EncryptedTOTPDevice",
    # An account linked to (or unlinked from) a single sign-on identity.
    "identity.OidcIdentity",
    "auth.User",
)

#: Fields whose value never reaches the trail: that they changed does.
SECRET_MARKERS = ("secret", "ciphertext", "password", "key_hash")
#: Fields that change without anyone changing the object (a login, a code checked).
IGNORED = frozenset(
    {
        "last_used_at",
        "last_login",
        "updated_at",
        "last_t",
        "drift",
        "throttling_failure_timestamp",
        "throttling_failure_count",
        # A single sign-on identity's: the provider rotates its token at each login.
        "refresh_token",
        "last_login_at",
    }
)
#: A value longer than this (a playbook, a form schema) is kept cut.
MAX_VALUE_LENGTH = 4000

_BEFORE = "_squadron_audit_before"


def is_secret(field_name: str) -> bool:
    return any(marker in field_name for marker in SECRET_MARKERS)


def _plain(value: Any) -> Any:
    """A field's value as JSON keeps it, long text cut."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        return value[:MAX_VALUE_LENGTH] + f"… ({len(value)} characters)"
    if isinstance(value, dict | list):
        text = repr(value)
        if len(text) > MAX_VALUE_LENGTH:
            return text[:MAX_VALUE_LENGTH] + f"… ({len(text)} characters)"
    return value


def _tracked_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key
        and field.name not in IGNORED
        and not getattr(field, "auto_now", False)
        and not getattr(field, "auto_now_add", False)
    ]


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The tracked fields' raw values (a foreign key's id)."""
    return {field.attname: getattr(instance, field.attname) for field in _tracked_fields(type(instance))}


def _shown(instance: models.Model, attname: str, value: Any) -> Any:
    """How a value reads on the trail: a foreign key as its object's name and id."""
    field = next(field for field in _tracked_fields(type(instance)) if field.attname == attname)
    related_model = field.related_model
    if field.is_relation and value is not None and isinstance(related_model, type):
        related = related_model._default_manager.filter(pk=value).first()
        return f"{related} (#{value})" if related is not None else f"#{value}"
    return _plain(value)


def diff(instance: models.Model, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, dict]:
    """field -> {before, after} for what differs; secrets as 'secret changed'."""
    changes: dict[str, dict] = {}
    for attname, new in after.items():
        old = before.get(attname) if before is not None else None
        if before is not None and old == new:
            continue
        if before is None and new in (None, ""):
            continue
        name = attname.removesuffix("_id") if attname.endswith("_id") else attname
        if is_secret(attname):
            if before is None:
                changes[name] = {"before": None, "after": "secret set"}
            else:
                changes[name] = {"before": SECRET_BEFORE, "after": SECRET_CHANGED}
            continue
        changes[name] = {
            "before": _shown(instance, attname, old) if before is not None else None,
            "after": _shown(instance, attname, new),
        }
    return changes


def _before_save(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    stored = sender._default_manager.filter(pk=instance.pk).first()
    setattr(instance, _BEFORE, snapshot(stored) if stored is not None else None)


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    before = None if created else getattr(instance, _BEFORE, None)
    if hasattr(instance, _BEFORE):
        delattr(instance, _BEFORE)
    after = snapshot(instance)
    saved_only = kwargs.get("update_fields")
    if saved_only is not None and before is not None:
        # Only these were written: the others may differ in memory, not in the row.
        written = {field.attname for field in _tracked_fields(type(instance)) if field.name in saved_only}
        after = {attname: value for attname, value in after.items() if attname in written}
    changes = diff(instance, before, after)
    if not created and not changes:
        return  # saved as it was, or only what changes by itself
    record(action="created" if created else "changed", target=instance, changes=changes)


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    changes = {
        change_name: {"before": change["after"], "after": None}
        for change_name, change in diff(instance, None, snapshot(instance)).items()
    }
    for change in changes.values():
        if change["before"] == "secret set":
            change["before"] = SECRET_BEFORE
    record(action="deleted", target=instance, changes=changes)


def _members_changed(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[Any] | None,
    **kwargs: Any,
) -> None:
    """A many-to-many field (a chapter's members, a product's dependencies,
    a runbook's credentials) gained or lost some."""
    if action not in ("post_add", "post_remove", "pre_clear") or reverse:
        return
    if action != "post_add" and _is_audited(sender):
        # Rows of an audited through model (a squad's or a chapter's
        # memberships) are deleted one by one, each on the trail already;
        # only an add (a bulk insert, which sends no save signal) is not.
        return
    field = next(
        (field for field in type(instance)._meta.many_to_many if field.remote_field.through is sender), None
    )
    if field is None:
        return
    if action == "pre_clear":
        # Before the clear, while what it removes can still be named.
        names = sorted(str(row) for row in getattr(instance, field.name).all())
    else:
        names = sorted(str(row) for row in model._default_manager.filter(pk__in=pk_set or ()))
    if not names:
        return
    if action == "post_add":
        changes = {field.name: {"before": None, "after": {"added": names}}}
    else:
        changes = {field.name: {"before": {"removed": names}, "after": None}}
    record(action="changed", target=instance, changes=changes)


def _is_audited(model: type[models.Model]) -> bool:
    return model._meta.label in AUDITED


def audited_models() -> list[type[models.Model]]:
    found = []
    for label in AUDITED:
        try:
            found.append(apps.get_model(label))
        except LookupError:
            raise ImproperlyConfigured(f"AUDITED names {label!r}, which is no model") from None
    return found


def connect() -> None:
    for model in audited_models():
        uid = f"squadron-audit-{model._meta.label_lower}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid)
        post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            if through is not None:
                m2m_changed.connect(_members_changed, sender=through, dispatch_uid=f"{uid}-{field.name}")
