"""Keep playbooks out of the process that runs them.

A playbook runs as the worker's own OS user, and any process of a user may
read another's ``/proc/<pid>/environ`` and memory: the worker's environment
holds ``SECRET_KEY``, ``SQUADRON_CREDENTIAL_KEY`` and ``DATABASE_URL``. A
process that is not *dumpable* is, to other processes of its user, as one of
root's: its ``/proc`` entries and ``ptrace`` are refused. Its children get
the flag back at ``execve`` (ansible-runner, the playbook), so they stay
ordinary processes.

This guards the service's own secrets from every playbook. It does not
isolate squads from each other on a shared worker (their runs are one
user's files); squads that need that run their own workers, under their own
user, on their own queue (``runbooks.models.queue_problem``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4


def deny_inspection_by_playbooks() -> bool:
    """Make this process non-dumpable (Linux); False where it cannot be."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    except OSError:
        logger.warning(
            "could not make the worker non-dumpable: playbooks may read its environment", exc_info=True
        )
        return False
    logger.info("process %s is not dumpable: playbooks cannot read its environment or memory", os.getpid())
    return True
