"""gunicorn's hooks for the portal: ``gunicorn -c portal/gunicorn.conf.py ...``.

Every gunicorn process is made non-dumpable (runbooks.hardening): the
master when it starts, each worker again after its fork. A worker inherits
the flag from the master, but sealing it in its own process keeps that true
whatever the worker class does, and costs one system call.
"""

from __future__ import annotations

from typing import Any

from runbooks.hardening import deny_inspection_by_playbooks


def on_starting(server: Any) -> None:
    deny_inspection_by_playbooks()


def post_fork(server: Any, worker: Any) -> None:
    deny_inspection_by_playbooks()
