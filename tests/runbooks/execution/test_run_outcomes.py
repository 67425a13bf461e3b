"""A run ends as its playbook did, with the real ansible-runner: status,
return code, stats and the failure reason that says why."""

from __future__ import annotations

import pytest

from runbooks.choices import RunStatus
from runbooks.models import Run, RunbookVersion
from runbooks.playbooks import playbook_checksum
from runbooks.services import run_create
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


#: Why each playbook fails, as its run's failure reason reads. Since
#: ansible-core 2.19 Ansible prints "[ERROR]: ..." followed by the file, line
#: and column and an excerpt of the playbook ending in a caret line
#: ("^ column 7"), and wraps a task's message in its error chain.
READABLE_REASONS = {
    "broken": (
        "couldn't resolve module/action 'squadron.nowhere.missing_module'. This often indicates a "
        "misspelling, missing collection, or incorrect module path. (the playbook, line 5)"
    ),
    "syntax_error": (
        "Error loading tasks: failed at splitting arguments, either an unbalanced jinja2 block or quotes: "
        'msg="unbalanced (the playbook, line 5)'
    ),
    "undefined": "task Greet the owner on host localhost: Error while resolving value for 'msg': "
    "'owner_name' is undefined",
    "undefined_hosts": "Error processing keyword 'hosts': 'target_hosts' is undefined (the playbook, line 2)",
    "module_fails": "task Check the configuration file on host localhost: "
    "file (/nonexistent/squadron.conf) is absent, cannot continue",
}


def assert_readable(reason: str, run: Run) -> None:
    """Nothing of the excerpt Ansible prints under an error, nor the private
    dir's paths, which say nothing to a requester."""
    assert "column" not in reason and "^" not in reason and "Origin" not in reason, reason
    assert "Task failed" not in reason and "Finalization of task args" not in reason, reason
    assert "/project/" not in reason and f"-{run.pk}-" not in reason, reason


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(READABLE_REASONS))
def test_a_failed_run_says_why_in_words_a_requester_reads(dirs, name):
    run = execute(make_run(name))

    assert run.status == RunStatus.FAILED
    assert run.rc not in (0, None)
    assert run.failure_reason == READABLE_REASONS[name]
    assert_readable(run.failure_reason, run)
    # The log keeps all that Ansible printed, the excerpt included.
    assert run.events.filter(stdout__contains="column").exists()


@pytest.mark.django_db
def test_a_playbook_with_a_yaml_error_fails_with_a_readable_reason(dirs):
    """A playbook that is not YAML never becomes a runbook version (see
    ``runbooks.playbooks``); one stored before that check, or written to the
    database by other means, still fails with a reason that says why."""
    runbook = make_run("ok").runbook_version.runbook
    broken = '- name: Broken YAML\n  hosts: localhost\n  tasks:\n    - debug: msg="a\n       b: [\n'
    version = RunbookVersion.objects.create(
        runbook=runbook, number=2, content=broken, checksum=playbook_checksum(broken)
    )

    run = execute(run_create(runbook_version=version, masked_inputs={}))

    assert run.status == RunStatus.FAILED
    assert run.failure_reason == (
        "YAML parsing failed: Mapping values are not allowed in this context. (the playbook, line 5)"
    )
    assert_readable(run.failure_reason, run)


@pytest.mark.django_db
def test_runbook_timeout_stops_the_playbook(dirs):
    runs_dir, output_dir = dirs
    run = make_run("sleep", timeout=2)

    run = execute(run)

    assert run.status == RunStatus.TIMED_OUT
    assert run.failure_reason == "timed out after 2 s"
    # Stopped in its sleep: the task after it never wrote its mark.
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
