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


#: The columns a log view needs; ``event_data`` can be large and is left out.
LOG_COLUMNS = ("id", "run_id", "counter", "event", "host", "task", "stdout", "failed")


def run_events_page(
    *, run_id: int, limit: int, before_counter: int | None = None
) -> tuple[list[RunEvent], bool]:
    """The last ``limit`` events of a run (before ``before_counter`` if given),
    in order, and whether earlier ones exist: the tail of a long log and the
    pages a reader loads above it. One query on the (run, counter) index,
    however long the run."""
    queryset = RunEvent.objects.filter(run_id=run_id).only(*LOG_COLUMNS).order_by("-counter")
    if before_counter is not None:
        queryset = queryset.filter(counter__lt=before_counter)
    rows = list(queryset[: limit + 1])
    has_earlier = len(rows) > limit
    return list(reversed(rows[:limit])), has_earlier
