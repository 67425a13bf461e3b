"""A running playbook is stopped when its run is cancelled, given up as
lost, or its worker loses the database for too long."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from runbooks.choices import RunStatus
from runbooks.models import Run, RunEvent
from runbooks.services import WORKER_LOST, run_request_cancel, runs_mark_lost
from tests.runbooks import make_run, output_of
from tests.runbooks.execution import execute_in_thread, finish, wait_for


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_playbook_within_two_seconds(dirs):
    runs_dir, output_dir = dirs
    run = make_run("sleep")
    thread, outcome = execute_in_thread(run)
    wait_for(lambda: RunEvent.objects.filter(run=run, task="Wait half a minute").exists())

    requested = time.monotonic()
    assert run_request_cancel(run=run) == "requested"
    run = finish(thread, outcome)

    assert run.status == RunStatus.CANCELLED
    assert run.failure_reason == "cancelled on request"
    assert outcome["finished_at"] - requested < 2
    assert (run.finished_at - run.cancel_requested_at).total_seconds() < 2
    assert not (output_of(output_dir, run) / f"finished-{run.pk}").exists()
    assert list(runs_dir.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_a_worker_cut_off_from_the_database_stops_its_playbook_before_the_run_is_given_up(
    dirs, settings, monkeypatch
):
    """Else the sweep marks the run lost, the order is retried, and two
    playbooks of one order run at once."""
    from django.db import OperationalError

    from runbooks.execution import supervision

    runs_dir, output_dir = dirs
    settings.SQUADRON_HEARTBEAT_SECONDS = 1
    settings.SQUADRON_HEARTBEAT_STALE_SECONDS = 4  # stopped after 2 s without the database
    run = make_run("sleep")
    thread, outcome = execute_in_thread(run)
    wait_for(lambda: RunEvent.objects.filter(run=run, task="Wait half a minute").exists())

    def unreachable(**kwargs: Any) -> None:
        raise OperationalError("could not connect to server")

    cut_off = time.monotonic()
    monkeypatch.setattr(supervision, "run_heartbeat", unreachable)
    monkeypatch.setattr(supervision, "run_control", unreachable)
    run = finish(thread, outcome)

    assert outcome["finished_at"] - cut_off < 4, "stopped before the sweep would give it up"
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == "stopped: the worker could not reach the database for 2 s"
    assert not (output_of(output_dir, run) / f"finished-{run.pk}").exists()
    assert list(runs_dir.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_playbook_of_a_run_given_up_as_lost_is_stopped_and_the_run_stays_lost(dirs):
    runs_dir, output_dir = dirs
    run = make_run("sleep")
    thread, outcome = execute_in_thread(run)
    wait_for(lambda: RunEvent.objects.filter(run=run, task="Wait half a minute").exists())

    # The sweep decides the worker is gone (say its heartbeats stopped).
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert runs_mark_lost(stale_after=timedelta(minutes=1)) == [run.pk]
    given_up = time.monotonic()
    run = finish(thread, outcome)

    assert outcome["finished_at"] - given_up < 2
    assert run.status == RunStatus.LOST
    assert run.failure_reason == WORKER_LOST
    assert not (output_of(output_dir, run) / f"finished-{run.pk}").exists()
    assert list(runs_dir.iterdir()) == []
