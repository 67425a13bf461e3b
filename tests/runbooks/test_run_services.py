"""The run lifecycle services: guarded moves, races, the lost-worker sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runbooks.choices import CancelOutcome, RunStatus
from runbooks.models import Run, RunEvent
from runbooks.services import (
    WORKER_LOST,
    RunError,
    run_claim,
    run_create,
    run_events_append,
    run_finish,
    run_heartbeat,
    run_request_cancel,
    runs_mark_lost,
)
from tests.factories import RunbookFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run() -> Run:
    runbook = RunbookFactory()
    return run_create(runbook_version=runbook.current_version, masked_inputs={"name": "web"})


def test_new_run_is_pending_with_its_masked_inputs(run):
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    assert run.masked_inputs == {"name": "web"}
    assert run.started_at is None and run.worker == ""


def test_claim_marks_running_once(run):
    assert run_claim(run_id=run.pk, worker="host-a:1") is True
    assert run_claim(run_id=run.pk, worker="host-b:2") is False

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.worker == "host-a:1"
    assert run.started_at is not None and run.heartbeat_at == run.started_at


def test_cancelled_pending_run_cannot_be_claimed(run):
    assert run_request_cancel(run=run) == CancelOutcome.CANCELLED

    assert run_claim(run_id=run.pk, worker="host-a:1") is False
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.started_at is None and run.finished_at is not None


def test_cancel_of_running_run_is_a_request_the_executor_acts_on(run):
    run_claim(run_id=run.pk, worker="host-a:1")

    assert run_request_cancel(run=run) == CancelOutcome.REQUESTED
    first_request = Run.objects.get(pk=run.pk).cancel_requested_at
    assert run_request_cancel(run=run) == CancelOutcome.ALREADY_REQUESTED

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.cancel_requested_at == first_request is not None


def test_finished_run_cannot_be_cancelled(run):
    run_claim(run_id=run.pk, worker="host-a:1")
    run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0)
    before = Run.objects.values().get(pk=run.pk)

    with pytest.raises(RunError, match="already succeeded"):
        run_request_cancel(run=run)

    assert Run.objects.values().get(pk=run.pk) == before


def test_finish_records_the_outcome(run):
    run_claim(run_id=run.pk, worker="host-a:1")
    stats = {"localhost": {"ok": 1, "failures": 1}}

    assert run_finish(run_id=run.pk, status=RunStatus.FAILED, rc=2, stats=stats, failure_reason="boom")

    run.refresh_from_db()
    assert (run.status, run.rc, run.stats, run.failure_reason) == (RunStatus.FAILED, 2, stats, "boom")
    assert run.finished_at is not None


def test_finish_refuses_a_run_that_is_not_running(run):
    with pytest.raises(RunError, match="not running"):
        run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0)
    assert Run.objects.get(pk=run.pk).status == RunStatus.PENDING


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.LOST])
def test_finish_refuses_a_status_that_is_not_an_outcome(run, status):
    run_claim(run_id=run.pk, worker="host-a:1")
    with pytest.raises(RunError):
        run_finish(run_id=run.pk, status=status)
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING


def test_finish_does_not_overwrite_a_lost_run(run):
    run_claim(run_id=run.pk, worker="host-a:1")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert runs_mark_lost(stale_after=timedelta(minutes=1)) == [run.pk]

    assert run_finish(run_id=run.pk, status=RunStatus.SUCCEEDED, rc=0) is False

    run.refresh_from_db()
    assert run.status == RunStatus.LOST
    assert run.failure_reason == WORKER_LOST
    assert run.rc is None


def test_mark_lost_takes_stale_runs_and_leaves_fresh_ones():
    runbook = RunbookFactory()
    stale, fresh, pending = (
        run_create(runbook_version=runbook.current_version, masked_inputs={}) for _ in range(3)
    )
    run_claim(run_id=stale.pk, worker="dead:1")
    run_claim(run_id=fresh.pk, worker="alive:2")
    Run.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=90))

    assert runs_mark_lost(stale_after=timedelta(seconds=60)) == [stale.pk]

    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: RunStatus.LOST, fresh.pk: RunStatus.RUNNING, pending.pk: RunStatus.PENDING}
    assert Run.objects.get(pk=stale.pk).finished_at is not None
    assert runs_mark_lost(stale_after=timedelta(seconds=60)) == []


def test_heartbeat_keeps_a_run_from_being_lost(run):
    run_claim(run_id=run.pk, worker="host-a:1")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=90))

    assert run_heartbeat(run_id=run.pk) is True

    assert runs_mark_lost(stale_after=timedelta(seconds=60)) == []
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING


def test_heartbeat_of_a_lost_run_tells_the_executor_to_stop(run):
    run_claim(run_id=run.pk, worker="host-a:1")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=90))
    runs_mark_lost(stale_after=timedelta(seconds=60))

    assert run_heartbeat(run_id=run.pk) is False
    assert Run.objects.get(pk=run.pk).status == RunStatus.LOST


def test_appended_events_are_counted_on_the_run(run):
    now = timezone.now()
    batch = [RunEvent(run=run, counter=n, event="verbose", created_at=now) for n in (1, 2, 3)]

    run_events_append(run_id=run.pk, events=batch)
    run_events_append(run_id=run.pk, events=[RunEvent(run=run, counter=4, event="verbose", created_at=now)])

    assert Run.objects.get(pk=run.pk).event_count == 4
    assert list(run.events.values_list("counter", flat=True)) == [1, 2, 3, 4]
