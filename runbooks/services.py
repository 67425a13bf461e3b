"""State changes of runbooks, credentials and runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from runbooks.choices import TERMINAL_RUN_STATUSES, CancelOutcome, CredentialKind, RunStatus
from runbooks.crypto import decrypt_json, encrypt_json
from runbooks.models import Credential, Run, Runbook, RunbookVersion, RunEvent
from runbooks.playbooks import playbook_checksum, validate_playbook
from squads.audit import record, secret_changed

logger = logging.getLogger(__name__)

#: Secret keys each credential kind may hold.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    CredentialKind.USERNAME_PASSWORD: ("password",),
    CredentialKind.SSH_KEY: ("ssh_key_data", "passphrase"),
    CredentialKind.TOKEN_ENV: ("env",),
}


def runbook_set_playbook(*, runbook: Runbook, content: str, user: User | None = None) -> RunbookVersion:
    """Make ``content`` the runbook's current playbook.

    Identical content (same checksum as the current version) creates nothing,
    so saving a form or re-importing a catalogue does not churn versions.
    """
    validate_playbook(content)
    checksum = playbook_checksum(content)
    with transaction.atomic():
        locked = Runbook.objects.select_for_update().get(pk=runbook.pk)
        current = locked.current_version
        if current is not None and current.checksum == checksum:
            runbook.current_version = current
            return current
        last = locked.versions.aggregate(last=Max("number"))["last"] or 0
        version = RunbookVersion.objects.create(
            runbook=locked, number=last + 1, content=content, checksum=checksum, created_by=user
        )
        Runbook.objects.filter(pk=locked.pk).update(current_version=version)
        record(
            action="changed",
            target=locked,
            changes={"current_version": {"before": str(current) if current else None, "after": str(version)}},
        )
    runbook.current_version = version
    return version


def credential_set_secrets(*, credential: Credential, secrets: dict) -> None:
    """Replace the credential's secret values (encrypted before they are stored).

    Empty values are dropped so that a form left blank keeps nothing in clear.
    """
    allowed = SECRET_FIELDS[credential.kind]
    unknown = set(secrets) - set(allowed)
    if unknown:
        raise ValueError(f"{credential.get_kind_display()} has no secret {sorted(unknown)}")
    kept = {key: value for key, value in secrets.items() if value}
    credential.secret_ciphertext = encrypt_json(kept) if kept else ""
    updated = Credential.objects.filter(pk=credential.pk).update(
        secret_ciphertext=credential.secret_ciphertext
    )
    if updated:
        # Which secrets were given, never their values.
        record(
            action="changed",
            target=credential,
            changes=secret_changed("secrets"),
            note=", ".join(sorted(kept)),
        )


# --- Runs ------------------------------------------------------------------
# A run moves pending -> running -> succeeded | failed | timed_out | cancelled,
# or pending -> cancelled, or running -> lost (worker gone). Every move is a
# conditional UPDATE on the status it leaves, and its row count says whether
# this caller won: two workers, a cancel and the lost-worker sweep can race
# on the same run and exactly one of them changes it.

#: Where ``run_finish`` may take a running run.
FINISHED_RUN_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED}
)

#: ``Run.failure_reason`` of a run whose worker stopped sending heartbeats.
WORKER_LOST = "worker_lost"

_FAILURE_REASON_LENGTH = Run._meta.get_field("failure_reason").max_length or 1000


class RunError(Exception):
    """An illegal move in a run's lifecycle."""


def run_create(
    *, runbook_version: RunbookVersion, masked_inputs: dict[str, Any], check_mode: bool = False
) -> Run:
    """Record a run waiting for a worker. ``masked_inputs`` must already have
    its secret values masked (``runbooks.execution.masking.mask_inputs``): it is stored
    and shown as it is."""
    return Run.objects.create(
        runbook_version=runbook_version,
        masked_inputs=masked_inputs,
        check_mode=check_mode,
        status=RunStatus.PENDING,
    )


def run_claim(*, run_id: int, worker: str) -> bool:
    """Take a pending run for ``worker`` (``hostname:pid``) and mark it running.

    Returns False when another worker already claimed it or it is no longer
    pending (cancelled before it started): the caller must then not run the
    playbook. This is what makes a task the broker delivers twice run once.
    """
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:255]
    )
    return claimed == 1


def run_heartbeat(*, run_id: int) -> bool:
    """Tell the sweep the worker of a running run is alive. Returns False when
    the run is no longer running (the sweep gave it up as lost), in which case
    the executor stops the playbook: nobody waits for its result any more."""
    return Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now()) == 1


def run_request_cancel(*, run: Run) -> str:
    """Cancel a run: a pending run is cancelled at once and never starts; a
    running run gets ``cancel_requested_at`` and its executor kills the
    playbook within about a second, then records it cancelled.

    Returns a ``CancelOutcome``; raises ``RunError`` for a finished run.
    Asking twice is harmless (the first request time is kept).
    """
    # Two rounds at most: a pending run may be claimed between our two
    # conditional updates, and then it is a running run to stop.
    for _attempt in range(2):
        now = timezone.now()
        if Run.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            status=RunStatus.CANCELLED, finished_at=now, cancel_requested_at=now
        ):
            run.status, run.finished_at, run.cancel_requested_at = RunStatus.CANCELLED, now, now
            logger.info("run %s cancelled before it started", run.pk)
            return CancelOutcome.CANCELLED
        requested = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING, cancel_requested_at=None).update(
            cancel_requested_at=now
        )
        current = Run.objects.filter(pk=run.pk).values("status", "cancel_requested_at").first()
        if current is None:
            raise RunError(f"Run {run.pk} does not exist.")
        if current["status"] == RunStatus.RUNNING:
            run.status, run.cancel_requested_at = RunStatus.RUNNING, current["cancel_requested_at"]
            if not requested:
                return CancelOutcome.ALREADY_REQUESTED
            logger.info("run %s: cancel requested", run.pk)
            return CancelOutcome.REQUESTED
        if current["status"] in TERMINAL_RUN_STATUSES:
            run.status = current["status"]
            raise RunError(f"Run {run.pk} is already {current['status']}; it cannot be cancelled.")
    raise RunError(f"Run {run.pk} changed state while it was being cancelled; try again.")


#: The most a playbook may report with ``set_stats`` (as JSON): beyond it the
#: report is not kept, only its size.
REPORT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reported:
    """What a run's playbook reported with ``set_stats``: its ``size`` in
    bytes (as JSON), the ``data`` (None when larger than
    ``REPORT_MAX_BYTES``), and the same data ``masked`` as the run's output
    is, which tells where secrets the run knew (inputs, credentials) sit."""

    size: int = 0
    data: object = None
    masked: object = None


def sealed_report(reported: object, masked: object = None) -> str:
    """``Run.reported_ciphertext`` for what a playbook reported (and its
    masked form, the same when not given): encrypted, "" for nothing."""
    if not reported:
        return ""
    try:
        size = len(json.dumps(reported, ensure_ascii=False, separators=(",", ":")).encode())
    except (TypeError, ValueError):
        return encrypt_json({"size": 0})
    if size > REPORT_MAX_BYTES:
        return encrypt_json({"size": size})
    return encrypt_json({"size": size, "data": reported, "masked": reported if masked is None else masked})


def run_reported(run: Run) -> Reported:
    """What the run's playbook reported with ``set_stats`` (decrypted)."""
    if not run.reported_ciphertext:
        return Reported()
    sealed = decrypt_json(run.reported_ciphertext)
    if not isinstance(sealed, dict):
        return Reported()
    return Reported(size=int(sealed.get("size") or 0), data=sealed.get("data"), masked=sealed.get("masked"))


def run_finish(
    *,
    run_id: int,
    status: str,
    rc: int | None = None,
    stats: dict[str, Any] | None = None,
    failure_reason: str = "",
    failed_task: str = "",
    failure_kind: str = "",
    reported: object = None,
    reported_masked: object = None,
) -> bool:
    """Record how a running run ended (the executor calls this).

    Returns False, changing nothing, when the sweep already marked the run
    lost: the order may have been retried meanwhile, so the late result must
    not resurrect it. Raises ``RunError`` for any other illegal move.
    ``failure_reason`` must already be masked; ``reported`` (what the
    playbook reported with ``set_stats``) is stored encrypted, with
    ``reported_masked``, the same masked as the run's output.
    """
    if status not in FINISHED_RUN_STATUSES:
        raise RunError(f"A run cannot finish as {status!r}.")
    finished = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=status,
        rc=rc,
        stats=stats or {},
        reported_ciphertext=sealed_report(reported, reported_masked),
        failure_reason=failure_reason[:_FAILURE_REASON_LENGTH],
        failed_task=failed_task[:255],
        failure_kind=failure_kind,
        finished_at=timezone.now(),
    )
    if finished:
        return True
    current = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if current == RunStatus.LOST:
        logger.warning("run %s ended %s but was already marked lost; result discarded", run_id, status)
        return False
    raise RunError(f"Run {run_id} is {current or 'missing'}, not running; it cannot finish as {status}.")


def run_abandon(*, run_id: int, failure_reason: str) -> bool:
    """End a run that never started as failed (its inputs could not be
    prepared, or its worker died before claiming it), so that neither its
    order nor a dry run waits for it for ever. False if it had started."""
    return bool(
        Run.objects.filter(pk=run_id, status=RunStatus.PENDING).update(
            status=RunStatus.FAILED,
            failure_reason=failure_reason[:_FAILURE_REASON_LENGTH],
            finished_at=timezone.now(),
        )
    )


def run_events_append(*, run_id: int, events: Sequence[RunEvent]) -> None:
    """Store a batch of a run's events (already masked and trimmed) and count
    them on the run, so a page can show progress without counting rows."""
    if not events:
        return
    # One transaction: a reader never sees rows the count does not include
    # (pages use the count to decide what to fetch).
    with transaction.atomic():
        RunEvent.objects.bulk_create(events)
        Run.objects.filter(pk=run_id).update(event_count=F("event_count") + len(events))


def run_notes_append(*, run_id: int, lines: Sequence[str]) -> None:
    """Add Squadron's own lines (what it made of a report) to the end of a
    finished run's log, after the playbook's last event."""
    if not lines:
        return
    last = RunEvent.objects.filter(run_id=run_id).aggregate(last=Max("counter"))["last"] or 0
    now = timezone.now()
    run_events_append(
        run_id=run_id,
        events=[
            RunEvent(
                run_id=run_id, counter=last + index, event="squadron_report", stdout=line, created_at=now
            )
            for index, line in enumerate(lines, start=1)
        ],
    )


def run_mark_lost_with_worker(*, run_id: int, worker: str) -> bool:
    """Mark the running run lost now, if ``worker`` still runs it: its worker
    is known to be dead (a restarted worker found its process gone), so the
    heartbeat's staleness need not be waited for."""
    marked = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING, worker=worker).update(
        status=RunStatus.LOST, failure_reason=WORKER_LOST, finished_at=timezone.now()
    )
    if marked:
        logger.warning("run %s marked lost: its worker %s is gone", run_id, worker)
    return bool(marked)


def runs_mark_lost(*, stale_after: timedelta) -> list[int]:
    """Mark lost every running run whose worker has not sent a heartbeat for
    ``stale_after`` (it died, or lost its database), and return their ids.

    Each row is updated on its own condition, so a heartbeat that arrives
    between the query and the update keeps its run alive.
    """
    cutoff = timezone.now() - stale_after
    candidates = Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
        "pk", flat=True
    )
    lost = []
    for run_id in list(candidates):
        marked = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=RunStatus.LOST, failure_reason=WORKER_LOST, finished_at=timezone.now()
        )
        if marked:
            lost.append(run_id)
            logger.warning("run %s marked lost: no heartbeat since %s", run_id, cutoff)
    return lost
