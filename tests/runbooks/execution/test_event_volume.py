"""A playbook that prints a lot: every event is stored, memory stays flat."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from runbooks.choices import RunStatus
from runbooks.execution.run import execute_run
from runbooks.models import RunEvent
from tests.runbooks import make_run, use_private_dirs

#: Loose: a batch of events in memory is a few megabytes; keeping all 20,000
#: (or pexpect's whole output buffer) would be several times this.
PEAK_MEMORY_BOUND = 24 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.django_db
def test_twenty_thousand_events_are_all_stored_with_bounded_memory(settings, tmp_path):
    runs_dir, _ = use_private_dirs(settings, tmp_path)
    # ansible-core 2.19+ takes about twice as long as 2.18 to print these
    # events (docs/benchmarks.md): on a busy two-core machine the run came
    # near 300 s, so the runbook's timeout leaves room for that.
    run = make_run("big", timeout=900)
    tracemalloc.start()
    started = time.monotonic()
    try:
        run = execute_run(run_id=run.pk, inputs={}, secret_names=set())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started

    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    stored = RunEvent.objects.filter(run=run)
    assert run.event_count == stored.count() >= 20_000
    assert stored.filter(event="runner_item_on_ok", task__endswith=" loop").count() == 20_000
    counters = list(stored.values_list("counter", flat=True))
    assert counters == list(range(1, len(counters) + 1))
    assert peak < PEAK_MEMORY_BOUND
    assert list(runs_dir.iterdir()) == []
    print(  # noqa: T201 (the measurement is the point of this test)
        f"\n{run.event_count} events in {elapsed:.1f} s ({run.event_count / elapsed:.0f}/s),"
        f" peak traced memory {peak / 1e6:.1f} MB"
    )
