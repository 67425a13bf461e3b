"""Task messages that a playbook can neither forge nor move.

Playbooks may reach the broker (a squad's runbook talks to the network), so
nothing in a task message is taken on trust. Every task message Squadron
publishes carries an HMAC, keyed from ``SECRET_KEY`` for this one purpose,
over its task name, id, arguments (and what follows the task, its timing)
and the queue it is published to: the key lives only in the service's own
processes, never in a playbook's sandbox.

A worker checks each message before it reaches a pool process (the task's
``Strategy``, in the worker's main process, which knows the queues it really
consumes): unsigned or badly signed, published for a queue this worker does
not consume (moved inside the broker onto another squad's queue), or naming
an order whose runbook runs on another queue, the message is rejected without
running anything and not delivered again, logged at WARNING, and recorded on
the order it names.
"""

from __future__ import annotations

import hmac
import logging
import reprlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.signals import before_task_publish
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils.crypto import salted_hmac
from kombu.utils.json import dumps as kombu_dumps

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "squadron_signature"
QUEUE_HEADER = "squadron_queue"
#: The headers that decide what runs, when and for how long. The body is
#: signed whole: besides the arguments it holds the callbacks and chain that
#: the worker would publish once the task ends (with its key: signed), so an
#: unsigned one would make the worker sign what a playbook wrote.
SIGNED_HEADERS = ("task", "id", "eta", "expires", "timelimit")
# The salt makes this key useless for anything else SECRET_KEY signs
# (sessions, password reset links), and theirs useless here.
_KEY_SALT = "squadron.portal.task_signing.task-message"


def task_signature(*, headers: Mapping[str, Any], body: Any, queue: str, secret: str | None = None) -> str:
    """The HMAC-SHA256 of one task message, hex. The fields are serialised as
    Celery serialises them (kombu's JSON, keys sorted), so what the worker
    decodes gives back exactly what was signed."""
    signed = {name: headers.get(name) for name in SIGNED_HEADERS}
    message = kombu_dumps([signed, body, queue], sort_keys=True, separators=(",", ":"))
    return salted_hmac(_KEY_SALT, message, secret, algorithm="sha256").hexdigest()


@before_task_publish.connect(dispatch_uid="squadron-task-signing")
def sign_task_message(
    *, sender: str, body: Any, routing_key: str | None, headers: dict[str, Any], **kwargs: object
) -> None:
    """Sign every task message as it is published, in whichever process
    publishes it (web, worker, beat, commands): Celery sends the headers it
    is given here."""
    queue = routing_key or ""
    headers[QUEUE_HEADER] = queue
    headers[SIGNATURE_HEADER] = task_signature(headers=headers, body=body, queue=queue)


@dataclass(frozen=True)
class TaskMessage:
    """What a worker read from one task message, before trusting any of it:
    its headers and its body (arguments, keyword arguments, what follows)."""

    headers: Mapping[str, Any]
    body: list[Any]

    @classmethod
    def read(cls, message: Any) -> TaskMessage | None:
        """The message's fields, or None when it is not shaped as the task
        messages Squadron publishes (Celery's protocol 2)."""
        headers = message.headers if isinstance(message.headers, dict) else {}
        if not (isinstance(headers.get("task"), str) and isinstance(headers.get("id"), str)):
            return None
        body = message.payload
        if not (isinstance(body, list | tuple) and len(body) == 3):
            return None
        return cls(headers, list(body))

    @property
    def task(self) -> str:
        return self.headers["task"]

    @property
    def queue(self) -> object:
        """The queue it says it was published for (trusted once signed)."""
        return self.headers.get(QUEUE_HEADER)

    @property
    def args(self) -> Any:
        return self.body[0]

    @property
    def object_id(self) -> object:
        """The id the task is about (orders' and dry runs' tasks take one)."""
        return self.args[0] if isinstance(self.args, list) and self.args else None

    def signature_valid(self) -> bool:
        """Whether it was signed by this installation: with its
        ``SECRET_KEY`` or one of its ``SECRET_KEY_FALLBACKS``, so that
        rotating the key does not refuse the messages waiting in the broker."""
        signature, queue = self.headers.get(SIGNATURE_HEADER), self.queue
        if not isinstance(signature, str) or not isinstance(queue, str):
            return False
        return any(
            hmac.compare_digest(
                signature, task_signature(headers=self.headers, body=self.body, queue=queue, secret=secret)
            )
            for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        )


@dataclass(frozen=True)
class RunTaskRules:
    """What the order domain, which defines the tasks that run a runbook,
    tells the worker about them: their names, why a message for one was
    published for the wrong queue (or None), and how a refusal is recorded
    on the order it names. Registered by ``portal.orders.execution`` when it
    is imported (Celery's autodiscovery imports it before a worker consumes
    anything), so this module imports no domain."""

    tasks: frozenset[str]
    misrouted: Callable[..., str | None]
    refused: Callable[..., object]


_run_task_rules: RunTaskRules | None = None


def run_task_rules_register(rules: RunTaskRules) -> None:
    global _run_task_rules
    _run_task_rules = rules


def message_refusal(message: TaskMessage | None, *, consumed: Collection[str]) -> str | None:
    """Why a worker consuming the queues ``consumed`` must not run this
    message, or None when it may (the checks that need no database)."""
    if message is None:
        return "it is not shaped as Squadron's task messages are"
    if SIGNATURE_HEADER not in message.headers:
        return "it is not signed: Squadron did not publish it"
    if not message.signature_valid():
        return "its signature does not match: it was forged, or its task, arguments or queue were changed"
    if message.queue not in consumed:
        return (
            f"it was published for the queue {message.queue!r}, which this worker does not consume: "
            "it was moved onto one of this worker's queues"
        )
    return None


def refusal(message: TaskMessage | None, *, consumed: Collection[str]) -> str | None:
    """Why this worker must not run ``message``, or None: the message's own
    checks, then (orders and dry runs) that it was published for the queue
    of the runbook it would run."""
    reason = message_refusal(message, consumed=consumed)
    if reason is not None or message is None:
        return reason
    rules = _run_task_rules
    if rules is None:
        # Fail closed: without the order domain's rules this worker cannot
        # tell a misrouted order from a genuine one.
        return "this worker has not loaded the rules of the tasks that run runbooks"
    if message.task not in rules.tasks:
        return None
    try:
        return rules.misrouted(task=message.task, object_id=message.object_id, queue=str(message.queue))
    except DatabaseError:
        # Squadron itself sent this message to this worker's queue: a database
        # that does not answer now must not drop a genuine order's message
        # (the task reads the database anyway, and fails or runs).
        logger.warning(
            "could not compare task message %s with its runbook's queue", message.headers["id"], exc_info=True
        )
        return None


def refuse(message: TaskMessage | None, *, raw: Any, reason: str, worker: str) -> None:
    """Log and record a refused message (the caller rejects it)."""
    headers = raw.headers if isinstance(raw.headers, dict) else {}
    logger.warning(
        "%s refused task message %s (%s, args %s, delivered on %r): %s",
        worker,
        headers.get("id"),
        headers.get("task"),
        reprlib.repr(message.args) if message else "?",
        (raw.delivery_info or {}).get("routing_key"),
        reason,
    )
    if message is None or _run_task_rules is None:
        return
    try:
        _run_task_rules.refused(task=message.task, object_id=message.object_id, worker=worker, reason=reason)
    except Exception:  # the refusal stands even when the database cannot record it
        logger.warning("could not record the refusal of task message %s", headers.get("id"), exc_info=True)


def _consumed_queues(consumer: Any) -> set[str]:
    """The queues this worker consumes now (``--queues``, and any added or
    cancelled since by remote control), read from its task consumer."""
    task_consumer = getattr(consumer, "task_consumer", None)
    queues: Iterable[Any] = getattr(task_consumer, "queues", None) or ()
    return {queue.name for queue in queues}


def verified_strategy(task: Task, app: Any, consumer: Any, **kwargs: Any) -> Callable[..., Any]:
    """Celery's default strategy behind the checks above: a refused message
    is rejected (not requeued, so never delivered again) in the worker's
    main process and never reaches a pool process."""
    from celery.worker.strategy import default

    handle = default(task, app, consumer, **kwargs)

    def on_task_message(
        message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **options: Any
    ) -> Any:
        read: TaskMessage | None = None
        # The worker's main process keeps its database connection between
        # messages: one the server dropped meanwhile is replaced, not used.
        close_old_connections()
        try:
            read = TaskMessage.read(message)
            reason = refusal(read, consumed=_consumed_queues(consumer))
        except Exception:  # a message that cannot be checked is not run
            logger.warning("could not check a task message", exc_info=True)
            reason = "it could not be read as a task message"
        if reason is None:
            return handle(message, body, ack, reject, callbacks, **options)
        refuse(read, raw=message, reason=reason, worker=consumer.hostname)
        reject(logger, consumer.connection_errors, False)
        return None

    return on_task_message


class SignedTask(Task):
    """The base of every Squadron task: its messages are checked as above
    before the worker runs them."""

    Strategy = "portal.task_signing:verified_strategy"
