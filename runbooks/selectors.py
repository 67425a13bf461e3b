"""Reads about runs that need care (ordering, paging, the executor's polling)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db.models import QuerySet

from runbooks.models import Run, RunEvent


class RunControl(NamedTuple):
    """What the executor polls while a playbook runs."""

    status: str
    cancel_requested_at: datetime | None


def run_control(*, run_id: int) -> RunControl | None:
    """The status and cancel request of a run, in one narrow query (the
    executor asks several times a second)."""
    row = Run.objects.filter(pk=run_id).values_list("status", "cancel_requested_at").first()
    return RunControl(*row) if row else None


def run_events(*, run_id: int, after_counter: int = 0) -> QuerySet[RunEvent]:
    """A run's events in the order Ansible emitted them, from the one after
    ``after_counter`` on: a live page polls with the last counter it has."""
    return RunEvent.objects.filter(run_id=run_id, counter__gt=after_counter).order_by("counter")


def runbooks_listed() -> QuerySet:
    """Every runbook with its squad and current version (no playbook text)."""
    from runbooks.models import Runbook

    return (
        Runbook.objects.select_related("squad", "current_version")
        .defer("current_version__content")
        .order_by("squad__name", "name", "id")
    )
