"""A worker's heartbeat file, for a container healthcheck that holds no secret.

``celery inspect ping`` proves a worker alive by talking to it through the
broker, so the healthcheck process must hold the broker's password: a
process of the worker's user that a playbook can read. Instead the worker
touches a file while it consumes (``SQUADRON_WORKER_HEARTBEAT_FILE``), and
the healthcheck is a shell ``find`` on its age. The step runs in the
consumer once its connection and task consumers are up and stops with them:
a worker that lost its broker stops touching the file until it is back.

A worker loads it with ``celery -A portal worker --include portal.liveness``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import bootsteps
from django.conf import settings

from portal.celery import app

# The healthcheck allows a few missed beats (docker-compose.yml).
HEARTBEAT_SECONDS = 30.0


class HeartbeatFile(bootsteps.StartStopStep):
    """Touches the heartbeat file every ``HEARTBEAT_SECONDS`` while consuming."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = (
            Path(settings.SQUADRON_WORKER_HEARTBEAT_FILE) if settings.SQUADRON_WORKER_HEARTBEAT_FILE else None
        )
        self.timer_entry: Any = None

    def start(self, consumer: Any) -> None:
        if self.path is None:
            return
        self.touch()
        self.timer_entry = consumer.timer.call_repeatedly(HEARTBEAT_SECONDS, self.touch)

    def stop(self, consumer: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop

    def touch(self) -> None:
        assert self.path is not None
        self.path.touch()


app.steps["consumer"].add(HeartbeatFile)
