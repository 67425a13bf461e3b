"""A run ends as its playbook did, with the real ansible-runner: status,
return code, stats and the failure reason that says why."""

from __future__ import annotations

import time

import pytest

from runbooks.choices import RunStatus
from tests.runbooks import make_run, output_of
from tests.runbooks.execution import execute


@pytest.mark.django_db
def test_successful_run_records_rc_stats_and_events_in_order(dirs):
    run = make_run("ok")

    run = execute(run)

    assert run.status == RunStatus.SUCCEEDED
    assert run.rc == 0
    assert run.failure_reason == ""
    assert run.started_at <= run.heartbeat_at <= run.finished_at
    assert run.stats == {
        "localhost": {
            "ok": 2,
            "changed": 1,
            "failures": 0,
            "dark": 0,
            "skipped": 0,
            "rescued": 0,
            "ignored": 0,
        }
    }
    events = list(run.events.all())
    assert [event.counter for event in events] == list(range(1, len(events) + 1))
    assert run.event_count == len(events)
    assert events[0].event == "playbook_on_start"
    assert events[-1].event == "playbook_on_stats"
    greeting = next(event for event in events if event.event == "runner_on_ok")
    assert greeting.task == "Greet" and greeting.host == "localhost"
    assert f"hello from run {run.pk}" in greeting.stdout
    assert "\r" not in greeting.stdout
    assert greeting.event_data == {
        "play": "Say hello twice",
        "task": "Greet",
        "host": "localhost",
        "res": {"msg": f"hello from run {run.pk}", "changed": False},
    }
    assert not any(event.failed for event in events)


@pytest.mark.django_db
def test_failing_task_fails_the_run_and_is_named(dirs):
    run = execute(make_run("fail"))

    assert run.status == RunStatus.FAILED
    assert run.rc == 2
    assert run.failure_reason == "task Reserve the VLAN on host localhost: VLAN 42 is already taken"
    assert run.stats["localhost"]["failures"] == 1
    failed = run.events.get(failed=True)
    assert failed.event == "runner_on_failed" and failed.task == "Reserve the VLAN"
    assert not run.events.filter(task="Never reached").exists()


@pytest.mark.django_db
def test_playbook_that_ansible_rejects_fails_with_ansibles_error(dirs):
    run = execute(make_run("broken"))

    assert run.status == RunStatus.FAILED
    assert run.rc not in (0, None)
    assert run.failure_reason.startswith("ERROR!")
    assert "missing_module" in run.failure_reason


@pytest.mark.django_db
def test_runbook_timeout_stops_the_playbook(dirs):
    runs_dir, output_dir = dirs
    run = make_run("sleep", timeout=2)
    started = time.monotonic()

    run = execute(run)

    assert run.status == RunStatus.TIMED_OUT
    assert run.failure_reason == "timed out after 2 s"
    assert time.monotonic() - started < 6
    assert not (output_of(output_dir, run) / f"finished-{run.pk}").exists()
    assert list(runs_dir.iterdir()) == []


@pytest.mark.django_db
def test_check_mode_is_a_dry_run(dirs):
    _, output_dir = dirs

    run = execute(make_run("check", check_mode=True))

    assert run.status == RunStatus.SUCCEEDED
    assert run.stats["localhost"]["changed"] == 1  # it would have changed
    assert not (output_of(output_dir, run) / f"check-{run.pk}").exists()


@pytest.mark.django_db
def test_input_names_that_could_steer_ansible_fail_the_run_before_it_starts(dirs):
    runs_dir, _ = dirs
    run = make_run("ok")

    run = execute(run, {"ansible_python_interpreter": "/tmp/evil", "bad-name": 1})

    assert run.status == RunStatus.FAILED
    assert "'ansible_python_interpreter' is reserved" in run.failure_reason
    assert "'bad-name' is not a valid variable name" in run.failure_reason
    assert not run.events.exists()
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []
