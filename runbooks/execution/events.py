"""ansible-runner's events recorded while the playbook runs.

Each event becomes a ``RunEvent``: masked (``runbooks.execution.masking``)
before it is trimmed, so that no secret survives half-cut, and stored in
batches; the events are never all in memory. On the way the recorder keeps
what the run record needs: the stats, the first failed task, the first
Ansible error.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, DataError
from django.utils import timezone

from runbooks.choices import REFUSING_MODULES, FailureKind
from runbooks.execution.credentials import SSH_ADD_RETRY_PROMPT
from runbooks.execution.masking import Masker
from runbooks.execution.reasons import AnsibleOutput, plain_paths, task_failure
from runbooks.execution.workspace import playbook_process_group
from runbooks.models import RunEvent
from runbooks.services import run_events_append

# The logger keeps the name it had when the executor was one module: the
# name appears in every log line, and operators' filters may select it.
logger = logging.getLogger("runbooks.executor")

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

_TRUNCATED = "\n[… {dropped} characters of output left out …]\n"
#: Stands for a NUL character of the output: PostgreSQL stores no NUL in text
#: or JSON, and one such byte would keep a whole batch of events from the log.
NUL_MARK = "\u2400"


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

    #: Characters of output buffered before a flush, whatever the batch size:
    #: a few tasks printing megabytes each must not pile up in memory.
    MAX_BUFFERED_CHARS = 8 * 1024 * 1024

    def __init__(
        self,
        *,
        run_id: int,
        masker: Masker,
        batch_size: int,
        flush_seconds: float,
        stdout_limit: int,
        stdout_max: int,
    ) -> None:
        self.run_id = run_id
        self.masker = masker
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        #: What is kept of each value of an event's result summary.
        self.stdout_limit = stdout_limit
        #: What is stored of an event's output: all of it up to this many
        #: characters ("Download full log" promises the whole log; a page
        #: abbreviates when it reads, ``runbooks.selectors``).
        self.stdout_max = stdout_max
        self.buffered_chars = 0
        self.buffer: list[RunEvent] = []
        self.stored = 0
        self.dropped = 0
        self.flushes = 0
        self.last_flush = time.monotonic()
        self.stats: dict[str, dict[str, int]] = {}
        #: What the playbook reported with ``set_stats`` (clear: kept in
        #: memory only, stored encrypted by ``run_finish``), and the same
        #: masked, which shows where the run's secrets sit in it.
        self.reported: object = None
        self.reported_masked: object = None
        self.failure = ""
        #: The first failed task's name, and its kind (``FailureKind``).
        self.failed_task = ""
        self.failure_kind = ""
        #: The return code of the first failed task's command, if it had one:
        #: a signal there (SIGXCPU) tells which run limit stopped it.
        self.failure_rc: int | None = None
        #: What Ansible printed outside any task (its errors among it).
        self.ansible_output = AnsibleOutput()
        #: Set when the output shows the run cannot succeed and must be
        #: stopped now (see ``SSH_ADD_RETRY_PROMPT``); the supervisor acts on it.
        self.abort_reason = ""
        # The process group of ansible-playbook, looked up at its first
        # event: lets the executor kill it if the run is aborted from the
        # outside (a Celery time limit) while ansible-runner cannot.
        self.process_group: int | None = None
        #: The run's private dir: names the playbook's process among this
        #: process's children (see ``playbook_process_group``), and is said in
        #: words in failure reasons.
        self.private_dir = ""
        #: The last line printed outside a task, raw, and its event while it
        #: is still unstored: ansible-runner makes one event of each such
        #: line, so a secret wrapped onto two lines spans two events.
        self._loose_line: tuple[str, RunEvent] | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        recorded = self.record(event)
        self.buffer.append(recorded)
        self.buffered_chars += len(recorded.stdout)
        if (
            len(self.buffer) >= self.batch_size
            or self.buffered_chars >= self.MAX_BUFFERED_CHARS
            or self.flush_due()
        ):
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
        stdout = self._stdout(raw, loose=loose)
        # Task names are templates too, so they can show a secret.
        task = self.storable(str(data.get("task") or ""))
        host = self.storable(str(data.get("host") or data.get("remote_addr") or ""))
        self._note(name, data, failed=failed, task=task, host=host, stdout=stdout)
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

    def _stdout(self, raw: str, *, loose: bool) -> str:
        """An event's output as stored: masked, then cut to the limit."""
        previous = self._loose_line if loose else None
        # Only the line right before, and only while it is unstored.
        if previous is not None and self.buffer and self.buffer[-1] is previous[1]:
            before, stdout = self.masker.across(previous[0], raw)
            previous[1].stdout = truncate(before.replace("\r\n", "\n"), self.stdout_max)
        else:
            stdout = self.masker.text(raw)
        return truncate(stdout.replace("\r\n", "\n"), self.stdout_max)

    def _note(
        self, name: str, data: Mapping[str, Any], *, failed: bool, task: str, host: str, stdout: str
    ) -> None:
        """Keep what the run record needs from an event: the stats, the first
        failed task, the output outside any task."""
        if name == "playbook_on_stats":
            self.stats = self.host_stats(data)
            self.reported = data.get("artifact_data") or None
            self.reported_masked = self.masker.data(self.reported)
        elif failed and name in TASK_FAILED_EVENTS and not self.failure:
            where = f"task {task or data.get('task_action') or '?'} on host {host or '?'}"
            self.failure = self.storable(f"{where}: {task_failure(data.get('res'), self.private_dir)}")
            self.failed_task = self.masker.text(task)[:255]
            refused = name == "runner_on_failed" and data.get("task_action") in REFUSING_MODULES
            self.failure_kind = FailureKind.REFUSED if refused else FailureKind.TASK
            result = data.get("res")
            if isinstance(result, Mapping) and isinstance(result.get("rc"), int):
                self.failure_rc = result["rc"]
        elif name in ("error", "verbose") and stdout.strip():
            # Output outside any task: ssh-add, Ansible's own errors.
            self.ansible_output.read(stdout)
            if SSH_ADD_RETRY_PROMPT in stdout:
                self.abort_reason = "the passphrase of the SSH key credential is wrong"

    @property
    def error_output(self) -> str:
        """The first error Ansible printed outside a task, as a reason reads."""
        return plain_paths(self.ansible_output.error, self.private_dir)

    @property
    def last_output(self) -> str:
        """The last line printed outside a task that said something."""
        return self.ansible_output.last_line[-500:]

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
            self.buffered_chars = 0
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
                self.buffered_chars = sum(len(event.stdout) for event in batch)
            self.last_flush = time.monotonic()
            return
        self.stored += len(batch)
        self.flushes += 1
        self.buffer = []
        self.buffered_chars = 0
        self.last_flush = time.monotonic()
