"""What other domains decide when an instance changes hands, without this
domain importing them.

The consumption domain (business units and quotas) reads instances; this
domain must not import it back. So it registers here, when the portal app
is ready (``portal.apps``), a *handover check*: asked inside the
acceptance's transaction, with the instance's row locked, before the new
owner is written. It may refuse the handover by raising an ``OrderError``
(the recipient must choose a business unit; their unit's quota is full),
which rolls the acceptance back, or name columns of the instance that change
with its owner (``business_unit_id``) and say so on its history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User

if TYPE_CHECKING:  # the instance models import nothing from here
    from portal.instances.models import ServiceInstance


@dataclass(frozen=True)
class Handover:
    """What a handover check decided: the instance's columns that change
    with its owner, and a sentence for its history (empty: nothing to say)."""

    columns: dict[str, Any] = field(default_factory=dict)
    note: str = ""


HandoverCheck = Callable[["ServiceInstance", User, "str | None"], Handover]

_handover_checks: dict[str, HandoverCheck] = {}


def instance_handover_register(name: str, check: HandoverCheck) -> None:
    """Ask ``check`` at every acceptance from now on (registering a name
    again replaces it: the app's ready() may run twice in tests)."""
    _handover_checks[name] = check


def instance_handover(instance: ServiceInstance, recipient: User, business_unit: str | None) -> Handover:
    """Every registered check's verdict on handing ``instance`` to
    ``recipient`` (who may have named the business unit to charge it to),
    together. A check that refuses raises, and nothing changes hands."""
    columns: dict[str, Any] = {}
    notes: list[str] = []
    for check in _handover_checks.values():
        verdict = check(instance, recipient, business_unit)
        columns.update(verdict.columns)
        if verdict.note:
            notes.append(verdict.note)
    return Handover(columns=columns, note="; ".join(notes))
