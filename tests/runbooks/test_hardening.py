"""The worker's environment is out of reach of the playbooks it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unprivileged import as_nobody, interpreter_for_nobody, link_tree, shared_directory

ROOT = Path(__file__).resolve().parents[2]

# Two children of one unprivileged user, one made non-dumpable: their parent,
# as a playbook is to the worker, tries to read each one's environment.
PROBE = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from runbooks.hardening import deny_inspection_by_playbooks

def child(seal):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.environ["PROBE_SECRET"] = "x"
        ok = deny_inspection_by_playbooks() if seal else True
        os.write(write, b"1" if ok else b"0")
        time.sleep(30)
        os._exit(0)
    assert os.read(read, 1) == b"1", "prctl failed"
    return pid

for seal in (False, True):
    pid = child(seal)
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            environ.read()
        print("readable" if not seal else "LEAK")
    except PermissionError:
        print("sealed" if seal else "UNEXPECTED")
    finally:
        os.kill(pid, 9)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
def test_a_non_dumpable_process_hides_its_environment_from_its_users_other_processes():
    # As root everything is readable anyway: run the probe as "nobody", the
    # unprivileged user a worker runs as in production. Nobody may not reach
    # the checkout (a clone under a 0700 folder) nor this interpreter: it
    # gets its own copies of both.
    with shared_directory() as directory:
        link_tree(ROOT / "runbooks" / "hardening.py", directory / "runbooks" / "hardening.py")
        python, env = interpreter_for_nobody(directory)
        result = subprocess.run(
            [*as_nobody(), str(python), "-c", PROBE, str(directory)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["readable", "sealed"]


DUMPABLE = "import ctypes; print('dumpable', ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
def test_the_wrapper_of_serves_children_seals_the_process_it_runs_in():
    # The children `manage.py serve` starts run through it: execve made them
    # dumpable again, and runserver has no hook of its own.
    result = subprocess.run(
        [sys.executable, "-m", "runbooks.hardening", "manage", "shell", "--no-imports", "-c", DUMPABLE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "dumpable 0" in result.stdout.splitlines()


def test_the_wrapper_refuses_what_it_does_not_know():
    result = subprocess.run(
        [sys.executable, "-m", "runbooks.hardening", "gunicorn"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0 and "usage:" in result.stderr
