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
  Python), the extra-vars file (user inputs tagged ``!unsafe``, see
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
import hashlib
import logging
import os
import re
import select
import shlex
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ansible_runner.config.runner import RunnerConfig
from ansible_runner.exceptions import AnsibleRunnerException
from ansible_runner.runner import Runner
from django.conf import settings
from django.db import DatabaseError, DataError
from django.utils import timezone
from pexpect import ExceptionPexpect

from runbooks.choices import TERMINAL_RUN_STATUSES, CredentialKind, RunbookNetwork, RunStatus
from runbooks.crypto import DecryptionError
from runbooks.execution import sandbox
from runbooks.execution.masking import Masker, secret_leaves
from runbooks.extravars import ExtraVarsError, render_extravars, render_unsafe_vars, validate_input_names
from runbooks.models import Credential, Run, RunEvent
from runbooks.selectors import run_control
from runbooks.services import (
    run_claim,
    run_events_append,
    run_finish,
    run_heartbeat,
    run_mark_lost_with_worker,
)

logger = logging.getLogger(__name__)

#: How often the database is asked whether the run was cancelled (seconds).
CANCEL_POLL_SECONDS = 0.3

#: How long ansible-runner waits for output before it calls the cancel
#: callback again; it bounds how late a cancel or a timeout is noticed.
PEXPECT_TIMEOUT_SECONDS = 0.2

#: ansible-runner's final status -> the run's status.
RUNNER_STATUS = {
    "successful": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "canceled": RunStatus.CANCELLED,
    "timeout": RunStatus.TIMED_OUT,
}

#: Events that say a task failed on a host (item events included).
FAILED_EVENTS = frozenset(
    {"runner_on_failed", "runner_item_on_failed", "runner_on_unreachable", "runner_on_async_failed"}
)
#: The task-level ones, which name the failure of a run.
TASK_FAILED_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable", "runner_on_async_failed"})

#: Per-host counters of the playbook_on_stats event kept in ``Run.stats``.
STATS_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")

#: Parts of an event's data worth keeping; the rest (module arguments, full
#: results, uuids) is heavy, rarely useful and a place secrets hide.
EVENT_DATA_KEYS = ("play", "role", "task", "host")
RESULT_KEYS = ("msg", "rc", "changed", "failed")

#: The end of ssh-add's prompt for the passphrase of the key ansible-runner
#: hands it ("Enter passphrase for <artifact dir>/ssh_key_data: "). Only the
#: end: ansible-runner searches the last 100 characters of output, and the
#: path alone can be longer. The same end closes ssh-add's "Bad passphrase,
#: try again" prompt, which it repeats forever: the recorder sees that line
#: and the run is stopped (``SSH_ADD_RETRY_PROMPT``).
SSH_ADD_PROMPT_END = r"/ssh_key_data:\s*?$"
SSH_ADD_RETRY_PROMPT = "Bad passphrase, try again for "

#: A prompt "pattern" that matches every line end, answered with nothing.
#: pexpect keeps all output since its last pattern match in memory (and
#: copies it on every timeout); matching each line end empties that buffer,
#: so memory stays flat however much a playbook prints.
LINE_END = r"\n"

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: util-linux's setpriv, which ties the playbook's life to the worker's
#: (``--pdeathsig``); absent on a system without it, where a worker killed
#: outright may leave its playbook running until it ends.
SETPRIV = shutil.which("setpriv", path=os.defpath + ":/usr/bin:/bin")
#: The shell between setpriv and the command: on the TERM our death sends it,
#: SIGKILL to its whole process group (the playbook and Ansible's forks).
#: Explicit "0<&0" keeps the terminal as the command's input (a background
#: job of a non-interactive shell would otherwise read /dev/null).
GROUP_GUARD = 'trap "kill -KILL 0" TERM; "$@" 0<&0 & wait $!'

#: Variables of the worker's own environment a playbook inherits. The worker's
#: environment holds Squadron's secrets (SECRET_KEY, SQUADRON_CREDENTIAL_KEY,
#: DATABASE_URL...): a playbook that could read them could decrypt every
#: squad's credentials, so only these pass.
INHERITED_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
#: Prefixes of inherited variables that also pass: locale, and the operator's
#: Ansible configuration.
INHERITED_ENV_PREFIXES = ("LC_", "ANSIBLE_")

#: Unix socket paths are limited to 108 bytes; OpenSSH's ControlPath inside
#: a control dir needs about 60 of them (%C hash and a temporary suffix).
MAX_CONTROL_DIR_LENGTH = 44

_TRUNCATED = "\n[… {dropped} characters of output left out …]\n"
#: Stands for a NUL character of the output: PostgreSQL stores no NUL in text
#: or JSON, and one such byte would keep a whole batch of events from the log.
NUL_MARK = "\u2400"


class ExecutorError(Exception):
    """The run cannot be prepared (its credentials or inputs are unusable).
    The message is stored as the failure reason, masked."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def env_name_for(credential: Credential, suffix: str) -> str:
    """``SQUADRON_<SLUG>_<SUFFIX>``, the variable carrying a credential part."""
    return f"SQUADRON_{credential.slug.upper().replace('-', '_')}_{suffix}"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was cut:
    its beginning and, three times longer, its end (where a failing command
    says why it failed)."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return text[:head] + _TRUNCATED.format(dropped=len(text) - limit) + text[-tail:]


def without_nul(value: Any) -> Any:
    """JSON-like ``value`` with every NUL character (keys included) shown as
    ``NUL_MARK``."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_MARK) if "\x00" in value else value
    if isinstance(value, Mapping):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


# --- Credentials -----------------------------------------------------------


@dataclass
class CredentialMaterial:
    """What a runbook's credentials give one run, and the values to mask."""

    envvars: dict[str, str] = field(default_factory=dict)
    # Inventory variables for all hosts (lowest precedence: a playbook can
    # still choose another user per host).
    host_vars: dict[str, str] = field(default_factory=dict)
    ssh_key: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def credential_material(credentials: Iterable[Credential]) -> CredentialMaterial:
    """Decrypt ``credentials`` and turn them into environment variables,
    connection variables and an SSH key:

    * username/password: ``SQUADRON_<SLUG>_USERNAME`` and ``_PASSWORD``; when
      the runbook has exactly one, also ``ansible_user``/``ansible_password``
      for all hosts (inventory variables, written to a 0600 file);
    * token/env: each of its variables as it is;
    * SSH key (at most one: ssh-agent gets it through a FIFO, its passphrase
      through ssh-add's prompt); its username as ``SQUADRON_<SLUG>_USERNAME``
      and, when no username/password credential names one, ``ansible_user``.
    """
    material = CredentialMaterial()
    logins: list[Credential] = []
    for credential in credentials:
        try:
            secrets = credential.secrets()
        except DecryptionError as error:
            raise ExecutorError(f"Credential {credential.slug!r} cannot be decrypted: {error}") from None
        material.secrets.extend(secret_leaves(secrets))
        if credential.kind == CredentialKind.USERNAME_PASSWORD:
            logins.append(credential)
            material.envvars[env_name_for(credential, "USERNAME")] = credential.username
            material.envvars[env_name_for(credential, "PASSWORD")] = str(secrets.get("password", ""))
        elif credential.kind == CredentialKind.TOKEN_ENV:
            env = secrets.get("env") or {}
            if not isinstance(env, Mapping):
                raise ExecutorError(f"Credential {credential.slug!r}: its env must be an object.")
            for name, value in env.items():
                if not ENV_NAME.match(str(name)):
                    raise ExecutorError(
                        f"Credential {credential.slug!r}: {name!r} is not an environment variable name."
                    )
                material.envvars[str(name)] = str(value)
        elif credential.kind == CredentialKind.SSH_KEY:
            if material.ssh_key is not None:
                raise ExecutorError("A runbook can use one SSH key credential only.")
            material.ssh_key = str(secrets.get("ssh_key_data") or "")
            if not material.ssh_key.strip():
                raise ExecutorError(f"Credential {credential.slug!r} has no SSH key.")
            if not material.ssh_key.endswith("\n"):
                material.ssh_key += "\n"  # ssh-add rejects a key without its final newline
            if secrets.get("passphrase"):
                material.passwords[SSH_ADD_PROMPT_END] = str(secrets["passphrase"])
            if credential.username:
                material.envvars[env_name_for(credential, "USERNAME")] = credential.username
                material.host_vars.setdefault("ansible_user", credential.username)
    if len(logins) == 1:
        material.host_vars["ansible_user"] = logins[0].username
        material.host_vars["ansible_password"] = material.envvars[env_name_for(logins[0], "PASSWORD")]
    return material


# --- Events ----------------------------------------------------------------


def _bounded(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return truncate(value, limit)
    if len(repr(value)) > limit:
        return truncate(repr(value), limit)
    return value


def trim_event_data(
    data: Mapping[str, Any], *, limit: int, mask: Callable[[Any], Any] = lambda value: value
) -> dict[str, Any]:
    """The part of an event's data that is stored: where it happened and a
    summary of the result. ``mask`` goes over each value before it is cut
    short: a secret that straddled the cut would no longer be recognised."""
    trimmed = {key: mask(data[key]) for key in EVENT_DATA_KEYS if data.get(key)}
    result = data.get("res")
    if isinstance(result, Mapping):
        summary = {key: _bounded(mask(result[key]), limit) for key in RESULT_KEYS if key in result}
        if summary:
            trimmed["res"] = summary
    return trimmed


def _failure_message(result: Any) -> str:
    if not isinstance(result, Mapping):
        return "failed"
    message = result.get("msg")
    # A loop's task result only says "One or more items failed": the first
    # failed item says why.
    for item in result.get("results") or ():
        if isinstance(item, Mapping) and item.get("failed") and item.get("msg"):
            message = item["msg"]
            break
    message = str(message or "failed")
    stderr = result.get("stderr")
    stdout = result.get("stdout")
    if isinstance(stderr, str) and stderr.strip():
        message = f"{message} ({stderr.strip()})"
    elif isinstance(stdout, str) and stdout.strip():
        # A command that reports its error on standard output says why in
        # its last line ("non-zero return code" alone says nothing).
        message = f"{message} ({stdout.strip().splitlines()[-1][-300:]})"
    return message


def _event_time(created: Any) -> datetime:
    if isinstance(created, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(created)
            return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    return timezone.now()


class EventRecorder:
    """ansible-runner's ``event_handler``: turns each event into a masked,
    trimmed ``RunEvent`` and stores them in batches while the playbook runs.

    It holds at most one batch of events, and returns False so that
    ansible-runner writes no per-event file either: memory and disk stay flat
    whatever the number of events. On the way it keeps what the run record
    needs: the stats, the first failed task, the first Ansible error.
    """

    #: Events kept for a retry when the database refuses a batch; beyond
    #: this many batches the oldest are dropped (and the loss logged).
    MAX_PENDING_BATCHES = 4

    def __init__(
        self, *, run_id: int, masker: Masker, batch_size: int, flush_seconds: float, stdout_limit: int
    ) -> None:
        self.run_id = run_id
        self.masker = masker
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.stdout_limit = stdout_limit
        self.buffer: list[RunEvent] = []
        self.stored = 0
        self.dropped = 0
        self.flushes = 0
        self.last_flush = time.monotonic()
        self.stats: dict[str, dict[str, int]] = {}
        self.failure = ""
        #: The return code of the first failed task's command, if it had one:
        #: a signal there (SIGXCPU) tells which run limit stopped it.
        self.failure_rc: int | None = None
        self.error_output = ""
        self.last_output = ""
        #: Set when the output shows the run cannot succeed and must be
        #: stopped now (see ``SSH_ADD_RETRY_PROMPT``); the supervisor acts on it.
        self.abort_reason = ""
        # The process group of ansible-playbook, looked up at its first
        # event: lets the executor kill it if the run is aborted from the
        # outside (a Celery time limit) while ansible-runner cannot.
        self.process_group: int | None = None
        #: What names the playbook's process among this process's children
        #: (its private dir, on its command line); see ``playbook_process_group``.
        self.private_dir = ""
        #: The last line printed outside a task, raw, and its event while it
        #: is still unstored: ansible-runner makes one event of each such
        #: line, so a secret wrapped onto two lines spans two events.
        self._loose_line: tuple[str, RunEvent] | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        self.buffer.append(self.record(event))
        if len(self.buffer) >= self.batch_size or self.flush_due():
            self.flush()
        return False  # ansible-runner must not write the event to disk

    def storable(self, value: Any) -> Any:
        """Output as it may be kept: secrets masked, NULs shown as ``NUL_MARK``."""
        return self.masker.data(without_nul(value))

    def record(self, event: Mapping[str, Any]) -> RunEvent:
        name = str(event.get("event") or "")
        data = event.get("event_data") or {}
        if not isinstance(data, Mapping):
            data = {}
        if self.process_group is None and self.private_dir:
            # Not the event's own "pid": in a sandbox that is a number of its
            # PID namespace, which names another process out here.
            self.process_group = playbook_process_group(self.private_dir)
        failed = name in FAILED_EVENTS and not data.get("ignore_errors")
        # Masked before it is cut (a secret must not survive half-cut), and
        # with the pseudo-terminal's \r\n line ends made plain \n.
        raw = without_nul(str(event.get("stdout") or ""))
        loose = name in ("verbose", "error")
        previous = self._loose_line if loose else None
        # Only the line right before, and only while it is unstored.
        if previous is not None and self.buffer and self.buffer[-1] is previous[1]:
            before, stdout = self.masker.across(previous[0], raw)
            previous[1].stdout = truncate(before.replace("\r\n", "\n"), self.stdout_limit)
        else:
            stdout = self.masker.text(raw)
        stdout = truncate(stdout.replace("\r\n", "\n"), self.stdout_limit)
        # Task names are templates too, so they can show a secret.
        task = self.storable(str(data.get("task") or ""))
        host = self.storable(str(data.get("host") or data.get("remote_addr") or ""))
        if name == "playbook_on_stats":
            self.stats = self.host_stats(data)
        elif failed and name in TASK_FAILED_EVENTS and not self.failure:
            where = f"task {task or data.get('task_action') or '?'} on host {host or '?'}"
            self.failure = self.storable(f"{where}: {_failure_message(data.get('res'))}")
            result = data.get("res")
            if isinstance(result, Mapping) and isinstance(result.get("rc"), int):
                self.failure_rc = result["rc"]
        elif name in ("error", "verbose") and stdout.strip():
            # Output outside any task: ssh-add, Ansible's own errors.
            self.last_output = stdout.strip()[-500:]
            if "ERROR!" in stdout and not self.error_output:
                self.error_output = stdout.strip()
            if SSH_ADD_RETRY_PROMPT in stdout:
                self.abort_reason = "the passphrase of the SSH key credential is wrong"
        recorded = RunEvent(
            run_id=self.run_id,
            counter=int(event.get("counter") or 0),
            event=name[:100],
            host=host[:255],
            task=task[:255],
            stdout=stdout,
            event_data=trim_event_data(data, limit=self.stdout_limit, mask=self.storable),
            failed=failed,
            created_at=_event_time(event.get("created")),
        )
        self._loose_line = (raw, recorded) if loose else None
        return recorded

    @staticmethod
    def host_stats(data: Mapping[str, Any]) -> dict[str, dict[str, int]]:
        counters = {key: data.get(key) or {} for key in (*STATS_KEYS, "processed")}
        hosts = sorted({host for values in counters.values() for host in values})
        return {host: {key: int(counters[key].get(host, 0)) for key in STATS_KEYS} for host in hosts}

    def flush_due(self) -> bool:
        return bool(self.buffer) and time.monotonic() - self.last_flush >= self.flush_seconds

    def flush(self) -> None:
        if not self.buffer:
            return
        batch = self.buffer
        try:
            run_events_append(run_id=self.run_id, events=batch)
        except (DataError, ValueError) as error:
            # Something in the batch cannot be stored (the database is fine):
            # store the rest one by one rather than lose the whole log.
            logger.warning("run %s: a batch of %d events was refused: %s", self.run_id, len(batch), error)
            for event in batch:
                try:
                    run_events_append(run_id=self.run_id, events=[event])
                except (DataError, ValueError):
                    self.dropped += 1
                    logger.error("run %s: event %s could not be stored", self.run_id, event.counter)
                else:
                    self.stored += 1
            self.flushes += 1
            self.buffer = []
            self.last_flush = time.monotonic()
            return
        except DatabaseError as error:
            # Never raise into ansible-runner: it would abandon a live
            # playbook. Keep the batch for the next flush, within limits.
            logger.warning("run %s: could not store %d events: %s", self.run_id, len(batch), error)
            overflow = len(batch) - self.MAX_PENDING_BATCHES * self.batch_size
            if overflow > 0:
                self.dropped += overflow
                del batch[:overflow]
                logger.error("run %s: dropped %d events the database refused", self.run_id, overflow)
            self.last_flush = time.monotonic()
            return
        self.stored += len(batch)
        self.flushes += 1
        self.buffer = []
        self.last_flush = time.monotonic()


class Supervisor:
    """ansible-runner's ``cancel_callback``, called several times a second
    while the playbook runs (at every line of output and at least every
    ``PEXPECT_TIMEOUT_SECONDS``). Returning True makes ansible-runner kill
    the playbook's process group.

    Passing it also keeps ansible-runner from installing its own signal
    handlers in the worker. It must not raise: ansible-runner would leave the
    playbook running.
    """

    def __init__(
        self, *, run_id: int, recorder: EventRecorder, heartbeat_seconds: float, stale_seconds: float = 60
    ) -> None:
        self.run_id = run_id
        self.recorder = recorder
        self.heartbeat_seconds = heartbeat_seconds
        #: Without the database this long, the playbook is stopped: the sweep
        #: gives the run up as lost after ``stale_seconds`` and the order may
        #: then be retried, which must not find this playbook still at work.
        self.unreachable_after = stale_seconds / 2
        now = time.monotonic()
        self.next_heartbeat = now + heartbeat_seconds  # run_claim just set one
        self.next_poll = now
        self.last_contact = now
        #: Why the playbook is being stopped: "cancel", "lost", "abort" or
        #: "unreachable".
        self.stop_reason: str | None = None

    def __call__(self) -> bool:
        if self.stop_reason:
            return True
        if self.recorder.abort_reason:
            self._stop("abort")
            return True
        # Late events of a quiet playbook (a task that waits) still reach the
        # page within the flush interval.
        if self.recorder.flush_due():
            self.recorder.flush()
        now = time.monotonic()
        try:
            if now >= self.next_heartbeat:
                self.next_heartbeat = now + self.heartbeat_seconds
                if not run_heartbeat(run_id=self.run_id):
                    self._stop("lost")
            if not self.stop_reason and now >= self.next_poll:
                self.next_poll = now + CANCEL_POLL_SECONDS
                control = run_control(run_id=self.run_id)
                if control is None or control.status != RunStatus.RUNNING:
                    self._stop("lost")
                elif control.cancel_requested_at is not None:
                    self._stop("cancel")
                self.last_contact = now
        except DatabaseError as error:
            # A short outage: the playbook goes on. A long one: it stops
            # before the sweep could give the run up and let it be retried.
            logger.warning("run %s: heartbeat/cancel check failed: %s", self.run_id, error)
            if now - self.last_contact >= self.unreachable_after:
                self._stop("unreachable")
        return self.stop_reason is not None

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        if reason == "lost":
            logger.warning("run %s is no longer running in the database; stopping the playbook", self.run_id)
        elif reason == "unreachable":
            logger.error(
                "run %s: no database for %.0f s; stopping the playbook", self.run_id, self.unreachable_after
            )
        elif reason == "abort":
            logger.info("run %s: %s; stopping the playbook", self.run_id, self.recorder.abort_reason)
        else:
            logger.info("run %s: cancel requested, stopping the playbook", self.run_id)


# --- The private data dir ----------------------------------------------------


def _write(path: Path, content: str, mode: int = 0o600) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)


def make_private_dir(run_id: int) -> Path:
    """A new directory only this user can enter, under ``SQUADRON_RUN_DIR``
    (the system's temporary directory when unset)."""
    base = settings.SQUADRON_RUN_DIR
    if base:
        Path(base).mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{installation_tag()}-{run_id}-", dir=base))  # mode 0700


def installation_tag() -> str:
    """A short tag of the database this process records runs in, in the
    names of private dirs: two installations (or two test processes) that
    share a temporary directory never take each other's dirs for their own."""
    database = settings.DATABASES["default"]
    where = f"{database.get('HOST') or ''}:{database.get('PORT') or ''}/{database['NAME']}"
    return hashlib.sha256(where.encode()).hexdigest()[:8]


PRIVATE_DIR_NAME = re.compile(r"^run-([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+$")


def private_dirs_cleanup() -> list[Path]:
    """Remove the private data dirs that runs which ended without their
    worker left behind (a worker killed outright never reaches its
    ``finally``): they may hold secret inputs. A dir is removed only once
    its run is over, so the live runs of other workers sharing the
    directory keep theirs. Returns what was removed."""
    base = Path(settings.SQUADRON_RUN_DIR or tempfile.gettempdir())
    if not base.is_dir():
        return []
    tag = installation_tag()
    found: dict[int, list[Path]] = {}
    for entry in base.iterdir():
        match = PRIVATE_DIR_NAME.match(entry.name)
        if not match or match.group(1) != tag or entry.is_symlink() or not entry.is_dir():
            continue
        if entry.stat().st_uid == os.getuid():
            found.setdefault(int(match.group(2)), []).append(entry)
    if not found:
        return []
    # A run still "running" whose worker was a process of this machine that
    # is gone died with it (its dir is here, on this disk): lost now, not in
    # a minute, and not only where the sweep runs (a squad's own workers
    # may never run it).
    running = Run.objects.filter(pk__in=found, status=RunStatus.RUNNING)
    for run_id, worker in running.values_list("pk", "worker"):
        if worker_gone(worker):
            run_mark_lost_with_worker(run_id=run_id, worker=worker)
    # Only runs known to be over: a dir of a run this database does not know
    # is left alone.
    over = set(
        Run.objects.filter(pk__in=found, status__in=list(TERMINAL_RUN_STATUSES)).values_list("pk", flat=True)
    )
    removed = []
    for run_id, paths in found.items():
        if run_id not in over:
            continue
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
                logger.warning("removed the private data dir %s that run %s left behind", path, run_id)
    return removed


def worker_gone(worker: str) -> bool:
    """Whether ``worker`` (a run's ``host:pid``) was a process of this
    machine that no longer runs. False when it cannot tell (another host)."""
    name, _, pid = worker.rpartition(":")
    return name == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (a zombie, killed
    but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


def _inventory(private_dir: Path) -> str:
    # Ansible's temporary files for localhost stay in the private dir (and
    # go with it). Only for localhost: ANSIBLE_REMOTE_TEMP would impose this
    # worker's path on every remote host, where it may not be creatable.
    remote_tmp = private_dir / "tmp" / "remote"
    return (
        f"localhost ansible_connection=local"
        f" ansible_python_interpreter={shlex.quote(sys.executable)}"
        f" ansible_remote_tmp={shlex.quote(str(remote_tmp))}\n"
    )


def output_dir_for(squad_slug: str) -> Path:
    """Where a squad's playbooks write their visible results: a folder of
    its own, so one squad's playbook neither reads nor overwrites another's."""
    output_dir = Path(settings.SQUADRON_OUTPUT_DIR) / squad_slug
    output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return output_dir


def _run_env(private_dir: Path, credential_env: Mapping[str, str], output_dir: Path) -> dict[str, str]:
    env = dict(credential_env)
    # The executor's own variables come last: a credential cannot redirect
    # them (and with them the event stream or the temporary files).
    env.update(
        {
            # ansible-playbook sits next to this Python in its virtualenv,
            # which the worker's PATH need not contain.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH") or os.defpath]),
            "SQUADRON_OUTPUT_DIR": str(output_dir),
            "ANSIBLE_LOCAL_TEMP": str(private_dir / "tmp" / "local"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            # ansible-runner reads through a pseudo-terminal, so Ansible would
            # colour its output; stored output is plain text (the portal may
            # colour it itself).
            "ANSIBLE_NOCOLOR": "true",
            "ANSIBLE_FORCE_COLOR": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        }
    )
    control_dir = private_dir / "cp"
    if len(str(control_dir)) <= MAX_CONTROL_DIR_LENGTH:
        # Per-run SSH multiplexing: a run must not ride on a connection
        # another run (another squad's credential) opened to the same host.
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
        env["ANSIBLE_PERSISTENT_CONTROL_PATH_DIR"] = str(private_dir / "pc")
    return env


def _inherited_env_only(env: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """ansible-runner's environment without what the worker's environment
    holds that the playbook must not see (see ``INHERITED_ENV``)."""
    kept = {}
    for name, value in env.items():
        inherited = os.environ.get(name) == value and name not in own
        if inherited and name not in INHERITED_ENV and not name.startswith(INHERITED_ENV_PREFIXES):
            continue
        kept[name] = value
    return kept


def _release_fifo(path: str | None) -> None:
    """Unblock ansible-runner's thread that writes the SSH key into a FIFO
    when ssh-add never read it (the run stopped first): read and discard it,
    or that thread would wait forever."""
    if not path:
        return
    with contextlib.suppress(OSError):
        if not stat.S_ISFIFO(os.lstat(path).st_mode):
            return
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                ready, _, _ = select.select([descriptor], [], [], 0.1)
                if ready and not os.read(descriptor, 65536):
                    break
        finally:
            os.close(descriptor)


# --- The run -------------------------------------------------------------------


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


def playbook_process_group(private_dir: str) -> int | None:
    """The process group of the playbook this process started for the run
    whose private dir is ``private_dir``: ansible-runner's child (a session
    leader, so its group is its pid), found among this process's children
    by the private dir on its command line."""
    parent = os.getpid()
    marker = private_dir.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            if marker in (entry / "cmdline").read_bytes():
                return os.getpgid(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return None


def _kill_process_group(process_group: int | None) -> None:
    if process_group and process_group != os.getpgid(0):
        with contextlib.suppress(OSError):
            os.killpg(process_group, signal.SIGKILL)


def _prepare_files(
    private_dir: Path, run: Run, inputs: Mapping[str, Any], material: CredentialMaterial
) -> None:
    _write(private_dir / "project" / "playbook.yml", run.runbook_version.content)
    _write(private_dir / "inventory" / "hosts", _inventory(private_dir))
    if material.host_vars:
        _write(private_dir / "inventory" / "group_vars" / "all.yml", render_unsafe_vars(material.host_vars))
    trusted = {"squadron_run_id": run.pk, "squadron_check_mode": run.check_mode}
    _write(private_dir / "env" / "extravars", render_extravars(inputs=inputs, trusted=trusted))
    # ansible-runner takes these from env/settings only: it overwrites the
    # keyword arguments of the same names when it reads that file.
    _write(
        private_dir / "env" / "settings",
        '{"suppress_output_file": true, "suppress_ansible_output": true,'
        f' "pexpect_timeout": {PEXPECT_TIMEOUT_SECONDS}, "pexpect_use_poll": true}}\n',
    )
    (private_dir / "tmp").mkdir(mode=0o700)
    (private_dir / "home").mkdir(mode=0o700)


def _runner_config(private_dir: Path, run: Run, material: CredentialMaterial) -> RunnerConfig:
    runbook = run.runbook_version.runbook
    output_dir = output_dir_for(runbook.squad.slug)
    own_env = _run_env(private_dir, material.envvars, output_dir)
    config = RunnerConfig(
        private_data_dir=str(private_dir),
        artifact_dir=str(private_dir / "artifacts"),
        ident=f"run-{run.pk}",
        playbook="playbook.yml",
        envvars=own_env,
        # Secrets stay in memory: no env/envvars, env/passwords or
        # env/ssh_key files (the key reaches ssh-agent through a FIFO).
        suppress_env_files=True,
        ssh_key=material.ssh_key,
        passwords={**material.passwords, LINE_END: None},
        cmdline="--check" if run.check_mode else None,
        timeout=run.runbook_version.runbook.timeout,
        quiet=True,
    )
    config.prepare()
    config.env = _inherited_env_only(config.env, own_env)
    runner_command = sandbox.limited(config.command, sandbox.Limits.from_settings())
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
    config.command = runner_command
    return config


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


def _record_failure(run_id: int, reason: str, started: float) -> Run:
    run_finish(run_id=run_id, status=RunStatus.FAILED, failure_reason=reason)
    logger.info("run %s failed in %.1f s: %s", run_id, time.monotonic() - started, reason)
    return Run.objects.get(pk=run_id)


def execute_run(
    *,
    run_id: int,
    inputs: Mapping[str, Any],
    secret_names: Iterable[str],
    extra_secrets: Iterable[str] = (),
) -> Run:
    """Claim the pending run ``run_id``, run its runbook version's playbook
    with ``inputs`` as extra vars, and record how it went.

    ``inputs`` are the clear values; the values of the inputs named in
    ``secret_names`` (the form's ``x-secret`` fields, at any depth) and the
    ``extra_secrets`` are masked in everything stored or logged, like the
    credentials' secrets. Returns the run as recorded. Returns at once,
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

    recorder = EventRecorder(
        run_id=run_id,
        masker=masker,
        batch_size=settings.SQUADRON_EVENT_BATCH_SIZE,
        flush_seconds=settings.SQUADRON_EVENT_FLUSH_MS / 1000,
        stdout_limit=settings.SQUADRON_EVENT_STDOUT_LIMIT,
    )
    supervisor = Supervisor(
        run_id=run_id,
        recorder=recorder,
        heartbeat_seconds=settings.SQUADRON_HEARTBEAT_SECONDS,
        stale_seconds=settings.SQUADRON_HEARTBEAT_STALE_SECONDS,
    )
    private_dir: Path | None = None
    config: RunnerConfig | None = None
    ended = False  # ansible-playbook is known to be gone
    try:
        private_dir = make_private_dir(run_id)
        _prepare_files(private_dir, run, inputs, material)
        config = _runner_config(private_dir, run, material)
        recorder.private_dir = str(private_dir)
        runner = Runner(config, event_handler=recorder, cancel_callback=supervisor)
        runner.run()
        ended = True
        recorder.flush()
        status, reason = _outcome(runner, recorder, supervisor)
        recorded = run_finish(
            run_id=run_id,
            status=status,
            rc=runner.rc,
            stats=recorder.stats,
            failure_reason=masker.text(reason),
        )
    except sandbox.SandboxUnavailable as error:
        return _record_failure(run_id, masker.text(f"cannot run here: {error}"), started)
    except (ExtraVarsError, OSError, DatabaseError, AnsibleRunnerException, ExceptionPexpect) as error:
        # The run's failure, not the worker's: recorded, message and
        # traceback masked. A playbook it left behind is killed first.
        if not ended:
            _kill_process_group(recorder.process_group)
        with contextlib.suppress(DatabaseError):
            recorder.flush()
        logger.error("run %s: executor error\n%s", run_id, masker.text(traceback.format_exc()))
        return _record_failure(
            run_id, masker.text(f"executor error: {type(error).__name__}: {error}"), started
        )
    finally:
        if not ended:
            # Also when interrupted from the outside: the playbook must not
            # outlive its run.
            _kill_process_group(recorder.process_group)
        if config is not None:
            _release_fifo(getattr(config, "ssh_key_path", None))
        if private_dir is not None:
            shutil.rmtree(private_dir, ignore_errors=True)
            if private_dir.exists():
                logger.error("run %s: could not remove its private data dir %s", run_id, private_dir)

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
