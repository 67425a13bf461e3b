"""Where and as what a run's playbook runs: its private data dir, the
environment it gets, and the processes (the worker's, the playbook's).

A private data dir (mode 0700) under ``SQUADRON_RUN_DIR`` holds the
playbook, a one-host inventory (``localhost``, local connection, this
Python), the extra-vars file (user inputs marked unsafe, see
``runbooks.extravars``), ansible-runner's artifacts and Ansible's temporary
files. Files holding secrets (extra vars, inventory variables, the
``command`` artifact ansible-runner writes with the environment) are 0600
inside it. Its name (``run-<installation tag>-<run id>-...``) is what
:func:`private_dirs_cleanup` parses to remove the dirs that runs which ended
without their worker left behind.

The playbook inherits only a short list of the worker's own environment
variables (``INHERITED_ENV``): the rest holds Squadron's secrets.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from runbooks.choices import TERMINAL_RUN_STATUSES, RunStatus
from runbooks.execution.credentials import CredentialMaterial
from runbooks.extravars import render_extravars, render_unsafe_vars
from runbooks.models import Run
from runbooks.services import run_mark_lost_with_worker

# The logger keeps the name it had when the executor was one module: the
# name appears in every log line, and operators' filters may select it.
logger = logging.getLogger("runbooks.executor")

#: How long ansible-runner waits for output before it calls the cancel
#: callback again; it bounds how late a cancel or a timeout is noticed.
PEXPECT_TIMEOUT_SECONDS = 0.2

#: Variables of the worker's own environment a playbook inherits. The worker's
#: environment holds Squadron's secrets (SECRET_KEY, SQUADRON_CREDENTIAL_KEY,
#: DATABASE_URL...): a playbook that could read them could decrypt every
#: squad's credentials, so only these pass.
INHERITED_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
#: Prefixes of inherited variables that also pass: locale, and the operator's
#: Ansible configuration.
INHERITED_ENV_PREFIXES = ("LC_", "ANSIBLE_")

#: Unix socket paths are limited to 108 bytes; OpenSSH's ControlPath inside
#: a control dir needs about 60 of them (%C hash and a temporary suffix).
MAX_CONTROL_DIR_LENGTH = 44


# --- The private data dir ----------------------------------------------------


def _write(path: Path, content: str, mode: int = 0o600) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)


def make_private_dir(run_id: int) -> Path:
    """A new directory only this user can enter, under ``SQUADRON_RUN_DIR``
    (the system's temporary directory when unset)."""
    base = settings.SQUADRON_RUN_DIR
    if base:
        Path(base).mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{installation_tag()}-{run_id}-", dir=base))  # mode 0700


def installation_tag() -> str:
    """A short tag of the database this process records runs in, in the
    names of private dirs: two installations (or two test processes) that
    share a temporary directory never take each other's dirs for their own."""
    database = settings.DATABASES["default"]
    where = f"{database.get('HOST') or ''}:{database.get('PORT') or ''}/{database['NAME']}"
    return hashlib.sha256(where.encode()).hexdigest()[:8]


def _inventory(private_dir: Path) -> str:
    # Ansible's temporary files for localhost stay in the private dir (and
    # go with it). Only for localhost: ANSIBLE_REMOTE_TEMP would impose this
    # worker's path on every remote host, where it may not be creatable.
    remote_tmp = private_dir / "tmp" / "remote"
    return (
        f"localhost ansible_connection=local"
        f" ansible_python_interpreter={shlex.quote(sys.executable)}"
        f" ansible_remote_tmp={shlex.quote(str(remote_tmp))}\n"
    )


def prepare_files(
    private_dir: Path,
    run: Run,
    inputs: Mapping[str, Any],
    material: CredentialMaterial,
    data_vars: Mapping[str, Any] | None = None,
) -> None:
    _write(private_dir / "project" / "playbook.yml", run.runbook_version.content)
    _write(private_dir / "inventory" / "hosts", _inventory(private_dir))
    if material.host_vars:
        _write(private_dir / "inventory" / "group_vars" / "all.json", render_unsafe_vars(material.host_vars))
    trusted = {"squadron_run_id": run.pk, "squadron_check_mode": run.check_mode}
    _write(
        private_dir / "env" / "extravars", render_extravars(inputs=inputs, trusted=trusted, data=data_vars)
    )
    # ansible-runner takes these from env/settings only: it overwrites the
    # keyword arguments of the same names when it reads that file.
    _write(
        private_dir / "env" / "settings",
        '{"suppress_output_file": true, "suppress_ansible_output": true,'
        f' "pexpect_timeout": {PEXPECT_TIMEOUT_SECONDS}, "pexpect_use_poll": true}}\n',
    )
    (private_dir / "tmp").mkdir(mode=0o700)
    (private_dir / "home").mkdir(mode=0o700)


# --- Cleanup of what lost runs left ------------------------------------------


PRIVATE_DIR_NAME = re.compile(r"^run-([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+$")


def private_dirs_cleanup() -> list[Path]:
    """Remove the private data dirs that runs which ended without their
    worker left behind (a worker killed outright never reaches its
    ``finally``): they may hold secret inputs. A dir is removed only once
    its run is over, so the live runs of other workers sharing the
    directory keep theirs. Returns what was removed."""
    base = Path(settings.SQUADRON_RUN_DIR or tempfile.gettempdir())
    if not base.is_dir():
        return []
    tag = installation_tag()
    found: dict[int, list[Path]] = {}
    for entry in base.iterdir():
        match = PRIVATE_DIR_NAME.match(entry.name)
        if not match or match.group(1) != tag or entry.is_symlink() or not entry.is_dir():
            continue
        if entry.stat().st_uid == os.getuid():
            found.setdefault(int(match.group(2)), []).append(entry)
    if not found:
        return []
    # A run still "running" whose worker was a process of this machine that
    # is gone died with it (its dir is here, on this disk): lost now, not in
    # a minute, and not only where the sweep runs (a squad's own workers
    # may never run it).
    running = Run.objects.filter(pk__in=found, status=RunStatus.RUNNING)
    for run_id, worker in running.values_list("pk", "worker"):
        if worker_gone(worker):
            run_mark_lost_with_worker(run_id=run_id, worker=worker)
    # Only runs known to be over: a dir of a run this database does not know
    # is left alone.
    over = set(
        Run.objects.filter(pk__in=found, status__in=list(TERMINAL_RUN_STATUSES)).values_list("pk", flat=True)
    )
    removed = []
    for run_id, paths in found.items():
        if run_id not in over:
            continue
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
                logger.warning("removed the private data dir %s that run %s left behind", path, run_id)
    return removed


# --- The environment a playbook gets -----------------------------------------


def output_dir_for(squad_slug: str) -> Path:
    """Where a squad's playbooks write their visible results: a folder of
    its own, so one squad's playbook neither reads nor overwrites another's."""
    output_dir = Path(settings.SQUADRON_OUTPUT_DIR) / squad_slug
    output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return output_dir


def run_env(private_dir: Path, credential_env: Mapping[str, str], output_dir: Path) -> dict[str, str]:
    env = dict(credential_env)
    # The executor's own variables come last: a credential cannot redirect
    # them (and with them the event stream or the temporary files).
    env.update(
        {
            # ansible-playbook sits next to this Python in its virtualenv,
            # which the worker's PATH need not contain.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH") or os.defpath]),
            "SQUADRON_OUTPUT_DIR": str(output_dir),
            "ANSIBLE_LOCAL_TEMP": str(private_dir / "tmp" / "local"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            # ansible-runner reads through a pseudo-terminal, so Ansible would
            # colour its output; stored output is plain text (the portal may
            # colour it itself).
            "ANSIBLE_NOCOLOR": "true",
            "ANSIBLE_FORCE_COLOR": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        }
    )
    control_dir = private_dir / "cp"
    if len(str(control_dir)) <= MAX_CONTROL_DIR_LENGTH:
        # Per-run SSH multiplexing: a run must not ride on a connection
        # another run (another squad's credential) opened to the same host.
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
        env["ANSIBLE_PERSISTENT_CONTROL_PATH_DIR"] = str(private_dir / "pc")
    return env


def inherited_env_only(env: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """ansible-runner's environment without what the worker's environment
    holds that the playbook must not see (see ``INHERITED_ENV``)."""
    kept = {}
    for name, value in env.items():
        inherited = os.environ.get(name) == value and name not in own
        if inherited and name not in INHERITED_ENV and not name.startswith(INHERITED_ENV_PREFIXES):
            continue
        kept[name] = value
    return kept


# --- Processes: the worker's, the playbook's ---------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_gone(worker: str) -> bool:
    """Whether ``worker`` (a run's ``host:pid``) was a process of this
    machine that no longer runs. False when it cannot tell (another host)."""
    name, _, pid = worker.rpartition(":")
    return name == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (a zombie, killed
    but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


def playbook_process_group(private_dir: str) -> int | None:
    """The process group of the playbook this process started for the run
    whose private dir is ``private_dir``: ansible-runner's child (a session
    leader, so its group is its pid), found among this process's children
    by the private dir on its command line."""
    parent = os.getpid()
    marker = private_dir.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            if marker in (entry / "cmdline").read_bytes():
                return os.getpgid(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return None


def kill_process_group(process_group: int | None) -> None:
    if process_group and process_group != os.getpgid(0):
        with contextlib.suppress(OSError):
            os.killpg(process_group, signal.SIGKILL)
