"""Orders carried out by a real Celery worker process running real playbooks
through ansible-runner, on whichever database and broker the suite runs on
(SQLite + filesystem broker, or PostgreSQL + Redis in CI's second run)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from portal.celery import app
from portal.orders.cancellation import order_cancel
from portal.orders.choices import OrderStatus
from portal.orders.execution import EXECUTE_TASK
from portal.orders.models import Order
from portal.orders.recovery import orders_sweep
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.execution.workspace import installation_tag, private_dirs_cleanup, worker_gone
from runbooks.models import Run, RunEvent
from tests.factories import ProductFactory, RunbookFactory
from tests.worker import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FORM = {
    "type": "object",
    "required": ["label"],
    "properties": {"label": {"type": "string", "maxLength": 80}, "pause": {"type": "integer", "default": 0}},
}
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    out: "{{ lookup('ansible.builtin.env', 'SQUADRON_OUTPUT_DIR') }}/e2e"
  tasks:
    - name: Prepare the output folder
      ansible.builtin.file:
        path: "{{ out }}"
        state: directory
    - name: Record that the playbook started
      ansible.builtin.lineinfile:
        path: "{{ out }}/{{ label }}.log"
        line: "started {{ squadron_run_id }}"
        create: true
    - name: Take a while
      ansible.builtin.pause:
        seconds: "{{ pause | int }}"
      when: pause | int > 0
    - name: Record that the playbook finished
      ansible.builtin.lineinfile:
        path: "{{ out }}/{{ label }}.log"
        line: "finished {{ label }}"
"""


@pytest.fixture
def product(squad):
    runbook = RunbookFactory(squad=squad, slug="e2e", timeout=60, playbook=PLAYBOOK)
    return ProductFactory(slug="e2e-product", squad=squad, runbook=runbook, form_schema=FORM)


@pytest.fixture
def worker():
    started = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    yield started
    started.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s")


def status_of(order: Order) -> str:
    return Order.objects.values_list("status", flat=True).get(pk=order.pk)


def output_lines(label: str) -> list[str]:
    """What the playbook recorded under ``label``, wherever its squad's
    output folder is inside the output dir."""
    for path in Path(settings.SQUADRON_OUTPUT_DIR).glob(f"**/e2e/{label}.log"):
        return path.read_text().splitlines()
    return []


def test_worker_runs_the_order_to_success_with_its_events_stored(product, requester, worker):
    order = order_submit(requester=requester, product=product, inputs={"label": "first"})
    wait_for(lambda: status_of(order) in {OrderStatus.SUCCEEDED, OrderStatus.FAILED}, timeout=90)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCEEDED, (order.failure_reason, worker.output())
    assert order.return_code == 0
    assert order.host_summary["localhost"]["failures"] == 0
    run = order.current_run
    assert run.status == RunStatus.SUCCEEDED
    events = list(RunEvent.objects.filter(run=run).order_by("counter"))
    assert events and events[-1].event == "playbook_on_stats"
    assert any("Record that the playbook finished" in event.task for event in events)
    assert output_lines("first") == [f"started {run.pk}", "finished first"]
    assert list(order.events.values_list("from_status", "to_status")) == [
        ("", "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]


def test_a_task_delivered_twice_runs_the_playbook_once(product, requester, worker):
    order = order_submit(requester=requester, product=product, inputs={"label": "twice"})
    app.send_task(EXECUTE_TASK, args=[order.pk])  # the broker delivers it a second time
    wait_for(lambda: status_of(order) == OrderStatus.SUCCEEDED, timeout=90)
    time.sleep(1.5)  # give the duplicate time to be consumed
    assert Run.objects.count() == 1
    assert [line for line in output_lines("twice") if line.startswith("started")] == [
        f"started {Run.objects.get().pk}"
    ]


def test_cancel_stops_a_running_order_within_two_seconds(product, requester, worker):
    order = order_submit(requester=requester, product=product, inputs={"label": "cancel", "pause": 30})
    wait_for(lambda: output_lines("cancel"), timeout=90)
    requested = time.monotonic()
    order_cancel(order=Order.objects.get(pk=order.pk), actor=requester, reason="Changed my mind")
    wait_for(lambda: status_of(order) == OrderStatus.CANCELLED, timeout=10, interval=0.05)
    assert time.monotonic() - requested < 2.0
    order.refresh_from_db()
    assert order.current_run.status == RunStatus.CANCELLED
    assert order.events.last().actor == requester
    time.sleep(0.5)
    assert not any(line.startswith("finished") for line in output_lines("cancel"))


def test_sweep_fails_the_order_of_a_killed_worker_with_worker_lost(product, requester, settings):
    settings.SQUADRON_HEARTBEAT_STALE_SECONDS = 3
    doomed = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    order = order_submit(requester=requester, product=product, inputs={"label": "killed", "pause": 8})
    wait_for(lambda: output_lines("killed"), timeout=90)
    doomed.kill()
    assert orders_sweep().lost_runs == [], "a fresh heartbeat is not stale yet"
    time.sleep(settings.SQUADRON_HEARTBEAT_STALE_SECONDS + 1)
    report = orders_sweep()
    order.refresh_from_db()
    assert report.lost_runs == [order.current_run_id]
    assert order.status == OrderStatus.FAILED
    assert order.failure_reason == "worker_lost"
    assert order.current_run.status == RunStatus.LOST
    # Its playbook died with it (it must not go on beside a retry) ...
    wait_for(lambda: not playbooks_of_run(order.current_run_id), timeout=5)
    # ... and the private dir it left, secrets and all, goes when a worker
    # (or the sweep on one) looks.
    left = private_dirs_of(order.current_run_id)
    assert left, "a worker killed outright cannot clean up after itself"
    assert private_dirs_cleanup() == left
    assert not private_dirs_of(order.current_run_id)


@pytest.fixture
def doomed_worker():
    """A worker the test kills; stopped anyway should the test fail first."""
    started = Worker(extra_env={"SQUADRON_HEARTBEAT_SECONDS": "1"}).start()
    yield started
    started.stop()


def test_a_restarted_worker_gives_up_at_once_the_run_its_dead_predecessor_left(
    product, requester, doomed_worker
):
    """A squad's own worker may never run the sweep: on restart it finds the
    run its killed predecessor left on this machine, marks it lost without
    waiting for its heartbeat to go stale, and removes its private dir."""
    order = order_submit(requester=requester, product=product, inputs={"label": "restarted", "pause": 8})
    wait_for(lambda: output_lines("restarted"), timeout=90)
    run = Order.objects.get(pk=order.pk).current_run
    doomed_worker.kill()
    run_id = run.pk
    assert private_dirs_of(run_id)
    # SIGKILL is sent at once but takes effect when the process is next
    # scheduled: on a loaded machine the pool process that ran the playbook
    # (the run's worker), and the playbook it takes down with it, can outlive
    # the reaped main process by a while. A worker restarting on the machine
    # comes after its predecessor is gone: so does this one.
    wait_for(lambda: worker_gone(run.worker), timeout=30)
    wait_for(lambda: not playbooks_of_run(run_id), timeout=30)

    private_dirs_cleanup()  # what a worker does when it starts

    assert Run.objects.get(pk=run_id).status == RunStatus.LOST
    assert not private_dirs_of(run_id)
    orders_sweep()
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "worker_lost")


def test_a_pool_process_killed_mid_run_fails_its_order_within_seconds(product, requester, worker):
    """Out of memory, the kernel kills the pool process running a playbook:
    the worker gives its task back, and the redelivery, finding the process
    gone on this machine, ends the order now rather than after the sweep's
    minute. It never runs the order twice."""
    import os
    import signal

    order = order_submit(requester=requester, product=product, inputs={"label": "oom", "pause": 20})
    wait_for(lambda: output_lines("oom"), timeout=90)
    run = Order.objects.get(pk=order.pk).current_run
    killed = time.monotonic()
    os.kill(int(run.worker.rpartition(":")[2]), signal.SIGKILL)

    wait_for(lambda: status_of(order) == OrderStatus.FAILED, timeout=30)
    assert time.monotonic() - killed < 30
    order.refresh_from_db()
    assert order.failure_reason == "worker_lost" and order.attempts == 1
    assert Run.objects.filter(order_run__order=order).count() == 1
    assert not private_dirs_of(run.pk), "its private dir, secrets and all, goes too"


def private_dirs_of(run_id: int) -> list[Path]:
    """The run's private dirs: of this test database only (the other test
    processes on this machine have runs with the same ids)."""
    return sorted(run_dir().glob(f"run-{installation_tag()}-{run_id}-*"))


def run_dir() -> Path:
    import tempfile

    return Path(settings.SQUADRON_RUN_DIR or tempfile.gettempdir())


def playbooks_of_run(run_id: int) -> list[int]:
    """Live ansible-playbook processes working in the run's private dir."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "ansible-playbook" in text and f"/run-{installation_tag()}-{run_id}-" in text and state != "Z":
            found.append(int(cmdline.parent.name))
    return found
