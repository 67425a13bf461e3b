"""Who is acting, for the audit trail: the request being served (its user and
client address, read when something is recorded, so a user the API
authenticates by token inside the view counts), the Celery task being run,
or the management command this process is.

A context variable, so threads and asyncio tasks each see their own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path

from django.http import HttpRequest

from portal.identity.throttling import client_address


class Via:
    """Where a change came from (``AuditEntry.via``)."""

    WEB = "web"
    ADMIN = "admin"
    API = "api"
    TASK = "task"
    COMMAND = "command"
    SYSTEM = "system"


@dataclass(frozen=True)
class Acting:
    via: str
    request: HttpRequest | None = None
    #: The task's or command's name.
    name: str = ""


@dataclass(frozen=True)
class Actor:
    """Who an entry names: a user (id and username, kept as text so the
    entry outlives the account) or the system, and the client address."""

    user_id: int | None
    name: str
    via: str
    address: str | None


_acting: ContextVar[Acting | None] = ContextVar("squadron_audit_acting", default=None)


@contextmanager
def acting(context: Acting) -> Iterator[None]:
    token = _acting.set(context)
    try:
        yield
    finally:
        _acting.reset(token)


#: The context each running Celery task set, to restore when it ends.
_task_tokens: dict[str, Token[Acting | None]] = {}


def task_started(*, task_id: str, name: str) -> None:
    _task_tokens[task_id] = _acting.set(Acting(via=Via.TASK, name=name))


def task_finished(*, task_id: str) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        _acting.reset(token)


def via_of(request: HttpRequest) -> str:
    if request.path_info.startswith("/api/"):
        return Via.API
    if request.path_info.startswith("/admin/"):
        return Via.ADMIN
    return Via.WEB


def _process() -> Acting:
    """Outside any request or task: the management command this process runs
    (``manage.py NAME`` or ``django-admin NAME``), else the system."""
    program = Path(sys.argv[0]).name if sys.argv else ""
    if program in ("manage.py", "django-admin") and len(sys.argv) > 1:
        return Acting(via=Via.COMMAND, name=sys.argv[1])
    return Acting(via=Via.SYSTEM)


def current_actor() -> Actor:
    context = _acting.get() or _process()
    request = context.request
    if request is None:
        return Actor(user_id=None, name=context.name or context.via, via=context.via, address=None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Actor(user_id=None, name="anonymous", via=context.via, address=client_address(request))
    return Actor(
        user_id=user.pk,
        name=user.get_username(),
        via=context.via,
        address=client_address(request),
    )
