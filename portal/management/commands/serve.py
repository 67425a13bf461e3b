"""Run the whole of Squadron in one terminal: web, the Celery workers and beat.

``make run`` calls this. The playbooks' worker and the webhook deliveries'
worker consume separate queues. Ctrl-C (or SIGTERM) stops every child
cleanly: the workers get a warm shutdown, and anything still alive after the
grace period is killed with its whole process group, so no orphan keeps a
port or a lock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from runbooks.hardening import deny_inspection_by_playbooks
from runbooks.models import Runbook

GRACE_SECONDS = 10


def child_environment(addr: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the children: this one, where links in emails
    lead to the address served on (unless SQUADRON_BASE_URL says where
    people reach it), and the development-secrets warning, said once here,
    is not said again by each child."""
    environment = dict(environ)
    if not environment.get("SQUADRON_BASE_URL"):
        host, _, port = addr.rpartition(":")
        if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - the address served on, not bound here
            host = socket.getfqdn()
        environment["SQUADRON_BASE_URL"] = f"http://{host}:{port}" if port else f"http://{addr}"
    environment["SQUADRON_DEV_WARNED"] = "1"
    return environment


class Command(BaseCommand):
    help = "Serve the portal with a Celery worker and beat beside it (development)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(self, *args: object, **options: object) -> None:
        # This process is the worker's parent and holds the same environment:
        # playbooks must not read it through /proc either.
        deny_inspection_by_playbooks()
        commands = self._commands(str(options["addr"]), int(str(options["concurrency"])))
        children: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        environment = child_environment(str(options["addr"]), os.environ)
        for name, command in commands.items():
            # Each child leads its own session: a terminal's Ctrl-C reaches
            # only this supervisor, which then stops the children in order.
            children[name] = subprocess.Popen(  # noqa: S603
                command, cwd=settings.BASE_DIR, start_new_session=True, env=environment
            )
        self.stdout.write(
            self.style.SUCCESS(f"Squadron is up on http://{options['addr']}/  (Ctrl-C stops it)")
        )
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping the rest")
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.3)
        self._stop_all(children)
        if exit_code:
            sys.exit(exit_code)

    def _commands(self, addr: str, concurrency: int) -> dict[str, list[str]]:
        """The command line of each child: the web server, the orders'
        worker, the webhooks' worker and beat."""
        # Each child seals itself too, first thing in its own process:
        # execve makes a process dumpable again (runbooks.hardening).
        sealed = [sys.executable, "-m", "runbooks.hardening"]
        webhook_queue = getattr(settings, "SQUADRON_WEBHOOK_QUEUE", "webhooks")
        queues = [
            settings.CELERY_TASK_DEFAULT_QUEUE,
            *sorted(set(Runbook.objects.exclude(queue="").values_list("queue", flat=True)) - {webhook_queue}),
        ]
        schedule = settings.VAR_DIR / "celerybeat-schedule"
        node = os.uname().nodename
        worker = [*sealed, "celery", "-A", "portal", "worker", "--loglevel=INFO"]
        return {
            "web": [*sealed, "manage", "runserver", addr, "--noreload"],
            "worker": [
                *worker,
                f"--concurrency={concurrency}",
                "--queues",
                ",".join(queues),
                "--hostname",
                f"squadron@{node}",
            ],
            # Webhook deliveries have a worker of their own, as in production:
            # a receiver that never answers cannot keep orders waiting.
            "webhooks": [
                *worker,
                "--concurrency=2",
                "--queues",
                webhook_queue,
                "--hostname",
                f"webhooks@{node}",
            ],
            "beat": [
                *sealed,
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(schedule),
            ],
        }

    def _stop_all(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        self.stdout.write("Stopping web, workers and beat…")
        for child in children.values():
            if child.poll() is None:
                # To the leader only: Celery's main process stops its own pool
                # (a warm shutdown); signalling the pool too makes it report
                # its processes as killed.
                os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {GRACE_SECONDS}s; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.stdout.write("Stopped.")
