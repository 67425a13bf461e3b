"""Watching a run while its playbook runs: heartbeat, cancel, and the stop
on a database outage.

ansible-runner calls the :class:`Supervisor` several times a second; it
flushes late events, sends the heartbeat and polls for a cancel request, all
from the one thread that runs the playbook (no extra thread, so no second
database connection and nothing to synchronise).
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError

from runbooks.choices import RunStatus
from runbooks.execution.events import EventRecorder
from runbooks.selectors import run_control
from runbooks.services import run_heartbeat

# The logger keeps the name it had when the executor was one module: the
# name appears in every log line, and operators' filters may select it.
logger = logging.getLogger("runbooks.executor")

#: How often the database is asked whether the run was cancelled (seconds).
CANCEL_POLL_SECONDS = 0.3


class Supervisor:
    """ansible-runner's ``cancel_callback``, called several times a second
    while the playbook runs (at every line of output and at least every
    ``workspace.PEXPECT_TIMEOUT_SECONDS``). Returning True makes ansible-runner kill
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
