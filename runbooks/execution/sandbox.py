"""The sandbox a playbook runs in, and the limits it runs under.

A squad member writes playbooks, and a playbook runs code: it must reach
neither the service's keys, database, cache or broker, nor another squad's
runs. With ``SQUADRON_RUN_ISOLATION=bubblewrap`` each run is wrapped in
bubblewrap (``bwrap``) with new user, PID, IPC, UTS and mount namespaces
(and a new network namespace when its runbook says ``network: none``). The
sandbox's file system is built from nothing: the run's private data dir
(the only writable place), its squad's output folder, the Python and
Ansible it needs and the system's programs and libraries read-only, an
empty ``/tmp``, a ``/proc`` showing only the sandbox's own processes and a
minimal ``/dev``. Nothing else of the machine exists in there: no ``var/``,
no project source or settings, no home directory, no other run's dir, no
other process.

ansible-runner's own process isolation was not used: it binds the whole
root file system and hides a list of paths, so whatever is not on the list
(another squad's run dir under a custom ``SQUADRON_RUN_DIR``, a secrets
file) stays visible. Here only what is listed is there.

Every run, sandboxed or not, also gets resource limits (CPU seconds and
address space per process, processes per run), set by a few lines of Python
run with ``-I`` just before the playbook starts, so one playbook cannot take
its worker down. :func:`limit_hit` tells from a failed run's output which
limit stopped it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

BUBBLEWRAP = "bubblewrap"
NONE = "none"
ISOLATIONS = (BUBBLEWRAP, NONE)

#: The sandbox's own empty temporary folder (a tmpfs inside it).
SANDBOX_TMP = "/tmp"  # noqa: S108 - not the host's /tmp: a fresh tmpfs in the sandbox

#: System folders a playbook needs read-only: programs, libraries, and the
#: parts of /etc that name users, hosts, certificates and alternatives.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES = (
    "alternatives",
    "ansible",
    "ca-certificates",
    "ca-certificates.conf",
    "crypto-policies",
    "group",
    "gai.conf",
    "host.conf",
    "hostname",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "pki",
    "protocols",
    "resolv.conf",
    "services",
    "ssh",
    "ssl",
    "timezone",
)

#: Sets the limits, then becomes the playbook's command. Run with
#: ``python -I``: it imports nothing of the project (not even visible in
#: the sandbox). The hard CPU limit is a little above the soft one, so the
#: kernel's SIGXCPU at the soft limit stops the process with a signal that
#: names the cause.
LIMITS_SCRIPT = (
    "import os, resource, sys\n"
    "cpu, memory, processes = (int(value) for value in sys.argv[1:4])\n"
    "if cpu: resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))\n"
    "if memory: resource.setrlimit(resource.RLIMIT_AS, (memory, memory))\n"
    "if processes: resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))\n"
    "os.execvp(sys.argv[5], sys.argv[5:])\n"
)


@dataclass(frozen=True)
class Limits:
    """What one run may use; 0 means no limit."""

    cpu_seconds: int
    memory_bytes: int
    processes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            cpu_seconds=settings.SQUADRON_RUN_CPU_SECONDS,
            memory_bytes=settings.SQUADRON_RUN_MEMORY_MB * 1024 * 1024,
            processes=settings.SQUADRON_RUN_PROCESSES,
        )


class SandboxUnavailable(Exception):
    """The run asks for what this worker's isolation cannot give."""


def bwrap_executable() -> str | None:
    return shutil.which("bwrap")


def isolation() -> str:
    """The isolation this process gives its runs (``SQUADRON_RUN_ISOLATION``)."""
    return settings.SQUADRON_RUN_ISOLATION


def require_isolation() -> None:
    """Refuse to start a worker that would run playbooks with less isolation
    than its settings promise: bubblewrap asked for (production's default)
    and no ``bwrap`` on this machine. Only an explicit ``none`` runs
    playbooks unsandboxed."""
    if isolation() == BUBBLEWRAP and not bwrap_executable():
        raise ImproperlyConfigured(
            "SQUADRON_RUN_ISOLATION is bubblewrap but bwrap is not installed: install bubblewrap "
            "(Debian: apt-get install bubblewrap), or set SQUADRON_RUN_ISOLATION=none to run "
            "playbooks without a sandbox (development only)."
        )


def limited(command: Sequence[str], limits: Limits) -> list[str]:
    """``command`` run under ``limits`` (see ``LIMITS_SCRIPT``)."""
    return [
        sys.executable,
        "-I",
        "-c",
        LIMITS_SCRIPT,
        str(limits.cpu_seconds),
        str(limits.memory_bytes),
        str(limits.processes),
        "--",
        *command,
    ]


def _bind_system(arguments: list[str]) -> None:
    for path in SYSTEM_DIRS:
        if Path(path).is_symlink():
            # Merged /usr: /bin -> usr/bin and the like.
            arguments += ["--symlink", str(Path(path).readlink()), path]
        elif Path(path).is_dir():
            arguments += ["--ro-bind", path, path]
    for entry in ETC_ENTRIES:
        # "-try": an entry this system lacks is skipped.
        arguments += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]


def python_dirs() -> list[str]:
    """The folders of the Python that runs Ansible: the virtualenv and the
    interpreter it was made from (outside /usr in pyenv or a custom build)."""
    found: list[str] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for path in (prefix, os.path.realpath(prefix)):
            if path not in found and not path.startswith(SYSTEM_DIRS):
                found.append(path)
    home = str(Path(sys.executable).resolve().parent.parent)
    if home not in found and not home.startswith(SYSTEM_DIRS):
        found.append(home)
    return found


def sandboxed(
    command: Sequence[str],
    *,
    private_dir: Path,
    home: Path,
    output_dir: Path | None,
    network: bool,
) -> list[str]:
    """``command`` inside a bubblewrap sandbox (see the module's docstring).

    ``private_dir`` is bound read-write at its own path (ansible-runner's
    files name it), ``output_dir`` read-write at its own path, and ``home``
    (inside the private dir) becomes ``HOME``.
    """
    bwrap = bwrap_executable()
    if not bwrap:
        raise SandboxUnavailable("bwrap is not installed on this worker")
    return [
        bwrap,
        *_namespaces(network=network),
        *_file_system(private_dir=private_dir, output_dir=output_dir),
        "--setenv",
        "HOME",
        str(home),
        "--setenv",
        "TMPDIR",
        SANDBOX_TMP,
        "--chdir",
        str(private_dir / "project"),
        "--",
        *command,
    ]


def _namespaces(*, network: bool) -> list[str]:
    """bubblewrap's arguments that give the sandbox namespaces of its own."""
    arguments = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "squadron-run",
        # The sandbox's processes die with it, and with the worker.
        "--die-with-parent",
        "--cap-drop",
        "ALL",
    ]
    if not network:
        arguments.append("--unshare-net")
    return arguments


def _file_system(*, private_dir: Path, output_dir: Path | None) -> list[str]:
    """bubblewrap's arguments that build the sandbox's file system."""
    # The empty /tmp first: mounted after the binds, it would hide those
    # that live under /tmp (a checkout's virtualenv, the private dir).
    arguments = ["--tmpfs", SANDBOX_TMP]
    _bind_system(arguments)
    for path in python_dirs():
        arguments += ["--ro-bind", path, path]
    arguments += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--symlink",
        SANDBOX_TMP,
        "/var/tmp",  # noqa: S108 - the sandbox's, a link to its own tmpfs
        "--bind",
        str(private_dir),
        str(private_dir),
    ]
    if output_dir is not None:
        arguments += ["--bind", str(output_dir), str(output_dir)]
    # The sandbox's own root (the folders bubblewrap made for the mounts
    # above) read-only too: the private dir, the output folder and /tmp stay
    # the only writable places.
    arguments += ["--remount-ro", "/"]
    return arguments


#: What a process prints or returns when the kernel refuses it more of a
#: limited resource (checked in the failed run's failure text and output).
_MEMORY = re.compile(r"MemoryError|Cannot allocate memory|out of memory|std::bad_alloc|cannot allocate", re.I)
_PROCESSES = re.compile(
    r"Resource temporarily unavailable|BlockingIOError: \[Errno 11\]|fork: retry|Cannot fork|can't fork",
    re.I,
)
#: SIGXCPU (24) as a return code: negative from Python, 128 + 24 from a shell.
_CPU = re.compile(r"(?:\brc\b[^0-9-]{0,12}(?:-24|152)\b)|CPU time limit exceeded|SIGXCPU", re.I)


def limit_hit(texts: Sequence[str], rcs: Sequence[int | None], limits: Limits) -> str:
    """Which limit stopped a failed run, worded for its failure reason, or
    "" when its output and return codes (the failed task's, ansible-playbook's)
    show none."""
    text = "\n".join(texts)
    if limits.cpu_seconds and (any(rc in (-24, 152) for rc in rcs) or _CPU.search(text)):
        return f"the run's CPU-time limit ({limits.cpu_seconds} s per process) was reached"
    if limits.memory_bytes and _MEMORY.search(text):
        return f"the run's memory limit ({limits.memory_bytes // (1024 * 1024)} MB per process) was reached"
    if limits.processes and _PROCESSES.search(text):
        return f"the run's process limit ({limits.processes} processes) was reached"
    return ""
