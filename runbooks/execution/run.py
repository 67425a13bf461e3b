"""Running a runbook version with ansible-runner and recording the run.

The worker calls :func:`execute_run` with the id of a pending run (made by
``runbooks.services.run_create``) and the clear inputs. ``execute_run`` claims
the run itself (``run_claim``): if the run is no longer pending (another
delivery of the same task got it first, or it was cancelled before it
started) it returns at once without running anything. So a caller never
claims, it just calls ``execute_run``, as often as the broker delivers, and
outside any database transaction (events are committed as they stream).

One run, from claim to record:

* a private data dir (mode 0700) under ``SQUADRON_RUN_DIR`` holds the
  playbook, a one-host inventory (``localhost``, local connection, this
  Python), the extra-vars file (user inputs marked unsafe, see
  ``runbooks.extravars``), ansible-runner's artifacts and Ansible's temporary
  files; it is removed afterwards whatever happened. Files holding secrets
  (extra vars, inventory variables, the ``command`` artifact ansible-runner
  writes with the environment) are 0600 inside it and live only as long as
  the run;
* credentials reach the playbook as environment variables, inventory
  variables and ansible-runner's ssh-agent (the key through a FIFO, never a
  regular file), never on the command line. The playbook inherits only a
  short list of the worker's own environment variables: the rest holds
  Squadron's secrets;
* events stream into the database in batches while the playbook runs, masked
  (``runbooks.execution.masking``) and trimmed, and are never all in memory;
* ansible-runner calls our ``cancel_callback`` several times a second; it
  flushes late events, sends the heartbeat and polls for a cancel request,
  all from the one thread that runs the playbook (no extra thread, so no
  second database connection and nothing to synchronise);
* the runbook's timeout is ansible-runner's job timeout;
* output is stored without colour (``ANSIBLE_NOCOLOR``): ansible-runner reads
  through a pseudo-terminal, so Ansible would colour it otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible_runner.config.runner import RunnerConfig
from ansible_runner.exceptions import AnsibleRunnerException
from ansible_runner.runner import Runner
from django.conf import settings
from django.db import DatabaseError
from pexpect import ExceptionPexpect

from runbooks.choices import FailureKind, RunbookNetwork, RunStatus
from runbooks.execution import sandbox
from runbooks.execution.credentials import (
    CredentialMaterial,
    ExecutorError,
    credential_material,
    release_fifo,
)
from runbooks.execution.events import EventRecorder
from runbooks.execution.masking import Masker, secret_leaves
from runbooks.execution.supervision import Supervisor
from runbooks.execution.workspace import (
    inherited_env_only,
    kill_process_group,
    make_private_dir,
    output_dir_for,
    prepare_files,
    run_env,
    worker_name,
)
from runbooks.extravars import ExtraVarsError, validate_input_names
from runbooks.models import Run, Runbook
from runbooks.services import run_claim, run_finish

# The logger keeps the name it had when the executor was one module: the
# name appears in every log line, and operators' filters may select it.
logger = logging.getLogger("runbooks.executor")

#: ansible-runner's final status -> the run's status.
RUNNER_STATUS = {
    "successful": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "canceled": RunStatus.CANCELLED,
    "timeout": RunStatus.TIMED_OUT,
}

#: A prompt "pattern" that matches every line end, answered with nothing.
#: pexpect keeps all output since its last pattern match in memory (and
#: copies it on every timeout); matching each line end empties that buffer,
#: so memory stays flat however much a playbook prints.
LINE_END = r"\n"

#: util-linux's setpriv, which ties the playbook's life to the worker's
#: (``--pdeathsig``); absent on a system without it, where a worker killed
#: outright may leave its playbook running until it ends.
SETPRIV = shutil.which("setpriv", path=os.defpath + ":/usr/bin:/bin")
#: The shell between setpriv and the command: on the TERM our death sends it,
#: SIGKILL to its whole process group (the playbook and Ansible's forks).
#: Explicit "0<&0" keeps the terminal as the command's input (a background
#: job of a non-interactive shell would otherwise read /dev/null).
GROUP_GUARD = 'trap "kill -KILL 0" TERM; "$@" 0<&0 & wait $!'


def _named_values(value: Any, names: set[str]) -> Iterable[tuple[str, Any]]:
    """``(name, value)`` of every key in ``names`` at any depth of ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in names:
                yield key, item
            else:
                yield from _named_values(item, names)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _named_values(item, names)


def _runner_config(private_dir: Path, run: Run, material: CredentialMaterial) -> RunnerConfig:
    runbook = run.runbook_version.runbook
    output_dir = output_dir_for(runbook.squad.slug)
    own_env = run_env(private_dir, material.envvars, output_dir)
    config = RunnerConfig(
        private_data_dir=str(private_dir),
        artifact_dir=str(private_dir / "artifacts"),
        ident=f"run-{run.pk}",
        playbook="playbook.yml",
        envvars=own_env,
        # Secrets stay in memory: no env/envvars, env/passwords or
        # env/ssh_key files (the key reaches ssh-agent through a FIFO).
        suppress_env_files=True,
        # ansible-runner writes the key into the FIFO from a thread of its
        # own, alive when it forks ansible-playbook (Python 3.12+ warns:
        # "multi-threaded, use of forkpty() may lead to deadlocks"). That
        # thread only waits in open() and holds no lock the child needs
        # before it execs; runs without a key fork with no other thread.
        # Runner's subprocess mode, which does not fork in Python, gives no
        # live events, cancel, heartbeat or prompt answers.
        ssh_key=material.ssh_key,
        passwords={**material.passwords, LINE_END: None},
        cmdline="--check" if run.check_mode else None,
        timeout=run.runbook_version.runbook.timeout,
        quiet=True,
    )
    config.prepare()
    config.env = inherited_env_only(config.env, own_env)
    config.command = _runner_command(
        config.command, runbook=runbook, private_dir=private_dir, output_dir=output_dir
    )
    return config


def _runner_command(
    command: list[str], *, runbook: Runbook, private_dir: Path, output_dir: Path
) -> list[str]:
    """ansible-runner's ``command`` under the run's limits, in the sandbox
    this worker gives, and bound to the worker's life."""
    runner_command = sandbox.limited(command, sandbox.Limits.from_settings())
    if sandbox.isolation() == sandbox.BUBBLEWRAP:
        runner_command = sandbox.sandboxed(
            runner_command,
            private_dir=private_dir,
            home=private_dir / "home",
            output_dir=output_dir,
            network=runbook.network != RunbookNetwork.NONE,
        )
    elif runbook.network == RunbookNetwork.NONE:
        raise sandbox.SandboxUnavailable(
            "the runbook asks for no network, which only the bubblewrap sandbox gives "
            "(this worker runs with SQUADRON_RUN_ISOLATION=none)"
        )
    if SETPRIV:
        # ansible-playbook runs in a session of its own (a pseudo-terminal),
        # so a worker killed outright (SIGKILL, OOM) would leave it and its
        # forks running with nobody to record them, while the sweep lets the
        # order be retried: two playbooks at once. The kernel tells the
        # session's shell when we die, and the shell kills the whole group.
        runner_command = [
            SETPRIV,
            "--pdeathsig",
            "TERM",
            "--",
            "/bin/sh",
            "-c",
            GROUP_GUARD,
            "run",
            *runner_command,
        ]
    return runner_command


def _outcome(runner: Runner, recorder: EventRecorder, supervisor: Supervisor) -> tuple[str, str]:
    """The run's final status and failure reason (unmasked)."""
    if supervisor.stop_reason == "abort":
        return RunStatus.FAILED, recorder.abort_reason
    if supervisor.stop_reason == "unreachable":
        return RunStatus.FAILED, (
            f"stopped: the worker could not reach the database for {supervisor.unreachable_after:.0f} s"
        )
    status = RUNNER_STATUS.get(runner.status, RunStatus.FAILED)
    if status == RunStatus.FAILED:
        exited = f"ansible-playbook exited with rc {runner.rc}"
        if recorder.last_output:
            exited += f": {recorder.last_output}"
        reason = recorder.failure or recorder.error_output or exited
        texts = (recorder.failure, recorder.error_output, recorder.last_output)
        rcs = (recorder.failure_rc, runner.rc)
        if limit := sandbox.limit_hit(texts, rcs, sandbox.Limits.from_settings()):
            reason = f"stopped: {limit} ({reason})"
        return status, reason
    if status == RunStatus.TIMED_OUT:
        return status, f"timed out after {runner.config.job_timeout} s"
    if status == RunStatus.CANCELLED:
        stopped = (
            "cancelled on request" if supervisor.stop_reason == "cancel" else "stopped: no longer running"
        )
        return status, stopped
    return status, ""


def _record_failure(run_id: int, reason: str, started: float, *, kind: str = "") -> Run:
    run_finish(run_id=run_id, status=RunStatus.FAILED, failure_reason=reason, failure_kind=kind)
    logger.info("run %s failed in %.1f s: %s", run_id, time.monotonic() - started, reason)
    return Run.objects.get(pk=run_id)


def execute_run(
    *,
    run_id: int,
    inputs: Mapping[str, Any],
    secret_names: Iterable[str],
    extra_secrets: Iterable[str] = (),
    data_vars: Mapping[str, Any] | None = None,
) -> Run:
    """Claim the pending run ``run_id``, run its runbook version's playbook
    with ``inputs`` as extra vars, and record how it went.

    ``inputs`` are the clear values; the values of the inputs named in
    ``secret_names`` (the form's ``x-secret`` fields, at any depth) and the
    ``extra_secrets`` are masked in everything stored or logged, like the
    credentials' secrets. ``data_vars`` are variables Squadron sets whose
    values are data (``squadron_instance``): written ``!unsafe`` like the
    inputs. Returns the run as recorded. Returns at once,
    running nothing, when the run was not pending (delivered twice,
    cancelled before it started).

    A run that cannot be prepared (invalid input names, an undecryptable
    credential) or whose executor breaks is recorded failed, not raised. If
    the worker itself is interrupted (shutdown, hard time limit) the playbook
    is killed, the exception propagates, and the sweep marks the run lost.
    """
    worker = worker_name()
    if not run_claim(run_id=run_id, worker=worker):
        run = Run.objects.get(pk=run_id)
        logger.info("run %s not executed here: it is %s (worker %s)", run_id, run.status, run.worker or "-")
        return run

    started = time.monotonic()
    run = Run.objects.select_related("runbook_version__runbook__squad").get(pk=run_id)
    runbook = run.runbook_version.runbook
    input_secrets = [
        leaf for _, value in _named_values(inputs, set(secret_names)) for leaf in secret_leaves(value)
    ]
    extra_secrets = list(extra_secrets)
    masker = Masker([*input_secrets, *extra_secrets])
    logger.info(
        "run %s started on %s: runbook %s v%s%s",
        run_id,
        worker,
        runbook.slug,
        run.runbook_version.number,
        " (check mode)" if run.check_mode else "",
    )
    try:
        validate_input_names(inputs)
        material = credential_material(runbook.credentials.all())
    except (ExecutorError, ExtraVarsError) as error:
        return _record_failure(run_id, masker.text(str(error)), started)
    masker = Masker([*input_secrets, *extra_secrets, *material.secrets])
    if masker.too_short:
        logger.warning("run %s: %d secret value(s) too short to be masked", run_id, masker.too_short)
    return _play(run, inputs=inputs, material=material, masker=masker, started=started, data_vars=data_vars)


def _watchers(run_id: int, masker: Masker) -> tuple[EventRecorder, Supervisor]:
    """What ansible-runner calls while the playbook runs: the event recorder
    and the supervisor."""
    recorder = EventRecorder(
        run_id=run_id,
        masker=masker,
        batch_size=settings.SQUADRON_EVENT_BATCH_SIZE,
        flush_seconds=settings.SQUADRON_EVENT_FLUSH_MS / 1000,
        stdout_limit=settings.SQUADRON_EVENT_STDOUT_LIMIT,
        stdout_max=settings.SQUADRON_EVENT_STDOUT_MAX,
    )
    supervisor = Supervisor(
        run_id=run_id,
        recorder=recorder,
        heartbeat_seconds=settings.SQUADRON_HEARTBEAT_SECONDS,
        stale_seconds=settings.SQUADRON_HEARTBEAT_STALE_SECONDS,
    )
    return recorder, supervisor


def _play(
    run: Run,
    *,
    inputs: Mapping[str, Any],
    material: CredentialMaterial,
    masker: Masker,
    started: float,
    data_vars: Mapping[str, Any] | None = None,
) -> Run:
    """Run the claimed, prepared ``run``'s playbook in its private dir and
    record how it went; the dir is removed whatever happened."""
    run_id = run.pk
    recorder, supervisor = _watchers(run_id, masker)
    private_dir: Path | None = None
    config: RunnerConfig | None = None
    ended = False  # ansible-playbook is known to be gone
    try:
        private_dir = make_private_dir(run_id)
        prepare_files(private_dir, run, inputs, material, data_vars)
        config = _runner_config(private_dir, run, material)
        recorder.private_dir = str(private_dir)
        runner = Runner(config, event_handler=recorder, cancel_callback=supervisor)
        runner.run()
        ended = True
        recorder.flush()
        status, reason = _outcome(runner, recorder, supervisor)
        failed = status == RunStatus.FAILED
        recorded = run_finish(
            run_id=run_id,
            status=status,
            rc=runner.rc,
            stats=recorder.stats,
            failure_reason=masker.text(reason),
            # Only a failed run keeps its first failed task: a rescued or
            # ignored failure is not why it ended.
            failed_task=recorder.failed_task if failed else "",
            failure_kind=recorder.failure_kind if failed and recorder.failure == reason else "",
            reported=recorder.reported,
            reported_masked=recorder.reported_masked,
        )
    except sandbox.SandboxUnavailable as error:
        return _record_failure(run_id, masker.text(f"cannot run here: {error}"), started)
    except (ExtraVarsError, OSError, DatabaseError, AnsibleRunnerException, ExceptionPexpect) as error:
        # The run's failure, not the worker's: recorded, message and
        # traceback masked. A playbook it left behind is killed first.
        if not ended:
            kill_process_group(recorder.process_group)
        with contextlib.suppress(DatabaseError):
            recorder.flush()
        logger.error("run %s: executor error\n%s", run_id, masker.text(traceback.format_exc()))
        return _record_failure(
            run_id,
            masker.text(f"executor error: {type(error).__name__}: {error}"),
            started,
            # Inputs Ansible cannot be given are refused again on a retry.
            kind=FailureKind.INPUTS if isinstance(error, ExtraVarsError) else "",
        )
    finally:
        _clean_up(run_id, recorder=recorder, config=config, private_dir=private_dir, ended=ended)

    logger.info(
        "run %s %s in %.1f s (rc %s, %d events%s)",
        run_id,
        status if recorded else f"ended {status} but was already lost",
        time.monotonic() - started,
        runner.rc,
        recorder.stored,
        f", {recorder.dropped} dropped" if recorder.dropped else "",
    )
    return Run.objects.get(pk=run_id)


def _clean_up(
    run_id: int,
    *,
    recorder: EventRecorder,
    config: RunnerConfig | None,
    private_dir: Path | None,
    ended: bool,
) -> None:
    """What a run leaves must go whatever happened: its playbook, the SSH
    key's FIFO, its private dir."""
    if not ended:
        # Also when interrupted from the outside: the playbook must not
        # outlive its run.
        kill_process_group(recorder.process_group)
    if config is not None:
        release_fifo(getattr(config, "ssh_key_path", None))
    if private_dir is not None:
        shutil.rmtree(private_dir, ignore_errors=True)
        if private_dir.exists():
            logger.error("run %s: could not remove its private data dir %s", run_id, private_dir)
