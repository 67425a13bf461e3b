"""The Celery application: ``celery -A portal worker`` / ``celery -A portal beat``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init, worker_ready
from kombu import Exchange, Queue

# Imported for its signal handler: every task message this process publishes is signed.
from portal import task_signing

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# Every task's messages are checked (signature, queue) before a worker runs it.
app = Celery("portal", task_cls=f"{task_signing.__name__}:{task_signing.SignedTask.__name__}")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    # A task is acknowledged only once it finished, and given back if the
    # worker process dies: together with idempotent tasks, nothing is lost.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()


def _embedded_broker_prefetch() -> None:
    """The filesystem broker is polled by Celery's blocking loop, which sends
    the late acknowledgement of a finished task only when its next 2-second
    wait for messages ends: with a prefetch of one message per process, the
    next order then waits up to 2 s behind an acknowledgement. Letting each
    process hold a few messages takes the next one at once; the pool still
    hands it to whichever process is free, and a message a dead worker held
    is the sweep's to send again, as with any broker outage."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        app.conf.worker_prefetch_multiplier = 4


def _prepare_filesystem_broker() -> None:
    """The embedded broker's folders must exist before anyone publishes."""
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        # Folder names (str) among the transport's other options.
        Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _on_after_configure(sender: Celery, **kwargs: object) -> None:
    _prepare_filesystem_broker()
    _embedded_broker_prefetch()


@worker_init.connect
@worker_process_init.connect
def _keep_playbooks_out(**kwargs: object) -> None:
    """Before any playbook runs: neither the worker nor its pool processes
    can be read by the playbooks they start (runbooks.hardening)."""
    from runbooks.hardening import deny_inspection_by_playbooks

    deny_inspection_by_playbooks()


@worker_ready.connect
def _remove_what_lost_runs_left(**kwargs: object) -> None:
    """A worker that starts again after being killed cleans the private data
    dirs its lost runs left on this machine (they may hold secrets)."""
    from runbooks.execution.workspace import private_dirs_cleanup

    try:
        private_dirs_cleanup()
    except Exception:  # never keep a worker from starting; the sweep retries
        logging.getLogger(__name__).warning("could not clean stale run dirs", exc_info=True)


def send_or_leave_for_sweep(task: str, object_id: int, *, what: str, **options: Any) -> bool:
    """Send ``task`` for ``object_id``; True when the broker took it.

    Never raises and never retries: the row the task is about is already
    committed as waiting (a queued order, a pending delivery or email), so
    with the broker down a periodic sweep finds it and sends it again, and
    the user who caused it still gets an answer at once."""
    try:
        app.send_task(task, args=[object_id], retry=False, **options)
    except Exception:  # any broker failure: the sweep sends it later
        logger.warning("%s %s: broker unreachable, left for the sweep", what, object_id, exc_info=True)
        return False
    return True


def queue_drop(name: str) -> None:
    """Delete a queue and the messages in it (benchmarks and test sessions
    work on queues of their own). kombu's ``queue_delete`` forgets only what
    its own connection bound, so it left a queue that the web process or a
    worker declared, messages and all, on the broker: bind it here first."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        queue = Queue(name, Exchange(name), routing_key=name)(channel)
        queue.declare()
        queue.purge()
        queue.delete()
        _drop_unacked(channel, name)


def _drop_unacked(channel: Any, name: str) -> None:
    """Redis keeps the messages a killed worker held, to put them back on
    their queue hours later (a queue nobody reads any more, for a test
    session or a benchmark): drop those of ``name`` now."""
    client, key = getattr(channel, "client", None), getattr(channel, "unacked_key", None)
    if client is None or key is None:
        return  # not Redis: nothing kept aside
    for tag, raw in client.hgetall(key).items():
        try:
            routing_key = json.loads(raw)[0]["properties"]["delivery_info"]["routing_key"]
        except (ValueError, LookupError, TypeError):
            continue
        if routing_key == name:
            client.hdel(key, tag)
            client.zrem(channel.unacked_index_key, tag)


@beat_init.connect
def _keep_playbooks_out_of_beat(**kwargs: object) -> None:
    """Beat holds the broker's URL and the settings' secrets too."""
    from runbooks.hardening import deny_inspection_by_playbooks

    deny_inspection_by_playbooks()


@worker_init.connect
def _refuse_to_run_playbooks_unsandboxed(**kwargs: object) -> None:
    """A worker whose settings ask for the bubblewrap sandbox and that has no
    ``bwrap`` stops here, before it takes a task: it would otherwise run
    every squad's playbook with the worker's own rights. Raised as
    SystemExit, which Celery's signal dispatch does not swallow."""
    from django.core.exceptions import ImproperlyConfigured

    from runbooks.execution.sandbox import require_isolation

    try:
        require_isolation()
    except ImproperlyConfigured as error:
        logging.getLogger(__name__).critical("%s", error)
        raise SystemExit(f"Squadron worker not started: {error}") from None
