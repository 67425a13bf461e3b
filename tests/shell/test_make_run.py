"""What `make run` does after installing: migrate, load the demo, serve web,
the playbooks' and the webhooks' workers and beat together, and stop all of
it on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def embedded_env(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "SQUADRON_DEFAULT_QUEUE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        SQUADRON_VAR_DIR=str(tmp_path / "var"),
        DEBUG="true",
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_demo_loads_twice_and_prints_logins(embedded_env):
    assert manage(embedded_env, "migrate", "--noinput").returncode == 0
    first = manage(embedded_env, "load_demo")
    assert first.returncode == 0, first.stderr
    assert "Demo logins" in first.stdout and "admin" in first.stdout and "bea" in first.stdout
    assert "nora       Nora Lind: Product owner, Network Squad" in first.stdout
    renamed = manage(
        embedded_env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='nora').update(first_name='Norah')",
    )
    assert renamed.returncode == 0, renamed.stderr
    second = manage(embedded_env, "load_demo")
    assert second.returncode == 0, second.stderr
    assert "nora       Norah Lind: Product owner" in second.stdout, "a name someone changed is kept"
    # make run then gives the dashboards a past, once.
    history = manage(embedded_env, "seed_demo_history")
    assert history.returncode == 0, history.stderr
    assert "Created" in history.stdout
    again = manage(embedded_env, "seed_demo_history")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_load_demo_refuses_production(embedded_env):
    result = manage(
        {
            **embedded_env,
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "SQUADRON_CREDENTIAL_KEY": "y" * 50,
            "ALLOWED_HOSTS": "example.com",
        },
        "load_demo",
    )
    assert result.returncode != 0
    assert "refuses to run with DEBUG off" in result.stderr


def test_serve_runs_web_both_workers_and_beat_and_ctrl_c_stops_them_all(embedded_env, tmp_path):
    assert manage(embedded_env, "migrate", "--noinput").returncode == 0
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--addr", f"127.0.0.1:{port}", "--concurrency", "1"],
        cwd=ROOT,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = (response.status, response.read())
            except OSError:
                time.sleep(0.3)
        assert health is not None, (tmp_path / "serve.log").read_text()
        assert health[0] == 200 and b'"database": "ok"' in health[1]
        output = ""

        def all_up() -> bool:
            return output.count("ready.") >= 2 and "beat: Starting" in output

        while time.monotonic() < deadline and not all_up():
            time.sleep(0.3)
            output = (tmp_path / "serve.log").read_text(errors="replace")
        # The playbooks' worker and the webhook deliveries' own worker.
        assert output.count("ready.") >= 2 and "webhooks@" in output, output
        assert "beat: Starting" in output, output
        # Said once by serve, not again by each of the four processes it starts.
        assert output.count("DEVELOPMENT secrets") == 1, output
        descendants = children_of(server.pid)
        assert len(descendants) >= 3
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        time.sleep(0.5)
        assert not [pid for pid in descendants if alive(pid)], "children survived Ctrl-C"
        assert "Stopped." in (tmp_path / "serve.log").read_text()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
