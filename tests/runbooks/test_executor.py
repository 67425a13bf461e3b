"""The executor runs real playbooks with the real ansible-runner: outcomes,
timeouts, cancels, double deliveries, clean-up and streaming."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from runbooks.choices import RunStatus
from runbooks.execution.events import NUL_MARK, EventRecorder
from runbooks.execution.masking import MASK, Masker
from runbooks.execution.run import execute_run
from runbooks.models import Run, RunEvent
from runbooks.services import WORKER_LOST, run_claim, run_request_cancel, runs_mark_lost
from tests.runbooks import make_run, output_of, use_private_dirs


@pytest.fixture
def dirs(settings, tmp_path) -> tuple[Path, Path]:
    return use_private_dirs(settings, tmp_path)


def execute(run: Run, inputs: dict[str, Any] | None = None) -> Run:
    return execute_run(run_id=run.pk, inputs=inputs or {}, secret_names=set())


def execute_in_thread(run: Run) -> tuple[threading.Thread, dict[str, Any]]:
    """``execute_run`` in a thread of its own (with its own database
    connection), as a worker would."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["run"] = execute(run)
        except BaseException as error:  # noqa: BLE001 (re-raised in the test by finish())
            outcome["error"] = error
        finally:
            outcome["finished_at"] = time.monotonic()
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def finish(thread: threading.Thread, outcome: dict[str, Any]) -> Run:
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["run"]


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

    import runbooks.execution.supervision as executor

    runs_dir, output_dir = dirs
    settings.SQUADRON_HEARTBEAT_SECONDS = 1
    settings.SQUADRON_HEARTBEAT_STALE_SECONDS = 4  # stopped after 2 s without the database
    run = make_run("sleep")
    thread, outcome = execute_in_thread(run)
    wait_for(lambda: RunEvent.objects.filter(run=run, task="Wait half a minute").exists())

    def unreachable(**kwargs: Any) -> None:
        raise OperationalError("could not connect to server")

    cut_off = time.monotonic()
    monkeypatch.setattr(executor, "run_heartbeat", unreachable)
    monkeypatch.setattr(executor, "run_control", unreachable)
    run = finish(thread, outcome)

    assert outcome["finished_at"] - cut_off < 4, "stopped before the sweep would give it up"
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == "stopped: the worker could not reach the database for 2 s"
    assert not (output_of(output_dir, run) / f"finished-{run.pk}").exists()
    assert list(runs_dir.iterdir()) == []


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


@pytest.mark.django_db
def test_ansible_playbook_is_found_whatever_the_worker_path(dirs, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")

    run = execute(make_run("ok"))

    assert run.status == RunStatus.SUCCEEDED, run.failure_reason


@pytest.mark.django_db
def test_nothing_is_left_behind_after_many_runs(dirs, tmp_path, monkeypatch):
    runs_dir, _ = dirs
    # A home of its own, to see whether Ansible leaves anything in ~/.ansible.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    statuses = []

    for number in range(20):
        run = execute(make_run("ok" if number % 2 else "fail"))
        statuses.append(run.status)

    assert statuses == [RunStatus.FAILED, RunStatus.SUCCEEDED] * 10
    assert list(runs_dir.iterdir()) == []
    assert [path for path in home.rglob("*") if not path.is_dir()] == []
    assert not (home / ".ansible" / "tmp").exists() or list((home / ".ansible" / "tmp").iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_events_stream_into_the_database_while_the_playbook_runs(dirs, settings):
    runs_dir, _ = dirs
    settings.SQUADRON_HEARTBEAT_SECONDS = 1
    run = make_run("stream")
    thread, outcome = execute_in_thread(run)

    # Seen from this thread's own connection while the playbook waits.
    seen = wait_for(lambda: RunEvent.objects.filter(run=run, task="Wait a little").count())
    during = Run.objects.get(pk=run.pk)
    last_step_then = RunEvent.objects.filter(run=run, task="Last step").exists()
    private_dir = wait_for(lambda: next(runs_dir.iterdir(), None))
    private_mode = stat.S_IMODE(private_dir.stat().st_mode)
    extravars_mode = stat.S_IMODE((private_dir / "env" / "extravars").stat().st_mode)
    heartbeat_moved = wait_for(
        lambda: Run.objects.get(pk=run.pk).heartbeat_at > during.heartbeat_at, timeout=2.5
    )
    run = finish(thread, outcome)

    assert seen >= 1 and during.status == RunStatus.RUNNING
    assert during.event_count >= seen
    assert not last_step_then
    assert run.events.filter(task="Last step").exists()
    assert heartbeat_moved
    assert private_mode == 0o700
    assert extravars_mode == 0o600
    assert not private_dir.exists()


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


def recorder(**overrides: Any) -> EventRecorder:
    options = {"run_id": 1, "masker": Masker(["hunter22"]), "batch_size": 10, "flush_seconds": 1.0}
    return EventRecorder(**{**options, "stdout_limit": 300, **overrides})


def test_event_stdout_is_masked_then_truncated_with_a_marker():
    event = {"event": "runner_on_ok", "counter": 3, "stdout": "hunter22 " + "x" * 1000, "event_data": {}}

    row = recorder().record(event)

    assert row.stdout.startswith(f"{MASK} xxx")
    # The beginning, then (three times longer) the end, where a failure says why.
    assert "\n[… 709 characters of output left out …]\n" in row.stdout
    assert row.stdout.endswith("\n" + "x" * 225)
    assert row.counter == 3


def test_event_data_keeps_only_a_masked_summary():
    data = {
        "play": "p",
        "task": "t",
        "host": "h",
        "task_args": "password=hunter22",
        "res": {"msg": "bad hunter22", "rc": 1, "changed": False, "stdout": "lots", "invocation": {}},
    }

    row = recorder().record({"event": "runner_on_ok", "counter": 1, "event_data": data})

    assert row.event_data == {
        "play": "p",
        "task": "t",
        "host": "h",
        "res": {"msg": f"bad {MASK}", "rc": 1, "changed": False},
    }


def test_a_secret_straddling_the_cut_of_a_long_result_is_masked_not_half_kept():
    # The cut falls inside the secret: cut first, "hunte" would stay in clear.
    data = {"task": "t", "res": {"msg": "x" * 70 + "hunter22" + "y" * 400}}

    row = recorder().record({"event": "runner_on_ok", "counter": 1, "event_data": data})

    stored = row.event_data["res"]["msg"]
    assert "hunte" not in stored and stored.startswith("x" * 70 + "*****\n")  # the mask itself is cut


def test_nul_characters_of_the_output_are_shown_not_stored(settings):
    """PostgreSQL stores no NUL in text or JSON: one such byte kept a whole
    batch, and every later one, out of the log."""
    event = {
        "event": "runner_on_failed",
        "counter": 1,
        "stdout": "a\x00b",
        "event_data": {"task": "t\x00", "host": "h", "res": {"msg": "bad\x00byte", "stdout": "c\x00d"}},
    }
    events = recorder()

    row = events.record(event)

    assert "\x00" not in repr((row.stdout, row.task, row.event_data, events.failure))
    assert row.stdout == f"a{NUL_MARK}b" and row.event_data["res"]["msg"] == f"bad{NUL_MARK}byte"


def test_failure_reason_of_a_loop_names_the_failed_item_and_ignored_errors_do_not_count():
    events = recorder()
    ignored = {"task": "probe", "host": "h", "ignore_errors": True, "res": {"msg": "nope"}}
    loop = {
        "task": "create users",
        "host": "db1",
        "res": {
            "msg": "One or more items failed",
            "results": [{"failed": False}, {"failed": True, "msg": "uid taken"}],
        },
    }

    rows = [
        events.record({"event": "runner_on_failed", "counter": n, "event_data": data})
        for n, data in ((1, ignored), (2, loop))
    ]

    assert [row.failed for row in rows] == [False, True]
    assert events.failure == "task create users on host db1: uid taken"


@pytest.mark.django_db
def test_binary_output_and_a_long_failing_output_keep_the_whole_log_and_the_cause(dirs):
    """On PostgreSQL a NUL byte once kept every later event out of the log;
    a long output kept its beginning and lost the line that said why."""
    run = execute(make_run("nul_output"))

    assert run.status == RunStatus.FAILED
    assert run.failure_reason.endswith("non-zero return code (ERROR: quota exceeded on node-7)")
    events = list(run.events.all())
    assert run.event_count == len(events) and events[-1].event == "playbook_on_stats"
    said = next(event for event in events if event.task == "Say it" and event.event == "runner_on_ok")
    assert said.event_data["res"]["msg"] == f"got a{NUL_MARK}b"
    failed = next(event for event in events if event.failed)
    assert (
        "ERROR: quota exceeded on node-7" in failed.stdout
        and "characters of output left out" in failed.stdout
    )


@pytest.mark.django_db
def test_a_secret_wrapped_onto_two_lines_printed_outside_a_task_is_masked_in_both_events(dirs):
    """ansible-runner makes one event of each line printed outside a task:
    a warning wrapped by Ansible carries a secret over two events."""
    secret = "correct-horse-battery-staple-4711"
    run = make_run("ok")
    recorder = EventRecorder(
        run_id=run.pk, masker=Masker([secret]), batch_size=100, flush_seconds=60, stdout_limit=1000
    )

    recorder({"event": "verbose", "counter": 1, "stdout": f"[WARNING]: the key {secret[:16]}"})
    recorder({"event": "verbose", "counter": 2, "stdout": f"{secret[16:]} was ignored"})
    recorder.flush()

    stored = list(RunEvent.objects.filter(run=run).order_by("counter").values_list("stdout", flat=True))
    assert stored == [f"[WARNING]: the key {MASK}", f"{MASK} was ignored"]
