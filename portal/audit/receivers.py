"""What puts entries on the trail: ``squads.audit.changed`` (every change,
from any package) and the login signals of Django and django-axes."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from celery.signals import task_postrun, task_prerun
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models import Model
from django.http import HttpRequest

from portal.audit.context import task_finished, task_started
from portal.audit.services import entry_record, login_event_record
from squads.audit import changed


def _changed(
    sender: type[Model], *, action: str, target: Model, changes: dict, note: str, **kwargs: Any
) -> None:
    entry_record(action=action, target=target, changes=changes, note=note)


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    login_event_record(request, action="logged_in", username=user.get_username(), user_id=user.pk)


def _refused_while_locked_out(request: HttpRequest | None) -> bool:
    """A try that axes refused unchecked because a lock-out holds: the
    lock-out is on the trail already, and an attacker hammering a locked
    account must not grow the trail by two entries a request. (axes counts
    a failure, and says how many, only when it checked the password.)"""
    locked_out = bool(getattr(request, "axes_locked_out", False))
    return locked_out and getattr(request, "axes_failures_since_start", None) is None


def _login_failed(sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if _refused_while_locked_out(request):
        return
    # Django hides the password in credentials; only the username is read.
    username = str(credentials.get("username") or "")
    note = "a wrong two-step code" if sender == "portal.identity.throttling" else "a wrong password"
    login_event_record(request, action="login_failed", username=username, note=note)


def _locked_out(sender: Any, request: HttpRequest | None, username: str | None, **kwargs: Any) -> None:
    if _refused_while_locked_out(request):
        return
    login_event_record(request, action="locked_out", username=username or "")


def _task_started(sender: Any = None, task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    task_started(task_id=task_id, name=getattr(task, "name", "") or "task")


def _task_finished(sender: Any = None, task_id: str = "", **kwargs: Any) -> None:
    task_finished(task_id=task_id)


def connect() -> None:
    # A task acts as itself: what it changes is recorded as done by the task.
    task_prerun.connect(_task_started, dispatch_uid="squadron-audit-task-started")
    task_postrun.connect(_task_finished, dispatch_uid="squadron-audit-task-finished")
    changed.connect(_changed, dispatch_uid="squadron-audit-changed")
    user_logged_in.connect(_logged_in, dispatch_uid="squadron-audit-logged-in")
    user_login_failed.connect(_login_failed, dispatch_uid="squadron-audit-login-failed")
    user_locked_out.connect(_locked_out, dispatch_uid="squadron-audit-locked-out")
