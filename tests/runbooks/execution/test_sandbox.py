"""Hostile playbooks in the bubblewrap sandbox (``runbooks.execution.sandbox``), run by
the real executor with the real ansible-runner: what a squad's playbook can
see, write and reach, and the limits that keep it from taking its worker
down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from runbooks.choices import RunbookNetwork, RunStatus
from runbooks.execution import sandbox
from runbooks.execution.run import execute_run
from runbooks.models import Run
from runbooks.services import run_create
from tests.factories import RunbookFactory, SquadFactory
from tests.runbooks import output_of, use_private_dirs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _bubblewrap() -> None:
    """``make test`` installs bubblewrap where it can (as root); CI sets
    SQUADRON_REQUIRE_SANDBOX=1, so there a missing bwrap fails, never skips."""
    if not sandbox.bwrap_executable():
        if os.environ.get("SQUADRON_REQUIRE_SANDBOX") == "1":
            pytest.fail("SQUADRON_REQUIRE_SANDBOX=1 but bwrap is not installed")
        pytest.skip("bubblewrap is not installed")


#: Looks around from inside the playbook and writes what it found into its
#: squad's output folder: argv = paths to probe, then paths to write to.
PROBE = r"""
import json, os, sys
probes, writes = sys.argv[1].split("|"), [path for path in sys.argv[2].split("|") if path]
found = {"pids": sorted(int(name) for name in os.listdir("/proc") if name.isdigit())}
found["exists"] = {path: os.path.exists(path) for path in probes}
found["written"] = {}
for path in writes:
    try:
        with open(path, "w") as handle:
            handle.write("owned")
        found["written"][path] = True
    except OSError:
        found["written"][path] = False
found["environ_of_pid_1"] = open("/proc/1/environ", "rb").read().decode(errors="replace")
found["env"] = dict(os.environ)
found["tmp"] = sorted(os.listdir("/tmp"))
with open(os.path.join(os.environ["SQUADRON_OUTPUT_DIR"], "probe.json"), "w") as handle:
    json.dump(found, handle)
"""

PROBE_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Look around
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "-c", "{{ probe }}", "{{ probes }}", "{{ writes }}"]
"""


@pytest.fixture
def dirs(settings, tmp_path) -> tuple[Path, Path]:
    settings.SQUADRON_RUN_ISOLATION = sandbox.BUBBLEWRAP
    return use_private_dirs(settings, tmp_path)


def run_playbook(content: str, inputs: dict[str, Any] | None = None, **runbook: Any) -> Run:
    version = RunbookFactory(playbook=content, **runbook).current_version
    run = run_create(runbook_version=version, masked_inputs={}, check_mode=False)
    return execute_run(run_id=run.pk, inputs=inputs or {}, secret_names=set())


def probe(probes: list[str], writes: list[str] = (), **runbook: Any) -> tuple[Run, dict[str, Any]]:
    # "|"-joined: Ansible would turn a string that reads as a list into one.
    inputs = {"probe": PROBE, "probes": "|".join(probes), "writes": "|".join(writes)}
    run = run_playbook(PROBE_PLAYBOOK, inputs, **runbook)
    assert run.status == RunStatus.SUCCEEDED, run.failure_reason
    report = output_of(Path(run_settings().SQUADRON_OUTPUT_DIR), run) / "probe.json"
    return run, json.loads(report.read_text())


def run_settings() -> Any:
    from django.conf import settings

    return settings


def test_a_playbook_sees_no_other_process_not_even_its_worker(dirs):
    _run, found = probe([f"/proc/{os.getpid()}"])

    assert found["exists"][f"/proc/{os.getpid()}"] is False or os.getpid() not in found["pids"]
    # Its own PID namespace: bubblewrap's init, the limits shim's exec of
    # ansible-playbook and what Ansible started; not hundreds of host pids.
    assert max(found["pids"]) < 100
    secret_key = run_settings().SECRET_KEY
    assert secret_key not in found["environ_of_pid_1"]
    assert secret_key not in json.dumps(found["env"])
    for name in ("SECRET_KEY", "SQUADRON_CREDENTIAL_KEY", "DATABASE_URL", "CELERY_BROKER_URL"):
        assert name not in found["env"]


def test_a_playbook_sees_neither_the_service_nor_other_runs_nor_other_squads_output(dirs, tmp_path):
    runs_dir, output_dir = dirs
    settings = run_settings()
    other_run = runs_dir / "run-00000000-1-othersquad"
    other_run.mkdir(parents=True)
    (other_run / "extravars").write_text("password: hunter2")
    other_squad_output = output_dir / "another-squad"
    other_squad_output.mkdir(parents=True)
    (other_squad_output / "result.txt").write_text("theirs")
    host_tmp_marker = Path("/tmp") / f"squadron-sandbox-marker-{os.getpid()}"
    host_tmp_marker.write_text("host")
    try:
        probes = [
            str(settings.VAR_DIR),
            str(settings.BASE_DIR / "portal" / "settings.py"),
            str(settings.BASE_DIR / "manage.py"),
            str(other_run),
            str(other_run / "extravars"),
            str(other_squad_output / "result.txt"),
            str(host_tmp_marker),
            "/home",
            "/run",
            "/etc/shadow",
            "/usr/bin/env",
            sys.executable,
        ]
        _run, found = probe(probes, writes=["/usr/owned", "/etc/owned", str(other_squad_output / "owned")])
    finally:
        host_tmp_marker.unlink()

    visible = {path for path, exists in found["exists"].items() if exists}
    # What the playbook needs, read-only, and nothing else of the machine.
    assert visible == {"/usr/bin/env", sys.executable}
    assert not any(found["written"].values())
    assert not (other_squad_output / "owned").exists()
    assert host_tmp_marker.name not in found["tmp"]
    assert Path(found["env"]["HOME"]).is_relative_to(runs_dir)


def test_a_runbook_without_network_reaches_no_host_not_even_the_workers_localhost(dirs):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[bool] = []

    def accept() -> None:
        listener.settimeout(30)
        try:
            connection, _ = listener.accept()
            accepted.append(True)
            connection.close()
        except OSError:
            pass

    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Call the worker's localhost
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "-c",
               "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)",
               "{{ port }}"]
"""
    try:
        isolated = run_playbook(playbook, {"port": str(port)}, network=RunbookNetwork.NONE)
        assert isolated.status == RunStatus.FAILED
        assert "Network is unreachable" in isolated.failure_reason or "refused" in isolated.failure_reason

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        connected = run_playbook(playbook, {"port": str(port)})
        thread.join(timeout=30)
    finally:
        listener.close()
    assert connected.status == RunStatus.SUCCEEDED, connected.failure_reason
    assert accepted == [True]


def test_a_runbook_without_network_is_refused_by_a_worker_without_the_sandbox(dirs, settings):
    settings.SQUADRON_RUN_ISOLATION = sandbox.NONE

    run = run_playbook(
        "- hosts: localhost\n  gather_facts: false\n  tasks: []\n", network=RunbookNetwork.NONE
    )

    assert run.status == RunStatus.FAILED
    assert "no network" in run.failure_reason and "bubblewrap" in run.failure_reason
    assert not list(dirs[0].iterdir()), "its private dir is gone"


def test_a_playbook_burning_cpu_is_stopped_by_the_cpu_limit_and_the_run_says_so(dirs, settings):
    settings.SQUADRON_RUN_CPU_SECONDS = 2
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Burn
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "-c", "while True: pass"]
"""
    run = run_playbook(playbook, timeout=120)

    assert run.status == RunStatus.FAILED
    assert "CPU-time limit (2 s per process)" in run.failure_reason


def test_a_playbook_eating_memory_is_stopped_by_the_memory_limit_and_the_run_says_so(dirs, settings):
    settings.SQUADRON_RUN_MEMORY_MB = 1024
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Eat
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "-c", "block = bytearray(4 * 1024 ** 3)"]
"""
    run = run_playbook(playbook)

    assert run.status == RunStatus.FAILED
    assert "memory limit (1024 MB per process)" in run.failure_reason


def test_the_process_limit_stops_a_fork_bomb_of_an_unprivileged_worker(tmp_path):
    """The kernel counts processes per user and exempts root, so this runs
    the limits shim as an unprivileged user (the image's workers are one),
    with the system's Python, which that user can reach wherever the
    checkout sits."""
    system_python = "/usr/bin/python3"
    if os.getuid() != 0 or not Path(system_python).exists():
        pytest.skip("needs root to start a process as nobody, and /usr/bin/python3")
    bomb = "for i in $(seq 1 200); do sleep 5 & done; wait"
    limits = sandbox.Limits(cpu_seconds=0, memory_bytes=0, processes=20)
    command = sandbox.limited(["/bin/sh", "-c", bomb], limits)
    command[0] = system_python
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )
    output = result.stdout + result.stderr
    assert "fork" in output.lower() or "resource temporarily unavailable" in output.lower(), output
    assert sandbox.limit_hit([output], [result.returncode], limits) == (
        "the run's process limit (20 processes) was reached"
    )


def test_a_worker_refuses_to_start_when_bubblewrap_is_asked_for_and_missing(settings, monkeypatch):
    settings.SQUADRON_RUN_ISOLATION = sandbox.BUBBLEWRAP
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)

    with pytest.raises(ImproperlyConfigured, match="bwrap is not installed"):
        sandbox.require_isolation()

    settings.SQUADRON_RUN_ISOLATION = sandbox.NONE
    sandbox.require_isolation()  # explicitly none: starts


def test_another_squads_credential_on_disk_never_reaches_a_playbook(dirs):
    """A credential of the Data squad, in clear in its own live run's private
    dir, is out of the Network squad's playbook's sight."""
    runs_dir, _ = dirs
    data_run = runs_dir / "run-00000000-99-datasquad"
    (data_run / "env").mkdir(parents=True)
    (data_run / "env" / "extravars").write_text("db_password: Data-squad-secret-0123456789")
    network = SquadFactory(slug="network-probe")
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the other run's secrets
      ansible.builtin.shell: "cat {{ path }}/env/extravars; find / -name extravars 2>/dev/null | xargs cat"
      register: stolen
      ignore_errors: true
    - name: Show
      ansible.builtin.debug:
        var: stolen
"""
    run = run_playbook(playbook, {"path": str(data_run)}, squad=network)

    stored = json.dumps(
        [[event.stdout, event.event_data] for event in run.events.all()] + [run.failure_reason]
    )
    assert "Data-squad-secret-0123456789" not in stored
    assert "No such file or directory" in stored


def test_a_worker_without_bwrap_does_not_start_when_its_settings_ask_for_the_sandbox(tmp_path):
    environment = {
        key: value for key, value in os.environ.items() if key not in ("PATH", "SQUADRON_RUN_ISOLATION")
    }
    # No bwrap on this PATH (the worker is started by the full path of its Python).
    environment |= {
        "PATH": str(tmp_path),
        "SQUADRON_RUN_ISOLATION": "bubblewrap",
        "SQUADRON_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--queues", "never-used"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=run_settings().BASE_DIR,
        check=False,
    )

    assert result.returncode != 0
    assert "bwrap is not installed" in result.stderr
    assert " ready." not in result.stderr  # Celery's "celery@host ready."; a path may hold "ready"


def test_a_squad_named_after_a_service_queue_cannot_send_its_playbooks_there(settings):
    """A squad slugged "webhooks" (or like the default queue) would put its
    runbooks on the workers of the webhooks (or of every squad)."""
    from runbooks.models import queue_problem

    assert "queue of the service itself" in queue_problem(settings.SQUADRON_WEBHOOK_QUEUE, "webhooks")
    assert "queue of the service itself" in queue_problem(
        settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE
    )
    assert queue_problem("webhooks-lab", "webhooks") is None


def test_the_sandboxs_empty_tmp_is_mounted_before_what_may_live_under_tmp(tmp_path):
    """A checkout (and its virtualenv) or a private dir under /tmp stays
    visible: mounted after them, the empty /tmp hid them and no run started."""
    command = sandbox.sandboxed(
        ["true"], private_dir=tmp_path / "run", home=tmp_path / "run" / "home", output_dir=None, network=True
    )

    tmpfs = command.index("--tmpfs")
    binds = [index for index, argument in enumerate(command) if argument in ("--bind", "--ro-bind")]
    assert command[tmpfs + 1] == "/tmp"
    assert binds and tmpfs < min(binds)
