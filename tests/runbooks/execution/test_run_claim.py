"""A run is claimed once: a delivery that arrives twice or two at once run
the playbook once, another worker's run and a run cancelled before it
started are not run at all."""

from __future__ import annotations

import pytest

from runbooks.choices import RunStatus
from runbooks.models import Run
from runbooks.services import run_claim, run_request_cancel
from tests.runbooks import make_run, output_of
from tests.runbooks.execution import execute, execute_in_thread, finish


@pytest.mark.django_db
def test_cancelled_pending_run_never_starts(dirs):
    runs_dir, output_dir = dirs
    run = make_run("append")
    run_request_cancel(run=run)

    run = execute(run)

    assert run.status == RunStatus.CANCELLED
    assert run.started_at is None
    assert run.event_count == 0 and not run.events.exists()
    assert not (output_of(output_dir, run) / f"appended-{run.pk}").exists()
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []


@pytest.mark.django_db
def test_a_delivery_that_arrives_twice_runs_the_playbook_once(dirs):
    _, output_dir = dirs
    run = make_run("append")

    first = execute(run)
    second = execute(run)

    assert first.status == second.status == RunStatus.SUCCEEDED
    assert (output_of(output_dir, run) / f"appended-{run.pk}").read_text().splitlines() == ["executed"]
    assert second.event_count == first.event_count
    assert run_claim(run_id=run.pk, worker="late:1") is False


@pytest.mark.django_db
def test_run_claimed_by_another_worker_is_not_run_here(dirs):
    _, output_dir = dirs
    run = make_run("append")
    assert run_claim(run_id=run.pk, worker="other-host:42") is True

    run = execute(run)

    assert run.status == RunStatus.RUNNING
    assert run.worker == "other-host:42"
    assert not run.events.exists()
    assert not (output_of(output_dir, run) / f"appended-{run.pk}").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_run_the_playbook_once(dirs):
    _, output_dir = dirs
    run = make_run("append")

    deliveries = [execute_in_thread(run) for _ in range(2)]
    results = [finish(thread, outcome) for thread, outcome in deliveries]

    assert {result.status for result in results} <= {RunStatus.RUNNING, RunStatus.SUCCEEDED}
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert (output_of(output_dir, run) / f"appended-{run.pk}").read_text().splitlines() == ["executed"]
