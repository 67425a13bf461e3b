"""Events stream into the database while the playbook runs, masked before
they are cut, without NULs, and the run keeps what names its failure."""

from __future__ import annotations

import stat
from typing import Any

import pytest

from runbooks.choices import RunStatus
from runbooks.execution.events import NUL_MARK, EventRecorder
from runbooks.execution.masking import MASK, Masker
from runbooks.models import Run, RunEvent
from tests.runbooks import make_run
from tests.runbooks.execution import execute, execute_in_thread, finish, wait_for


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


def recorder(**overrides: Any) -> EventRecorder:
    options = {"run_id": 1, "masker": Masker(["hunter22"]), "batch_size": 10, "flush_seconds": 1.0}
    return EventRecorder(**{**options, "stdout_limit": 300, "stdout_max": 300, **overrides})


def test_event_stdout_is_masked_then_truncated_with_a_marker():
    event = {"event": "runner_on_ok", "counter": 3, "stdout": "hunter22 " + "x" * 1000, "event_data": {}}

    row = recorder().record(event)

    assert row.stdout.startswith(f"{MASK} xxx")
    # The beginning, then (three times longer) the end, where a failure says why.
    assert "\n[… 709 characters of output left out …]\n" in row.stdout
    assert row.stdout.endswith("\n" + "x" * 225)
    assert row.counter == 3


def test_a_task_that_printed_20000_lines_is_stored_whole_and_masked():
    """What the page shows is abbreviated when it is read; what is stored is
    all of it ("Download full log"), up to ``stdout_max``."""
    lines = [f"line {number:05d} of a chatty task, hunter22 inside" for number in range(20_000)]
    event = {"event": "runner_on_ok", "counter": 4, "stdout": "\r\n".join(lines), "event_data": {}}

    row = recorder(stdout_limit=300, stdout_max=4_194_304).record(event)

    assert "left out" not in row.stdout
    assert row.stdout.split("\n") == [line.replace("hunter22", MASK) for line in lines]


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
    # ansible-core 2.19 words the command module's message as a sentence
    # ("The command exited with a non-zero return code.").
    assert "non-zero return code" in run.failure_reason
    assert run.failure_reason.endswith("(ERROR: quota exceeded on node-7)")
    events = list(run.events.all())
    assert run.event_count == len(events) and events[-1].event == "playbook_on_stats"
    said = next(event for event in events if event.task == "Say it" and event.event == "runner_on_ok")
    assert said.event_data["res"]["msg"] == f"got a{NUL_MARK}b"
    failed = next(event for event in events if event.failed)
    # All of it is stored ("Download full log"); a page abbreviates it when it reads it.
    assert '"progress line 1"' in failed.stdout and '"progress line 3000"' in failed.stdout
    assert "ERROR: quota exceeded on node-7" in failed.stdout
    assert "characters of output left out" not in failed.stdout


@pytest.mark.django_db
def test_a_secret_wrapped_onto_two_lines_printed_outside_a_task_is_masked_in_both_events(dirs):
    """ansible-runner makes one event of each line printed outside a task:
    a warning wrapped by Ansible carries a secret over two events."""
    secret = "correct-horse-battery-staple-4711"
    run = make_run("ok")
    recorder = EventRecorder(
        run_id=run.pk,
        masker=Masker([secret]),
        batch_size=100,
        flush_seconds=60,
        stdout_limit=1000,
        stdout_max=1000,
    )

    recorder({"event": "verbose", "counter": 1, "stdout": f"[WARNING]: the key {secret[:16]}"})
    recorder({"event": "verbose", "counter": 2, "stdout": f"{secret[16:]} was ignored"})
    recorder.flush()

    stored = list(RunEvent.objects.filter(run=run).order_by("counter").values_list("stdout", flat=True))
    assert stored == [f"[WARNING]: the key {MASK}", f"{MASK} was ignored"]
