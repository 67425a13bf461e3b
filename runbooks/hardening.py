"""Keep playbooks out of the service's own processes.

A playbook runs as the worker's own OS user (unless the bubblewrap sandbox
gives it a user namespace of its own), and any process of a user may read
another's ``/proc/<pid>/environ``, ``cmdline`` and memory: the service's
processes hold ``SECRET_KEY``, ``SQUADRON_CREDENTIAL_KEY`` and the database,
broker and cache URLs. A process that is not *dumpable* is, to other
processes of its user, as one of root's: its ``/proc`` entries and
``ptrace`` are refused.

The flag survives ``fork`` (gunicorn's and Celery's pool processes inherit
it) but ``execve`` resets it: every long-lived program must set it in its
own process. That is why each one calls :func:`deny_inspection_by_playbooks`
itself: gunicorn through ``portal/gunicorn.conf.py``, the Celery worker,
its pool and beat through signals in ``portal/celery.py``, any process that
reads a secret from a ``*_FILE`` before it reads it (``portal.env``), and
``manage.py serve``'s children through ``python -m runbooks.hardening``.
Children a worker starts (ansible-runner, the playbook) get the flag back
at ``execve``, so they stay ordinary processes.

This guards the service's own secrets from every playbook. It does not
isolate squads from each other on a shared worker without the sandbox
(their runs are one user's files); see ``runbooks.execution.sandbox``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _prctl(option: int, argument: int = 0) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    result = libc.prctl(option, argument, 0, 0, 0)
    if result < 0:
        raise OSError(ctypes.get_errno(), "prctl failed")
    return result


def deny_inspection_by_playbooks() -> bool:
    """Make this process non-dumpable (Linux); False where it cannot be."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _prctl(PR_GET_DUMPABLE) == 0:
            return True
        _prctl(PR_SET_DUMPABLE, 0)
    except OSError:
        logger.warning(
            "could not make process %s non-dumpable: playbooks may read its environment",
            os.getpid(),
            exc_info=True,
        )
        return False
    logger.debug("process %s is not dumpable: playbooks cannot read its environment or memory", os.getpid())
    return True


def main(argv: list[str]) -> None:
    """``python -m runbooks.hardening manage|celery ARGUMENTS...``: run
    ``manage.py`` or ``celery`` in a process sealed before it loads anything,
    for the children of ``manage.py serve`` (``runserver`` has no hook of its
    own, and the environment they inherit may hold the secrets)."""
    deny_inspection_by_playbooks()
    program, arguments = (argv[0], argv[1:]) if argv else ("", [])
    if program == "manage":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", *arguments])
    elif program == "celery":
        from celery.__main__ import main as celery_main

        sys.argv = ["celery", *arguments]
        celery_main()
    else:
        raise SystemExit(f"usage: python -m runbooks.hardening manage|celery ARGUMENTS... (not {program!r})")


if __name__ == "__main__":
    main(sys.argv[1:])
