"""Putting entries on the audit trail (the only way in: entries are never
changed or deleted)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Model
from django.http import HttpRequest

from portal.audit.context import Actor, current_actor, via_of
from portal.audit.models import AuditEntry
from portal.identity.throttling import client_address
from squads.audit import unknown_name

_REPR_LENGTH = AuditEntry._meta.get_field("object_repr").max_length or 300


def entry_record(
    *, action: str, target: Model, changes: dict, note: str = "", actor: Actor | None = None
) -> AuditEntry:
    """An entry for ``action`` on ``target`` by whoever acts now (the request,
    task or command: ``portal.audit.context``)."""
    actor = actor or current_actor()
    return AuditEntry.objects.create(
        actor_id=actor.user_id,
        actor=actor.name[:150],
        via=actor.via,
        address=actor.address,
        action=action,
        object_type=target._meta.label_lower,
        object_id=str(target.pk) if target.pk is not None else "",
        object_repr=str(target)[:_REPR_LENGTH],
        changes=changes,
        note=note,
    )


def login_event_record(
    request: HttpRequest | None, *, action: str, username: str, user_id: int | None = None, note: str = ""
) -> AuditEntry:
    """A login, failed login or lock-out of ``username``; a name no account
    has is recorded as ``unknown_name`` of it, never as typed."""
    if user_id is None and username:
        user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    if user_id is None and username:
        username = unknown_name(username)
    actor = current_actor()
    if request is not None:
        actor = Actor(
            user_id=user_id if action == "logged_in" else actor.user_id,
            name=username[:150] if action == "logged_in" else actor.name,
            via=via_of(request),
            address=client_address(request),
        )
    return AuditEntry.objects.create(
        actor_id=actor.user_id,
        actor=actor.name[:150],
        via=actor.via,
        address=actor.address,
        action=action,
        object_type=User._meta.label_lower,
        object_id=str(user_id) if user_id is not None else "",
        object_repr=username[:150],
        changes={},
        note=note,
    )
