"""The audit trail's entry point for every package: ``record()`` says that
something changed; ``portal.audit`` keeps it, with who, when and from where.

It lives here, in the lowest package, because squads, runbooks and the
catalogue change audited things too and must not import the portal: they
send ``changed`` and know nothing of who listens. The portal connects the
one receiver that stores it, in the same transaction as the change (a
signal is a plain function call), so a change that is rolled back leaves no
entry either.

Saves and deletes of the audited models are recorded by ``portal.audit``
itself; a change made another way (a conditional ``UPDATE`` on a queryset, an
event that is no row: a login, a grant by a group mapping) calls
``record()``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.dispatch import Signal
from django.utils.crypto import salted_hmac

#: Sent with ``action`` (str), ``target`` (the model instance the change is
#: about), ``changes`` (field -> ``{"before": ..., "after": ...}``) and
#: ``note`` (str).
changed = Signal()

#: What a secret's before and after read as: never its value.
SECRET_BEFORE = "(secret)"  # noqa: S105 (a label, not a secret)
SECRET_CHANGED = "secret changed"  # noqa: S105


def record(
    *, action: str, target: Model, changes: dict[str, dict[str, Any]] | None = None, note: str = ""
) -> None:
    """Put on the audit trail that ``action`` happened to ``target``:
    ``changes`` maps each field to its ``before`` and ``after`` (a secret's
    value never: use ``secret_changed()``)."""
    changed.send(sender=type(target), action=action, target=target, changes=changes or {}, note=note)


def secret_changed(field: str) -> dict[str, dict[str, Any]]:
    """The ``changes`` of a secret that was replaced: it changed, not to what."""
    return {field: {"before": SECRET_BEFORE, "after": SECRET_CHANGED}}


def unknown_name(typed: str) -> str:
    """How the trail names a login name no account has. Not as typed: people
    type their password in the name field, and the trail is read by every
    platform lead and exported. A keyed digest instead, the same for the same
    name, so that repeated guesses at one name can still be told apart."""
    digest = salted_hmac("squadron.audit.unknown-name", typed, algorithm="sha256").hexdigest()[:10]
    return f"unknown name #{digest}"
