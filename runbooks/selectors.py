"""Reads about runs that need care (ordering, paging, the executor's polling)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db.models import Case, F, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Concat, Left, Length, Right

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
#: Events the download reads at a time: its memory stays flat however long the log.
LOG_DOWNLOAD_CHUNK = 500


def _shown_stdout(limit: int) -> Case:
    """An event's output as a page shows it, cut in the database: its head
    and, three times longer, its tail (where a failing command says why),
    so that a task that printed megabytes costs a page only ``limit``
    characters. The download has all of it."""
    head = limit // 4
    return Case(
        When(
            shown_length__gt=limit,
            then=Concat(
                Left("stdout", head),
                Value("\n[… "),
                Cast(F("shown_length") - limit, output_field=TextField()),
                Value(" characters of output left out here: Download full log has all of it …]\n"),
                Right("stdout", limit - head),
                output_field=TextField(),
            ),
        ),
        default=F("stdout"),
        output_field=TextField(),
    )


def _as_shown(queryset: QuerySet[RunEvent]) -> QuerySet[RunEvent]:
    """``queryset``'s events for a page: the log's columns, each output
    abbreviated to ``SQUADRON_EVENT_STDOUT_LIMIT`` by the database."""
    columns = [column for column in LOG_COLUMNS if column != "stdout"]
    return (
        queryset.only(*columns)
        .alias(shown_length=Length("stdout"))
        .annotate(shown_stdout=_shown_stdout(settings.SQUADRON_EVENT_STDOUT_LIMIT))
    )


def events_as_shown(queryset: QuerySet[RunEvent]) -> QuerySet[RunEvent]:
    """``queryset``'s events with ``shown_stdout``: each output abbreviated
    by the database as a page shows it (head and tail), so a list of events
    weighs at most a page's worth of output per event however much a
    playbook printed (an event may store megabytes: the full log download
    streams those)."""
    return (
        queryset.defer("stdout")
        .alias(shown_length=Length("stdout"))
        .annotate(shown_stdout=_shown_stdout(settings.SQUADRON_EVENT_STDOUT_LIMIT))
    )


def _shown(rows: list[RunEvent]) -> list[RunEvent]:
    for row in rows:
        row.stdout = row.shown_stdout  # type: ignore[attr-defined]  # annotated by _as_shown
    return rows


def run_events_page(
    *, run_id: int, limit: int, before_counter: int | None = None
) -> tuple[list[RunEvent], bool]:
    """The last ``limit`` events of a run (before ``before_counter`` if given),
    in order, and whether earlier ones exist: the tail of a long log and the
    pages a reader loads above it. One query on the (run, counter) index,
    however long the run; each output abbreviated as a page shows it."""
    queryset = _as_shown(RunEvent.objects.filter(run_id=run_id)).order_by("-counter")
    if before_counter is not None:
        queryset = queryset.filter(counter__lt=before_counter)
    rows = _shown(list(queryset[: limit + 1]))
    has_earlier = len(rows) > limit
    return list(reversed(rows[:limit])), has_earlier


def run_events_shown(*, run_id: int, after_counter: int, limit: int) -> list[RunEvent]:
    """Up to ``limit`` events after ``after_counter`` (a live page's poll),
    each output abbreviated as a page shows it."""
    return _shown(list(_as_shown(run_events(run_id=run_id, after_counter=after_counter))[:limit]))


def run_output(*, run_id: int, chunk: int = LOG_DOWNLOAD_CHUNK) -> Iterator[RunEvent]:
    """Every event of a run with all of its stored output, in order, read
    ``chunk`` events at a time by counter (one query per chunk, on the
    (run, counter) index; no cursor held open between them): the download."""
    after = 0
    while True:
        rows = list(run_events(run_id=run_id, after_counter=after).only(*LOG_COLUMNS)[:chunk])
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].counter
