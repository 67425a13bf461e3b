"""A real Celery worker process for end-to-end tests.

It runs the project's own settings against the test database and this test
process's private queues, so what a test commits is what the worker sees.
By default one worker consumes both the orders' queue and the webhooks'
queue; a test that needs production's layout (a worker per queue) names
the queues of each.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from itertools import count
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# Two workers of one test process need distinct node names.
_numbers = count(1)


def database_url() -> str:
    database = connection.settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


class Worker:
    """Start with ``Worker(...).start()``; ``stop()`` or ``kill()`` it."""

    def __init__(
        self,
        *,
        extra_env: dict[str, str] | None = None,
        log_path: Path | None = None,
        queues: Sequence[str] | None = None,
    ) -> None:
        self.extra_env = extra_env or {}
        self.queues = list(queues or (settings.CELERY_TASK_DEFAULT_QUEUE, settings.SQUADRON_WEBHOOK_QUEUE))
        self.log_path = log_path or Path(settings.VAR_DIR) / f"worker-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SQUADRON_VAR_DIR": str(settings.VAR_DIR),
            "SQUADRON_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "SQUADRON_WEBHOOK_QUEUE": settings.SQUADRON_WEBHOOK_QUEUE,
            **self.extra_env,
        }
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--queues",
                ",".join(self.queues),
                "--hostname",
                f"test-{os.getpid()}-{next(_numbers)}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Celery's warm shutdown: SIGTERM to the worker alone, which lets its
        pool processes finish and exit on their own (SIGTERM to them would
        kill them outright, losing what coverage measured in them); its
        whole process group is killed if it is not done within 20 s."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # a pool process left behind
        self.log.close()

    def kill(self) -> None:
        """Lose the worker as a machine is lost: SIGKILL to its whole process group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()
